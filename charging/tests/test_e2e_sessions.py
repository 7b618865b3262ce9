"""Charging sessions end to end: a real server process, a real OCPP 1.6 charger (the
ocpp library's ChargePoint over a WebSocket) and the driver's API.

The first test drives the API over HTTP against the server process (the start's
RemoteStartTransaction leaves from the server's own request thread); the others call the
API in this process (where OCPP_CALL_TIMEOUT can be shortened), and the command travels
through Redis to the server that holds the charger's socket — as from any process."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Client
from accounts.tests.factories import ClientFactory
from accounts.tokens import session_start as login_session
from charging.parked_models import ParkedMessage
from charging.session.models import ChargingSession
from charging.tests.session_charger import SessionCharger
from charging.transaction_models import OcppTransaction
from evpower.tests.support.waiting import wait_until as wait_for
from payments.models import LedgerTransaction, Wallet
from payments.selectors import ledger_invariant_violations
from payments.wallet import wallet_credit_topup
from stations.models import Station
from stations.pricing import Quote
from stations.tests.factories import IdTagFactory, TariffPlanFactory, TariffRuleFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PER_KWH, FEE = Decimal("12.00"), Decimal("5.00")


@pytest.fixture
def tariff():
    plan = TariffPlanFactory(name="e2e", is_default=True)
    TariffRuleFactory(plan=plan, price_per_kwh=PER_KWH, session_fee=FEE)
    return plan


def driver(phone: str, balance: str = "500.00") -> tuple[Client, str]:
    client = ClientFactory(phone=phone)
    if Decimal(balance):
        wallet_credit_topup(
            client=client, amount=balance, payment_ref=f"seed-{phone}", key=f"seed:{phone}"
        )
    return client, login_session(client=client).access


def api_for(access: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return api


def http(
    server,
    method: str,
    path: str,
    access: str,
    body: dict | None = None,
    headers: dict | None = None,
) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.port}{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={
            "Authorization": f"Bearer {access}",
            "Content-Type": "application/json",
            **(headers or {}),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=40) as response:  # noqa: S310 - local
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def session_in(pk: int, *statuses: str) -> ChargingSession | None:
    session = ChargingSession.objects.get(pk=pk)
    return session if session.status in statuses else None


def plugged(charger: SessionCharger, *connectors: int) -> None:
    for connector in connectors:
        charger.status(connector, "Available")
    identity = charger.identity
    wait_for(
        lambda: (
            Station.objects.get(identity=identity).connectors.filter(status="Available").count()
            >= len(connectors)
        ),
        what="connectors available",
    )


def expected_bill(session: ChargingSession, energy_wh: int) -> Decimal:
    return (
        Quote.from_snapshot(session.tariff)
        .cost(
            energy_wh=energy_wh,
            charging_seconds=(session.ended_at - session.charging_started_at).total_seconds(),
        )
        .total
    )


def assert_money_consistent() -> None:
    assert not ledger_invariant_violations()
    assert not Wallet.objects.filter(balance__lt=0).exists()


def test_app_start_meter_values_limit_stop_and_exact_bill(ocpp_server, booted_station, tariff):
    booted_station("CP-S1")
    client, access = driver("+996700100001")
    with SessionCharger(ocpp_server.ws_url("CP-S1"), "CP-S1") as charger:
        plugged(charger, 1)
        station = Station.objects.get(identity="CP-S1")
        code, body = http(
            ocpp_server,
            "POST",
            "/api/v1/charging/start",
            access,
            {"station": station.pk, "connector": 1, "limit": {"type": "energy", "energy_kwh": "2"}},
        )
        assert code == 201, body
        assert body["status"] in ("pending", "charging") and body["hold_amount"] == "29.00"
        tx_id = charger.wait_transaction(1)
        session = wait_for(lambda: session_in(body["id"], "charging"), what="charging")
        assert session.transaction_id == tx_id and session.meter_start_wh == 1000
        # 1.9 kWh + 30 s at 7 kW (58 Wh) < 2 kWh: go on; at 1.95 kWh the lookahead reaches it
        charger.meter(1, 2900, power_w=7000, soc=55)
        live = wait_for(lambda: session_in(body["id"], "charging"))
        assert (live.energy_wh, live.power_w, live.soc_percent) == (1900, 7000, 55)
        assert live.cost == Decimal("27.80")
        code, progress = http(ocpp_server, "GET", f"/api/v1/charging/{body['id']}", access)
        assert code == 200 and progress["percent_of_limit"] == 95
        assert progress["station_online"] is True
        charger.meter(1, 2950, power_w=7000)
        charger.wait_stopped(tx_id)
    session = wait_for(lambda: session_in(body["id"], "completed"), what="billed")
    assert charger.cp.received.count(("RemoteStopTransaction", {"transactionId": tx_id})) == 1
    assert session.stop_reason == "energy_limit" and session.energy_wh == 1950
    assert session.final_cost == expected_bill(session, 1950) == Decimal("28.40")
    wallet = Wallet.objects.get(client=client)
    assert (wallet.balance, wallet.held) == (Decimal("471.60"), Decimal("0.00"))
    receipt = session.receipt
    assert receipt["total"] == "28.40" and receipt["paid_from_hold"] == "28.40"
    assert {line["kind"]: line["amount"] for line in receipt["lines"]} == {
        "energy": "23.40",
        "session_fee": "5.00",
    }
    assert_money_consistent()


def test_driver_stop_and_a_second_stop_bill_once(ocpp_server, booted_station, tariff):
    booted_station("CP-S2")
    client, access = driver("+996700100002")
    api = api_for(access)
    with SessionCharger(ocpp_server.ws_url("CP-S2"), "CP-S2") as charger:
        plugged(charger, 1)
        started = api.post(
            "/api/v1/charging/start",
            {
                "station": Station.objects.get(identity="CP-S2").pk,
                "connector": 1,
                "limit": {"type": "amount", "amount": "100.00"},
            },
            format="json",
        )
        assert started.status_code == 201, started.content
        sid = started.json()["id"]
        tx_id = charger.wait_transaction(1)
        wait_for(lambda: session_in(sid, "charging"))
        charger.meter(1, 3000, power_w=11000)
        stopped = api.post(f"/api/v1/charging/{sid}/stop", headers={"Idempotency-Key": "s-1"})
        assert stopped.status_code == 200, stopped.content
        charger.wait_stopped(tx_id)
        session = wait_for(lambda: session_in(sid, "completed"))
        again = api.post(f"/api/v1/charging/{sid}/stop")
        replay = api.post(f"/api/v1/charging/{sid}/stop", headers={"Idempotency-Key": "s-1"})
    assert again.status_code == 200 and again.json()["status"] == "completed"
    assert replay.status_code == 200 and replay["Idempotent-Replayed"] == "true"
    assert session.stop_reason == "driver" and session.final_cost == Decimal("29.00")
    assert (
        LedgerTransaction.objects.filter(
            ref_type="session", ref_id=str(sid), kind="capture"
        ).count()
        == 1
    )
    assert Wallet.objects.get(client=client).balance == Decimal("471.00")
    assert_money_consistent()


@pytest.mark.parametrize(
    ("behaviour", "status", "code", "reason"),
    [
        ({"remote_start": "Rejected"}, 409, "START_REJECTED", "start_rejected"),
        ({"remote_start_delay": 4.0}, 504, "STATION_TIMEOUT", "start_timeout"),
    ],
)
def test_refused_or_unanswered_start_fails_and_releases(
    ocpp_server, booted_station, tariff, settings, behaviour, status, code, reason
):
    settings.OCPP_CALL_TIMEOUT = 1.5
    identity = f"CP-F{status}"
    booted_station(identity)
    client, access = driver(f"+99670010{status}")
    with SessionCharger(ocpp_server.ws_url(identity), identity, **behaviour) as charger:
        plugged(charger, 1)
        response = api_for(access).post(
            "/api/v1/charging/start",
            {
                "station": Station.objects.get(identity=identity).pk,
                "connector": 1,
                "limit": {"type": "none"},
            },
            format="json",
        )
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code
    session = ChargingSession.objects.get(pk=error["details"]["session"])
    assert (session.status, session.stop_reason, session.settled) == ("failed", reason, True)
    wallet = Wallet.objects.get(client=client)
    assert (wallet.balance, wallet.held) == (Decimal("500.00"), Decimal("0.00"))
    assert_money_consistent()


def test_offline_station_is_refused_at_once(ocpp_server, booted_station, tariff, monkeypatch):
    """At once: refused before any command is tried (no zombie session waiting on one)."""

    def never(**kwargs):
        raise AssertionError("a command was tried for an offline station")

    monkeypatch.setattr("charging.session.charger.send_command", never)
    station = booted_station("CP-OFFLINE")
    station.connectors.update(status="Available")
    _, access = driver("+996700100005")
    response = api_for(access).post(
        "/api/v1/charging/start",
        {"station": station.pk, "connector": 1, "limit": {"type": "none"}},
        format="json",
    )
    assert response.status_code == 409 and response.json()["error"]["code"] == "STATION_OFFLINE"
    assert not ChargingSession.objects.exists()


def test_start_transaction_before_the_answer_still_links(ocpp_server, booted_station, tariff):
    booted_station("CP-EARLY")
    _, access = driver("+996700100006")
    with SessionCharger(
        ocpp_server.ws_url("CP-EARLY"), "CP-EARLY", start_before_answer=True
    ) as charger:
        plugged(charger, 1)
        response = api_for(access).post(
            "/api/v1/charging/start",
            {
                "station": Station.objects.get(identity="CP-EARLY").pk,
                "connector": 1,
                "limit": {"type": "none"},
            },
            format="json",
        )
        assert response.status_code == 201, response.content
        tx_id = charger.wait_transaction(1)
        assert response.json()["status"] == "charging"
        assert ChargingSession.objects.get(pk=response.json()["id"]).transaction_id == tx_id
        charger.meter(1, 1500)
        charger.stop_locally(1)
    session = wait_for(lambda: session_in(response.json()["id"], "completed"))
    assert session.stop_reason == "charger" and session.final_cost == Decimal("11.00")
    assert_money_consistent()


def test_rfid_starts_bill_the_tag_owner_and_park_ownerless_tags(
    ocpp_server, booted_station, tariff
):
    booted_station("CP-RFID")
    owner, _ = driver("+996700100007", balance="50.00")
    IdTagFactory(id_tag="CARD-OWNED", client=owner)
    IdTagFactory(id_tag="CARD-LOOSE")
    with SessionCharger(ocpp_server.ws_url("CP-RFID"), "CP-RFID") as charger:
        plugged(charger, 1, 2)
        charger.start_locally(1, "CARD-OWNED")
        charger.start_locally(2, "CARD-LOOSE")
        charger.meter(1, 6000)  # 5 kWh: 65.00 som with the fee, more than the balance
        charger.meter(2, 3000)
        charger.stop_locally(1)
        charger.stop_locally(2)
    session = wait_for(
        lambda: ChargingSession.objects.filter(origin="id_tag", status="completed").first(),
        what="RFID session billed",
    )
    assert session.client == owner and session.final_cost == Decimal("65.00")
    wallet = Wallet.objects.get(client=owner)
    assert (wallet.balance, wallet.debt) == (Decimal("0.00"), Decimal("15.00"))
    loose = OcppTransaction.objects.get(id_tag="CARD-LOOSE")
    wait_for(lambda: loose.__class__.objects.get(pk=loose.pk).status == "stopped")
    parked = ParkedMessage.objects.get(transaction_id=loose.pk)
    assert parked.reason == "unbilled_transaction" and "2000 Wh" in parked.detail
    assert not ChargingSession.objects.filter(id_tag="CARD-LOOSE").exists()
    assert_money_consistent()


def test_two_connectors_charge_and_bill_independently(ocpp_server, booted_station, tariff):
    booted_station("CP-TWO")
    (a, access_a), (b, access_b) = driver("+996700100008"), driver("+996700100009")
    station = Station.objects.get(identity="CP-TWO")
    with SessionCharger(ocpp_server.ws_url("CP-TWO"), "CP-TWO") as charger:
        plugged(charger, 1, 2)
        ids = {}
        for connector, access in ((1, access_a), (2, access_b)):
            response = api_for(access).post(
                "/api/v1/charging/start",
                {"station": station.pk, "connector": connector, "limit": {"type": "none"}},
                format="json",
            )
            assert response.status_code == 201, response.content
            ids[connector] = response.json()["id"]
            charger.wait_transaction(connector)
        charger.meter(1, 2000)
        charger.meter(2, 5000)
        charger.stop_locally(2)
        charger.stop_locally(1)
    first = wait_for(lambda: session_in(ids[1], "completed"))
    second = wait_for(lambda: session_in(ids[2], "completed"))
    assert (first.final_cost, second.final_cost) == (Decimal("17.00"), Decimal("53.00"))
    assert Wallet.objects.get(client=a).balance == Decimal("483.00")
    assert Wallet.objects.get(client=b).balance == Decimal("447.00")
    assert_money_consistent()


def test_offline_queued_start_meter_and_stop_replayed_after_reconnect(
    ocpp_server, booted_station, tariff
):
    """The charger accepts the remote start, loses its connection, charges offline and
    replays StartTransaction, MeterValues and StopTransaction (with their original times)
    when it is back. The session links, bills once; a replayed stop bills nothing more."""
    from ocpp.v16 import call

    booted_station("CP-REPLAY")
    client, access = driver("+996700100010")
    station = Station.objects.get(identity="CP-REPLAY")
    with SessionCharger(ocpp_server.ws_url("CP-REPLAY"), "CP-REPLAY", auto_start=False) as c:
        plugged(c, 1)
        response = api_for(access).post(
            "/api/v1/charging/start",
            {"station": station.pk, "connector": 1, "limit": {"type": "none"}},
            format="json",
        )
        assert response.status_code == 201
        id_tag = c.cp.received[-1][1]["idTag"]
    sid = response.json()["id"]
    began = timezone.now()
    with SessionCharger(ocpp_server.ws_url("CP-REPLAY"), "CP-REPLAY") as charger:
        start = charger.call(
            call.StartTransaction(
                connector_id=1, id_tag=id_tag, meter_start=1000, timestamp=began.isoformat()
            )
        )
        tx_id = start.transaction_id
        charger.call(
            call.MeterValues(
                connector_id=1,
                transaction_id=tx_id,
                meter_value=[
                    {"timestamp": began.isoformat(), "sampled_value": [{"value": "4000"}]}
                ],
            )
        )
        stop = call.StopTransaction(
            meter_stop=4000,
            timestamp=timezone.now().isoformat(),
            transaction_id=tx_id,
            reason="EVDisconnected",
        )
        charger.call(stop)
        charger.call(stop)  # the queue replayed once more after a lost answer
    session = wait_for(lambda: session_in(sid, "completed"))
    assert session.transaction_id == tx_id and session.final_cost == Decimal("41.00")
    assert (
        LedgerTransaction.objects.filter(
            ref_type="session", ref_id=str(sid), kind="capture"
        ).count()
        == 1
    )
    assert Wallet.objects.get(client=client).balance == Decimal("459.00")
    assert_money_consistent()


def test_live_progress_is_pushed_on_the_app_socket(ocpp_server, booted_station, tariff):
    import asyncio

    import websockets

    booted_station("CP-LIVE")
    _, access = driver("+996700100011")

    async def listen(messages: list, ready):
        async with websockets.connect(
            f"ws://127.0.0.1:{ocpp_server.port}/ws/app/",
            additional_headers={"Authorization": f"Bearer {access}"},
            open_timeout=10,
        ) as ws:
            ready.set()
            while True:
                message = json.loads(await ws.recv())
                messages.append(message)
                if message.get("type") == "session" and message.get("status") == "completed":
                    return

    import threading

    messages: list = []
    ready = threading.Event()
    listener = threading.Thread(
        target=lambda: asyncio.run(asyncio.wait_for(listen(messages, ready), 30)), daemon=True
    )
    listener.start()
    assert ready.wait(10)
    with SessionCharger(ocpp_server.ws_url("CP-LIVE"), "CP-LIVE") as charger:
        plugged(charger, 1)
        response = api_for(access).post(
            "/api/v1/charging/start",
            {
                "station": Station.objects.get(identity="CP-LIVE").pk,
                "connector": 1,
                "limit": {"type": "none"},
            },
            format="json",
        )
        assert response.status_code == 201
        charger.wait_transaction(1)
        charger.meter(1, 2500, power_w=22000, soc=40)
        charger.stop_locally(1)
    listener.join(30)
    sessions = [m for m in messages if m.get("type") == "session"]
    assert any(
        m["energy_wh"] == 1500
        and m["power_w"] == 22000
        and m["soc_percent"] == 40
        and m["status"] == "charging"
        for m in sessions
    ), sessions
    assert sessions[-1]["status"] == "completed" and sessions[-1]["final_cost"] == "23.00"


def _started(ocpp_server, identity: str, access: str, charger: SessionCharger) -> tuple[int, int]:
    plugged(charger, 1)
    response = api_for(access).post(
        "/api/v1/charging/start",
        {
            "station": Station.objects.get(identity=identity).pk,
            "connector": 1,
            "limit": {"type": "none"},
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    sid = response.json()["id"]
    tx_id = charger.wait_transaction(1)
    wait_for(lambda: session_in(sid, "charging"))
    return sid, tx_id


def test_operator_stop_and_the_12_hour_cap_stop_through_the_charger(
    ocpp_server, booted_station, tariff
):
    from charging.session.stop import session_stop
    from charging.session.sweeps import sessions_stop_overlong

    booted_station("CP-OPS")
    booted_station("CP-CAP")
    _, access_ops = driver("+996700100014")
    _, access_cap = driver("+996700100015")
    with (
        SessionCharger(ocpp_server.ws_url("CP-OPS"), "CP-OPS") as ops,
        SessionCharger(ocpp_server.ws_url("CP-CAP"), "CP-CAP") as cap,
    ):
        by_operator, ops_tx = _started(ocpp_server, "CP-OPS", access_ops, ops)
        overlong, cap_tx = _started(ocpp_server, "CP-CAP", access_cap, cap)
        ops.meter(1, 2000)
        cap.meter(1, 4000)
        session_stop(session_id=by_operator, requested_by="staff:ops", reason="operator")
        ChargingSession.objects.filter(pk=overlong).update(
            charging_started_at=timezone.now() - timedelta(hours=13)
        )
        assert sessions_stop_overlong() == 1
        ops.wait_stopped(ops_tx)
        cap.wait_stopped(cap_tx)
    first = wait_for(lambda: session_in(by_operator, "completed"))
    second = wait_for(lambda: session_in(overlong, "completed"))
    assert (first.stop_reason, first.final_cost) == ("operator", Decimal("17.00"))
    assert (second.stop_reason, second.final_cost) == ("max_duration", Decimal("41.00"))
    assert_money_consistent()


def test_a_start_never_plugged_in_is_cancelled_and_released(ocpp_server, booted_station, tariff):
    from charging.session.sweeps import sessions_cancel_unplugged

    booted_station("CP-NOPLUG")
    client, access = driver("+996700100016")
    with SessionCharger(ocpp_server.ws_url("CP-NOPLUG"), "CP-NOPLUG", auto_start=False) as c:
        plugged(c, 1)
        response = api_for(access).post(
            "/api/v1/charging/start",
            {
                "station": Station.objects.get(identity="CP-NOPLUG").pk,
                "connector": 1,
                "limit": {"type": "none"},
            },
            format="json",
        )
        assert response.status_code == 201 and response.json()["status"] == "pending"
    sid = response.json()["id"]
    ChargingSession.objects.filter(pk=sid).update(created_at=timezone.now() - timedelta(minutes=11))
    assert sessions_cancel_unplugged() == 1 and sessions_cancel_unplugged() == 0
    session = ChargingSession.objects.get(pk=sid)
    assert (session.status, session.stop_reason) == ("cancelled", "no_plug_in")
    assert Wallet.objects.get(client=client).held == Decimal("0.00")
    assert_money_consistent()
