"""The demo's simulated charger against a real server: a driver starts on the connector it
leaves free, and a restart mid-charge (the demo stopped with Ctrl-C, or killed) leaves no
session charging and no message parked — the simulator ends the interrupted transactions
(PowerLoss) from its state file, and they are billed once."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
from rest_framework.test import APIClient

from accounts.tokens import session_start as login_session
from charging.parked_models import ParkedMessage
from charging.session.models import ChargingSession
from charging.tests.support import funded_client
from evpower.tests.support.processes import CHARGER_PASSWORD, ROOT
from evpower.tests.support.waiting import wait_until
from payments.selectors import ledger_invariant_violations
from stations.models import Connector, Station
from stations.tests.factories import IdTagFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def simulator(server, identity: str, state_file) -> subprocess.Popen:
    return subprocess.Popen(  # noqa: S603 - our own manage.py
        [
            sys.executable,
            "manage.py",
            "simulate_charger",
            identity,
            "--password",
            CHARGER_PASSWORD,
            "--url",
            server.ws_url(identity),
            "--state-file",
            str(state_file),
            "--meter-interval",
            "0.5",
            "--session-seconds",
            "600",
            "--heartbeat",
            "30",
        ],
        cwd=ROOT,
        env=server.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def connector_status(identity: str, number: int) -> str:
    return Connector.objects.get(station__identity=identity, number=number).status


def test_a_restart_mid_charge_bills_both_sessions_once_and_parks_nothing(
    ocpp_server, booted_station, rule, tmp_path
):
    """Slow (5-15 s): a real server and two simulator processes, one killed mid-charge."""
    # given the demo: the simulator charges the fleet card on connector 1...
    booted_station("CP-DEMO")
    fleet = funded_client("500.00")
    IdTagFactory(id_tag="DEMO-TAG-1", client=fleet)
    app_driver = funded_client("500.00")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {login_session(client=app_driver).access}")
    state_file = tmp_path / "charger.json"
    first = simulator(ocpp_server, "CP-DEMO", state_file)
    try:
        wait_until(lambda: connector_status("CP-DEMO", 1) == "Charging", 30, "own session")
        # ...and a driver starts on the connector it leaves free, at the first try
        station = Station.objects.get(identity="CP-DEMO")
        # (the API in this process; RemoteStart reaches the server's socket through Redis)
        response = api.post(
            "/api/v1/charging/start",
            {
                "station": station.pk,
                "connector": 2,
                "limit": {"type": "amount", "amount": "100.00"},
            },
            format="json",
        )
        assert response.status_code == 201, response.content
        session = wait_until(
            lambda: ChargingSession.objects.filter(
                pk=response.json()["id"], status="charging", energy_wh__gt=0
            ).first(),
            30,
            "metered charge",
        )
        # when the power goes mid-charge (nothing is sent any more) and it comes back
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        second = simulator(ocpp_server, "CP-DEMO", state_file)
        try:
            ended = wait_until(
                lambda: ChargingSession.objects.filter(pk=session.pk, status="completed").first(),
                30,
                "the interrupted session billed",
            )
            rfid = wait_until(
                lambda: ChargingSession.objects.filter(client=fleet, status="completed").first(),
                30,
                "the card's session billed",
            )
        finally:
            second.terminate()
            second.wait(20)
    finally:
        if first.poll() is None:
            first.kill()

    # then both are billed once, at the readings stored before the cut, and nothing parked
    assert ended.final_cost is not None and ended.final_cost <= ended.hold_amount
    assert ended.energy_wh >= session.energy_wh and rfid.final_cost is not None
    assert not ParkedMessage.objects.exists()
    assert not ChargingSession.objects.filter(
        status__in=ChargingSession.ACTIVE_STATUSES,
        charging_started_at__isnull=False,
        client=app_driver,
    ).exists()
    assert not ledger_invariant_violations()
