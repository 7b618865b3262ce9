""".env.example lists every environment variable the platform reads, with its default: it
is generated from the settings' source (scripts/env_example.py), and this keeps the
committed file in step with it."""

from __future__ import annotations

import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_env_example_is_the_settings_own_list():
    generated = runpy.run_path(str(ROOT / "scripts" / "env_example.py"))["render"]()
    committed = (ROOT / ".env.example").read_text()
    assert committed == generated, (
        "regenerate: .venv/bin/python scripts/env_example.py > .env.example"
    )
    for name in (
        "DATABASE_URL",
        "REDIS_URL",
        "SECRET_KEY",
        "ALERT_WEBHOOK_SECRET",
        "WS_DRAIN_SECONDS",
    ):
        assert f"\n# {name}=" in committed
    assert "# ALERT_ROUTE_LOW=\n" in committed and "# EMAIL_USE_TLS=false\n" in committed
