"""Real processes for end-to-end tests: the ASGI server on the test database, and what
starting one needs (a free port, the database's URL, the repository root)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[3]  # the repository
CHARGER_PASSWORD = "test-password-0001"  # noqa: S105 - test credential


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url() -> str:
    db = settings.DATABASES["default"]
    if "postgresql" not in db["ENGINE"]:
        pytest.skip("end-to-end tests need PostgreSQL (run scripts/test.sh)")
    user, host, port = db.get("USER") or "postgres", db.get("HOST") or "127.0.0.1", db.get("PORT")
    return f"postgres://{user}@{host}:{port or 5432}/{db['NAME']}"


class ServerProcess:
    """An ASGI server (uvicorn, or daphne) serving evpower.asgi on the test database."""

    def __init__(
        self,
        extra_env: dict[str, str] | None = None,
        server: str = "uvicorn",
        extra_args: tuple[str, ...] = (),
    ):
        """`extra_env` values may name the server's own port as `{port}`; `extra_args` go
        on the server's command line."""
        self.port = free_port()
        extra_env = {k: v.replace("{port}", str(self.port)) for k, v in (extra_env or {}).items()}
        self.log_path = ROOT / f".server-{self.port}.log"
        self.env = env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "DJANGO_SETTINGS_MODULE": "evpower.settings",
            "OCPP_HEARTBEAT_INTERVAL": "300",
            # every test charger connects from 127.0.0.1 (evpower/ws_guard.py)
            "WS_MAX_CONNECTIONS_PER_IP": "100000",
            "WS_CONNECT_RATE_PER_IP": "",
            **(extra_env or {}),
        }
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        command = {
            # the production runner (evpower/serve.py): uvicorn plus the WebSocket drain
            "uvicorn": [
                sys.executable,
                "-m",
                "evpower.serve",
                "evpower.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
                *extra_args,
            ],
            "daphne": [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(self.port),
                "evpower.asgi:application",
            ],
        }[server]
        self.proc = subprocess.Popen(  # noqa: S603 - fixed command line
            command, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited:\n{self.output()}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health/live", timeout=1)  # noqa: S310
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"server did not start:\n{self.output()}")

    def ws_url(self, identity: str, prefix: str = "ocpp") -> str:
        return f"ws://127.0.0.1:{self.port}/{prefix}/{identity}"

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._log.close()
        if not os.environ.get("KEEP_SERVER_LOGS"):
            self.log_path.unlink(missing_ok=True)
