"""Liveness and readiness probes: real dependencies, really down (closed ports, a server
that never answers)."""

import socket
from types import SimpleNamespace

import pytest
from django.db import connections
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext

from evpower.probes.checks import database_connection


def test_live_answers_ok():
    response = Client().get("/health/live")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@override_settings(ALLOWED_HOSTS=["evpower.example"], SECURE_SSL_REDIRECT=True)
def test_live_answers_a_probe_by_ip_in_production_setup():
    # given a container probe that addresses the process by IP over plain HTTP
    client = Client(HTTP_HOST="10.0.0.7")

    # when / then it is neither rejected for its Host nor redirected to HTTPS
    assert client.get("/health/live").status_code == 200
    # and other paths keep the host check
    assert client.get("/admin/").status_code == 400


def test_live_refuses_writes():
    assert Client().post("/health/live").status_code == 405


# -- readiness -----------------------------------------------------------------------------

CLOSED_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1


@pytest.fixture
def redis_configured(settings):
    if not settings.REDIS_URL:
        pytest.skip("needs Redis (run scripts/test.sh)")
    return settings.REDIS_URL


@pytest.fixture
def silent_server():
    """A TCP server that accepts connections (the kernel's backlog) and never answers:
    a dependency that hangs rather than refuses."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield server.getsockname()[1]


@pytest.mark.django_db
def test_ready_is_ok_when_database_and_redis_answer(redis_configured):
    response = Client().get("/health/ready")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "redis"}
    assert all(check["ok"] and check["latency_ms"] >= 0 for check in body["checks"].values())


@pytest.mark.django_db
@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_ready_is_503_when_the_database_is_unreachable(settings):
    # given the database setting pointing at a port where nothing listens
    default = connections["default"].settings_dict
    if "postgresql" not in default["ENGINE"]:
        pytest.skip("needs PostgreSQL")
    settings.DATABASES = {**settings.DATABASES, "default": {**default, "PORT": "1"}}

    response = Client().get("/health/ready")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"]["ok"] is False
    assert "OperationalError" in body["checks"]["database"]["error"]


@pytest.mark.django_db
def test_ready_is_503_when_redis_is_down(redis_configured, settings):
    settings.REDIS_URL = CLOSED_REDIS

    response = Client().get("/health/ready")

    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"]["ok"] is True and checks["redis"]["ok"] is False


@pytest.mark.django_db
def test_ready_answers_in_time_when_redis_hangs(settings, silent_server):
    # given Redis that accepts the connection and never answers
    settings.REDIS_URL = f"redis://127.0.0.1:{silent_server}/0"
    settings.HEALTH_CHECK_TIMEOUT = 0.5

    response = Client().get("/health/ready")  # without the bound it would hang here

    assert response.status_code == 503
    redis = response.json()["checks"]["redis"]
    # given up after HEALTH_CHECK_TIMEOUT: by the probe's own wait or Redis's socket timeout
    assert redis["ok"] is False
    assert "within 0.5 s" in redis["error"] or "imeout" in redis["error"], redis


@pytest.mark.django_db
@override_settings(ALLOWED_HOSTS=["evpower.example"], SECURE_SSL_REDIRECT=True)
def test_ready_answers_a_probe_by_ip_in_production_setup():
    assert Client(HTTP_HOST="10.0.0.7").get("/health/ready").status_code == 200


@pytest.mark.django_db
def test_ready_reuses_its_answer_within_the_cache_window(settings, monkeypatch):
    from evpower.probes import memo

    settings.HEALTH_CACHE_SECONDS = 2
    now = [1000.0]  # the memo's clock, moved by hand
    monkeypatch.setattr(memo, "time", SimpleNamespace(monotonic=lambda: now[0]))
    client = Client()

    with CaptureQueriesContext(database_connection()) as queries:
        first = client.get("/health/ready")
        now[0] += 1.9
        second = client.get("/health/ready")
        assert len(queries) == 1  # the second probe was answered from memory
        now[0] += 0.2  # the window is over
        client.get("/health/ready")

    assert first.json() == second.json()
    assert [q["sql"] for q in queries] == ["SELECT 1", "SELECT 1"]
