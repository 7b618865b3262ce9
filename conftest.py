"""Fixtures every app's tests share: stations and tariffs, staff logins, real server
processes for end-to-end tests, stand-ins for the outside world. Helpers live in each
app's tests/support.py and factories in tests/factories.py; the cross-cutting ones in
evpower/tests/support/."""

from __future__ import annotations

import signal
import subprocess
import uuid
from decimal import Decimal

import pytest
from aiosmtpd.controller import Controller

from evpower.tests.support.processes import CHARGER_PASSWORD, ServerProcess, free_port
from evpower.tests.support.stand_ins import BOT_TOKEN, OK, SEND_PATH, HttpStub, Mailbox


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
        self.port = free_port()
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
        from evpower.tests.support.waiting import wait_until

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
def rule(db):
    """The default tariff: 12 som/kWh, 0.50 som/min, 5 som a session."""
    # imported here, as in every fixture of this file: models load once Django is set up
    from stations.tests.factories import TariffPlanFactory, TariffRuleFactory

    return TariffRuleFactory(
        plan=TariffPlanFactory(name="City", is_default=True),
        price_per_kwh=Decimal("12.00"),
        price_per_minute=Decimal("0.50"),
        session_fee=Decimal("5.00"),
    )


@pytest.fixture
def station(make_station, rule):
    """A priced station with two connectors, online and Available."""
    from charging.tests.support import online

    return online(make_station("CP-1", connectors=2))


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


# -- the outside world, standing in (evpower/tests/support/stand_ins.py) -------------------


@pytest.fixture
def http_stub():
    stub = HttpStub()
    yield stub
    stub.close()


@pytest.fixture
def smtp_server(settings):
    """A real SMTP server on a free local port; Django's SMTP backend pointed at it."""
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    yield mailbox
    controller.stop()


@pytest.fixture
def telegram(http_stub, settings):
    settings.TELEGRAM = {"bot_token": BOT_TOKEN, "chat_id": "-100200300", "api_url": http_stub.url}
    http_stub.answer(SEND_PATH, OK)
    return http_stub


@pytest.fixture
def eager_celery():
    """Tasks run in-process when queued (no broker, no worker)."""
    from evpower.celery import app

    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, True
    yield app
    app.conf.task_always_eager, app.conf.task_eager_propagates = saved


@pytest.fixture(autouse=True)
def sms_outbox(settings):
    """Every test's SMS go to memory (a test of the HTTP gateway sets its own backend)."""
    from accounts.sms.backends import MemoryBackend

    settings.SMS_BACKEND = "accounts.sms.backends.MemoryBackend"
    MemoryBackend.reset()
    yield MemoryBackend
    MemoryBackend.reset()
