"""Shared fixtures: data factories and a real ASGI server process for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent
CHARGER_PASSWORD = "test-password-0001"  # noqa: S105 - test credential


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _database_url() -> str:
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
        self.port = _free_port()
        extra_env = {k: v.replace("{port}", str(self.port)) for k, v in (extra_env or {}).items()}
        self.log_path = ROOT / f".server-{self.port}.log"
        self.env = env = {
            **os.environ,
            "DATABASE_URL": _database_url(),
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


@pytest.fixture(scope="session")
def ocpp_server(django_db_setup, django_db_blocker):
    """One server process for the session; tests commit their data (transactional_db)."""
    server = ServerProcess(
        {"OCPP_RATE_PER_SECOND": "50", "OCPP_RATE_BURST": "60", "OCPP_MAX_FRAME_BYTES": "20000"}
    )
    yield server
    server.stop()


class PrivateRedis:
    """A Redis of one test's own, so it can be restarted or paused without disturbing
    others (or a suite running beside this one)."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = self._start()

    def _start(self) -> subprocess.Popen:
        proc = subprocess.Popen(  # noqa: S603
            [  # noqa: S607
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        from evpower.testing.waiting import wait_until

        ping = ["redis-cli", "-p", str(self.port), "ping"]
        wait_until(
            lambda: subprocess.run(ping, capture_output=True).returncode == 0,  # noqa: S603
            timeout=10,
            what="private Redis up",
        )
        return proc

    def serve_this_process(self, settings) -> None:
        """Point this test process's channel layer (and send_command's sender loop) at this
        Redis, as a second process of the platform would be (`settings`: the fixture)."""
        layer = settings.CHANNEL_LAYERS["default"]
        host = {**layer["CONFIG"]["hosts"][0], "address": self.url}
        settings.CHANNEL_LAYERS = {
            "default": {**layer, "CONFIG": {**layer["CONFIG"], "hosts": [host]}}
        }
        from channels.layers import channel_layers

        import ocpp_bridge.commands as commands

        channel_layers.backends.clear()
        commands._sender.reset()
        self.served = True

    def restart(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self.proc = self._start()

    def pause(self) -> None:
        """A Redis that hangs (the worst outage: connections open, no answers)."""
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        self.resume()
        self.proc.kill()
        self.proc.wait()
        if getattr(self, "served", False):  # later tests get the suite's own layer again
            from channels.layers import channel_layers

            import ocpp_bridge.commands as commands

            channel_layers.backends.clear()
            commands._sender.reset()


@pytest.fixture
def private_redis():
    redis = PrivateRedis()
    yield redis
    redis.stop()


@pytest.fixture
def make_station(db):
    from stations.services import station_create

    def make(
        identity: str = "CP-1", *, password: str = CHARGER_PASSWORD, connectors: int = 2, **kwargs
    ):
        return station_create(
            identity=identity,
            location_name="Test site",
            connectors=connectors,
            password=password,
            **kwargs,
        ).station

    return make


@pytest.fixture
def booted_station(make_station):
    """A station that has booted and been accepted before (reconnects need no new boot)."""
    from django.utils import timezone

    def make(identity: str = "CP-1", **kwargs):
        station = make_station(identity, **kwargs)
        station.last_boot_at = timezone.now()
        station.save(update_fields=["last_boot_at"])
        return station

    return make


@pytest.fixture(autouse=True)
def _fresh_api_rate_limits(settings):
    """Each test counts API rate limits (evpower.api.throttling) from zero: its own key prefix
    in the shared throttle store, so OTP-heavy tests do not trip each other's `auth` limit."""
    settings.THROTTLE_KEY_PREFIX = f"test-{uuid.uuid4().hex}"


_staff_numbers = iter(range(1, 10**9))


@pytest.fixture
def staff_in(client, db):
    """Log `client` in as a new staff member of `role` (None: a superuser), with any extra
    permissions ("app_label.codename"). The role groups are made again first: a flushed
    test database (transactional tests) may have lost the migration's groups."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group, Permission

    from accounts.roles import roles_sync

    roles_sync()

    def login(role: str | None, *extra_permissions: str):
        user = get_user_model().objects.create_user(
            f"{role or 'root'}{next(_staff_numbers)}", is_staff=True, is_superuser=role is None
        )
        if role is not None:
            user.groups.add(Group.objects.get(name=role))
        for name in extra_permissions:
            app_label, codename = name.split(".")
            user.user_permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
        client.force_login(user)
        return user

    return login
