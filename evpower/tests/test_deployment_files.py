"""The compose deployment as written: every container's logs rotate, monitoring is wired to
the platform's own endpoints, and no secret sits in the files."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_every_containers_logs_rotate():
    for name, service in compose()["services"].items():
        logging = service.get("logging") or {}
        options = logging.get("options") or {}
        assert logging.get("driver") == "json-file", name
        assert options.get("max-size") and options.get("max-file"), name


def test_monitoring_scrapes_the_web_process_and_alerts_through_the_platform():
    services = compose()["services"]
    assert services["prometheus"]["profiles"] == ["monitoring"]
    assert "web" in services["web"]["environment"]["INTERNAL_HOSTS"].split(",")
    prometheus = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    [job] = prometheus["scrape_configs"]
    assert job["static_configs"][0]["targets"] == ["web:8000"] and job["job_name"] == "evpower"
    alertmanager = yaml.safe_load((ROOT / "deploy/alertmanager/alertmanager.yml").read_text())
    [hook] = next(r for r in alertmanager["receivers"] if r["name"] == "evpower")["webhook_configs"]
    assert hook["url"] == "http://web:8000/alerts/alertmanager"
    # tokens come from files the compose file mounts, never from the config itself
    assert "credentials_file" in hook["http_config"]["authorization"]
    assert "credentials_file" in job["authorization"]
