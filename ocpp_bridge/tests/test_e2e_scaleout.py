"""Scale-out proofs: commands from other processes (a second server over HTTP, a Celery
worker) reach a charger held by server A; Redis restarting does not strand chargers."""

import http.cookiejar
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest
from django.contrib.auth import get_user_model

from evpower.tests.support.processes import ROOT, ServerProcess
from ocpp_bridge.commands import send_command
from ocpp_bridge.models import CommandRecord
from ocpp_bridge.tests.command_charger import ThreadedCharger
from stations.models import Station

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def wait_for(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


class AdminBrowser:
    """Logs into a server's Django admin over real HTTP and posts forms."""

    def __init__(self, base: str):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def _csrf(self) -> str:
        return next(c.value for c in self.jar if c.name == "csrftoken")

    def get(self, path: str) -> str:
        return self.opener.open(self.base + path, timeout=60).read().decode()

    def post(self, path: str, data: dict) -> str:
        body = urllib.parse.urlencode({**data, "csrfmiddlewaretoken": self._csrf()}).encode()
        request = urllib.request.Request(  # noqa: S310
            self.base + path,
            data=body,
            headers={"Referer": self.base + path},
        )
        return self.opener.open(request, timeout=60).read().decode()

    def login(self, username: str, password: str) -> None:
        self.get("/admin/login/")
        page = self.post("/admin/login/?next=/admin/", {"username": username, "password": password})
        assert "Log out" in page or "logout" in page


def test_admin_on_server_b_commands_a_charger_held_by_server_a(ocpp_server, booted_station):
    cp = booted_station("CP-AB")
    get_user_model().objects.create_superuser("ops", "ops@example.com", "ops-password-1")
    server_b = ServerProcess()
    try:
        with ThreadedCharger(ocpp_server.ws_url("CP-AB"), "CP-AB") as charger:
            browser = AdminBrowser(f"http://127.0.0.1:{server_b.port}")
            browser.login("ops", "ops-password-1")
            page = browser.post(
                f"/admin/stations/station/{cp.pk}/ocpp-command/",
                {"action": "Reset", "payload": '{"type": "Hard"}', "timeout": "10"},
            )
        assert re.search(r'class="command-status">accepted<', page), page[-2000:]
        assert charger.received == [("Reset", {"type": "Hard"})]
        assert CommandRecord.objects.get(station=cp).requested_by == "admin:ops"
    finally:
        server_b.stop()


def test_celery_worker_commands_a_charger(ocpp_server, booted_station):
    from ocpp_bridge.tasks import send_command_task

    cp = booted_station("CP-CELERY")
    worker = subprocess.Popen(  # noqa: S603 - fixed command line
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "evpower",
            "worker",
            "--pool",
            "solo",
            "--loglevel",
            "warning",
            "-Q",
            f"test-{cp.pk}",
        ],
        cwd=ROOT,
        env=ocpp_server.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with ThreadedCharger(ocpp_server.ws_url("CP-CELERY"), "CP-CELERY") as charger:
            send_command_task.apply_async(
                args=[cp.pk, "UnlockConnector", {"connectorId": 2}], queue=f"test-{cp.pk}"
            )
            assert wait_for(
                lambda: CommandRecord.objects.filter(
                    station=cp, status="accepted", requested_by="celery"
                ).exists(),
                60,
            )
        assert CommandRecord.objects.get(station=cp).response == {"status": "Unlocked"}
        assert charger is not None
    finally:
        worker.terminate()
        worker.wait(20)


def test_chargers_are_reachable_again_soon_after_redis_restarts(
    private_redis, booted_station, settings
):
    redis_url, restart = private_redis.url, private_redis.restart
    cp = booted_station("CP-REDIS")
    server = ServerProcess({"REDIS_URL": redis_url})
    private_redis.serve_this_process(settings)  # this test process talks to it too
    try:
        with ThreadedCharger(server.ws_url("CP-REDIS"), "CP-REDIS"):
            assert send_command(station=cp, action="Reset", payload={"type": "Soft"}).ok
            restart()
            # reachable again without restarting the server or reconnecting the charger
            assert wait_for(
                lambda: (
                    send_command(
                        station=Station.objects.get(pk=cp.pk),
                        action="Reset",
                        payload={"type": "Soft"},
                        timeout=2,
                    ).ok
                ),
                60,
            )
    finally:
        server.stop()
