"""The driver's charging API in this process, with the charger's answers faked at the
command service (the end-to-end tests use a real server and charger): validation, error
codes, ownership, idempotency keys, history, receipts and stats."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Client
from accounts.tests.factories import ClientFactory
from accounts.tokens import session_start as login_session
from charging.session.models import ChargingSession
from charging.transactions import transaction_start, transaction_stop
from payments.models import Wallet
from payments.selectors import ledger_invariant_violations
from payments.wallet import wallet_credit_topup
from stations.charger_port import CommandResult
from stations.tariff_models import TariffPlan
from stations.tests.factories import TariffPlanFactory, TariffRuleFactory

ACCEPTED = CommandResult(command_id=1, status="accepted", response={"status": "Accepted"})


@pytest.fixture
def charger(monkeypatch):
    """The charger's answers to our commands, in order; Accepted when none is queued."""
    answers: list[CommandResult] = []
    sent: list[tuple[str, dict]] = []

    def fake_send(*, station, action, payload=None, requested_by="", timeout=None):
        sent.append((action, payload))
        return answers.pop(0) if answers else ACCEPTED

    monkeypatch.setattr("charging.session.charger.send_command", fake_send)
    return type("Charger", (), {"answers": answers, "sent": sent})


@pytest.fixture
def site(make_station):
    station = make_station("CP-API")
    station.connected, station.last_seen_at = True, timezone.now()
    station.save()
    station.connectors.update(status="Available")
    plan = TariffPlanFactory(name="api", is_default=True)
    TariffRuleFactory(plan=plan, price_per_kwh=Decimal("10.00"), session_fee=Decimal("2.00"))
    return station


def driver(phone="+996700200001", balance="300.00") -> tuple[Client, APIClient]:
    client = ClientFactory(phone=phone)
    if Decimal(balance):
        wallet_credit_topup(client=client, amount=balance, payment_ref=phone, key=f"s:{phone}")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {login_session(client=client).access}")
    return client, api


def start(api, station, *, limit=None, connector=1, key=None):
    headers = {"Idempotency-Key": key} if key else {}
    return api.post(
        "/api/v1/charging/start",
        {"station": station.pk, "connector": connector, "limit": limit or {"type": "none"}},
        format="json",
        headers=headers,
    )


def charge(session_id: int, *, wh: int, minutes: int = 10) -> None:
    """The charger's side: StartTransaction with the session's tag, then StopTransaction."""
    session = ChargingSession.objects.get(pk=session_id)
    began = timezone.now() - timedelta(minutes=minutes)
    tx = transaction_start(
        station_id=session.station_id,
        connector_id=session.connector_number,
        id_tag=session.id_tag,
        meter_start=0,
        timestamp=began,
        reservation_id=None,
        now=timezone.now(),
        raw={},
    ).transaction_id
    transaction_stop(
        station_id=session.station_id,
        transaction_id=tx,
        meter_stop=wh,
        timestamp=timezone.now(),
        id_tag=None,
        reason="Local",
        readings=[],
        now=timezone.now(),
        raw={},
    )


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.content
    return response.json()["error"]


pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("limit", "field"),
    [
        ({"type": "energy"}, "energy_kwh"),
        ({"type": "amount"}, "amount"),
        ({"type": "both", "amount": "10.00"}, "energy_kwh"),
        ({"type": "none", "amount": "10.00"}, "amount"),
        ({"type": "amount", "amount": "10.001"}, "amount"),
        ({"type": "energy", "energy_kwh": "0"}, "energy_kwh"),
        ({"type": "sometimes"}, "type"),
    ],
)
def test_bad_limits_are_validation_errors(site, charger, limit, field):
    _, api = driver()
    error = error_of(start(api, site, limit=limit), 400)
    assert error["code"] == "VALIDATION_ERROR"
    assert field in error["details"]["fields"]["limit"]
    assert not ChargingSession.objects.exists() and charger.sent == []


def test_start_holds_sends_remote_start_and_answers_with_the_session(site, charger):
    client, api = driver()
    response = start(api, site, limit={"type": "energy", "energy_kwh": "5"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["hold_amount"], body["limit"]) == (
        "pending",
        "52.00",
        {"type": "energy", "energy_kwh": "5", "amount": None},
    )
    assert body["tariff"]["per_kwh"] == "10.00" and body["station"]["id"] == site.pk
    action, payload = charger.sent[0]
    assert action == "RemoteStartTransaction" and payload["connectorId"] == 1
    assert payload["idTag"] == ChargingSession.objects.get().id_tag
    wallet = Wallet.objects.get(client=client)
    assert (wallet.balance, wallet.held) == (Decimal("300.00"), Decimal("52.00"))


@pytest.mark.parametrize(
    ("setup", "status", "code"),
    [
        (
            lambda c, s: Client.objects.filter(pk=c.pk).update(status="blocked"),
            403,
            "CLIENT_BLOCKED",
        ),
        (
            lambda c, s: Client.objects.filter(pk=c.pk).update(
                status="pending_deletion", deletion_requested_at=timezone.now()
            ),
            403,
            "ACCOUNT_PENDING_DELETION",
        ),
        (
            lambda c, s: s.__class__.objects.filter(pk=s.pk).update(admin_status="maintenance"),
            409,
            "STATION_UNAVAILABLE",
        ),
        (
            lambda c, s: s.__class__.objects.filter(pk=s.pk).update(connected=False),
            409,
            "STATION_OFFLINE",
        ),
        (lambda c, s: s.connectors.update(status="Charging"), 409, "CONNECTOR_OCCUPIED"),
        (lambda c, s: s.connectors.update(status="Faulted"), 409, "CONNECTOR_UNAVAILABLE"),
        (lambda c, s: TariffPlan.objects.update(active=False), 409, "TARIFF_NOT_AVAILABLE"),
    ],
)
def test_start_refusals_have_specific_codes_and_move_nothing(site, charger, setup, status, code):
    client, api = driver()
    setup(client, site)
    assert error_of(start(api, site), status)["code"] == code
    assert not ChargingSession.objects.exists() and charger.sent == []
    wallet = Wallet.objects.get(client=client)
    assert (wallet.balance, wallet.held) == (Decimal("300.00"), Decimal("0.00"))


def test_insufficient_balance_and_unknown_station(site, charger):
    _, poor = driver("+996700200002", balance="5.00")
    error = error_of(start(poor, site), 402)
    assert error["code"] == "INSUFFICIENT_BALANCE" and error["details"]["required"] == "10.00"
    _, api = driver()
    assert (
        error_of(start(api, site, limit={"type": "amount", "amount": "301.00"}), 402)["code"]
        == "INSUFFICIENT_BALANCE"
    )
    assert (
        error_of(
            api.post(
                "/api/v1/charging/start",
                {"station": 999999, "connector": 1, "limit": {"type": "none"}},
                format="json",
            ),
            404,
        )["code"]
        == "NOT_FOUND"
    )
    assert error_of(start(api, site, connector=9), 404)["code"] == "NOT_FOUND"


def test_one_active_session_per_client(site, charger):
    _, api = driver()
    assert start(api, site).status_code == 201
    error = error_of(start(api, site, connector=2), 409)
    assert error["code"] == "SESSION_ALREADY_ACTIVE"


def test_refused_start_fails_the_session_and_releases(site, charger):
    client, api = driver()
    charger.answers.append(
        CommandResult(command_id=7, status="rejected", response={"status": "Rejected"})
    )
    error = error_of(start(api, site), 409)
    assert error["code"] == "START_REJECTED" and error["details"]["command"] == 7
    session = ChargingSession.objects.get()
    assert (session.status, session.stop_reason) == ("failed", "start_rejected")
    assert Wallet.objects.get(client=client).held == Decimal("0.00")
    assert not ledger_invariant_violations()


def test_a_broken_command_path_fails_the_start_and_releases(site, monkeypatch):
    def broken(**kwargs):
        raise ConnectionError("channel layer down")

    monkeypatch.setattr("charging.session.charger.send_command", broken)
    client, api = driver()
    error = error_of(start(api, site), 503)
    assert error["code"] == "STATION_UNREACHABLE"
    session = ChargingSession.objects.get()
    assert (session.status, session.start_command_id) == ("failed", None)
    assert session.stop_reason == "station_unreachable"
    assert Wallet.objects.get(client=client).held == Decimal("0.00")


def test_sessions_of_other_clients_are_not_found(site, charger):
    _, alice = driver("+996700200003")
    _, bob = driver("+996700200004")
    sid = start(alice, site).json()["id"]
    assert error_of(bob.get(f"/api/v1/charging/{sid}"), 404)["code"] == "NOT_FOUND"
    assert error_of(bob.post(f"/api/v1/charging/{sid}/stop"), 404)["code"] == "NOT_FOUND"
    assert ChargingSession.objects.get().status == "pending"
    assert bob.get("/api/v1/charging/active").json() == []
    assert bob.get("/api/v1/charging/history").json()["results"] == []


def test_stop_before_the_charger_started_cancels_and_releases(site, charger):
    client, api = driver()
    sid = start(api, site).json()["id"]
    response = api.post(f"/api/v1/charging/{sid}/stop")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert [a for a, _ in charger.sent] == ["RemoteStartTransaction"]  # no transaction to stop
    assert Wallet.objects.get(client=client).held == Decimal("0.00")


def test_refused_stop_is_reported_and_the_session_goes_on(site, charger):
    _, api = driver()
    sid = start(api, site).json()["id"]
    session = ChargingSession.objects.get(pk=sid)
    transaction_start(
        station_id=site.pk,
        connector_id=1,
        id_tag=session.id_tag,
        meter_start=0,
        timestamp=timezone.now(),
        reservation_id=None,
        now=timezone.now(),
        raw={},
    )
    charger.answers.append(CommandResult(command_id=8, status="offline"))
    assert error_of(api.post(f"/api/v1/charging/{sid}/stop"), 409)["code"] == "STATION_OFFLINE"
    charger.answers.append(
        CommandResult(command_id=9, status="rejected", response={"status": "Rejected"})
    )
    assert error_of(api.post(f"/api/v1/charging/{sid}/stop"), 409)["code"] == "STOP_FAILED"
    assert ChargingSession.objects.get(pk=sid).status == "charging"
    assert api.post(f"/api/v1/charging/{sid}/stop").json()["status"] == "finishing"
    assert charger.sent[-1] == (
        "RemoteStopTransaction",
        {"transactionId": session.__class__.objects.get(pk=sid).transaction_id},
    )


def test_start_idempotency_key_replays_and_conflicts(site, charger):
    _, api = driver()
    first = start(api, site, key="start-1")
    again = start(api, site, key="start-1")
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true" and again.json()["id"] == first.json()["id"]
    assert ChargingSession.objects.count() == 1 and len(charger.sent) == 1
    other = start(api, site, key="start-1", limit={"type": "amount", "amount": "20.00"})
    assert error_of(other, 422)["code"] == "IDEMPOTENCY_CONFLICT"


def test_error_answers_are_replayed_too(site, charger):
    _, api = driver("+996700200005", balance="5.00")
    first = start(api, site, key="poor-1")
    wallet_credit_topup(
        client=Client.objects.get(phone="+996700200005"),
        amount="100.00",
        payment_ref="later",
        key="later",
    )
    again = start(api, site, key="poor-1")
    assert first.status_code == again.status_code == 402
    assert again["Idempotent-Replayed"] == "true" and not ChargingSession.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicate_starts_run_once(site, charger):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    client, api = driver()
    gate = threading.Barrier(4)
    results = []

    def run():
        gate.wait()
        try:
            results.append(start(api, site, key="same").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert ChargingSession.objects.count() == 1
    assert results.count(201) >= 1 and set(results) <= {201, 409}
    assert Wallet.objects.get(client=client).held == ChargingSession.objects.get().hold_amount


@pytest.mark.django_db(transaction=True)
def test_concurrent_stops_send_one_command_each_and_bill_once(site, charger):
    """Four stops at once, with and without the same key: the session ends in FINISHING,
    the charger's StopTransaction bills it once."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    client, api = driver()
    sid = start(api, site, limit={"type": "amount", "amount": "50.00"}).json()["id"]
    session = ChargingSession.objects.get(pk=sid)
    tx = transaction_start(
        station_id=site.pk,
        connector_id=1,
        id_tag=session.id_tag,
        meter_start=0,
        timestamp=timezone.now() - timedelta(minutes=5),
        reservation_id=None,
        now=timezone.now(),
        raw={},
    ).transaction_id
    gate = threading.Barrier(4)
    codes = []

    def stop(key):
        gate.wait()
        try:
            headers = {"Idempotency-Key": key} if key else {}
            codes.append(api.post(f"/api/v1/charging/{sid}/stop", headers=headers).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=stop, args=(key,)) for key in ("k", "k", None, None)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert set(codes) <= {200, 409} and codes.count(200) >= 2
    assert ChargingSession.objects.get(pk=sid).status == "finishing"
    for _ in range(2):  # the charger's StopTransaction, and its replay
        transaction_stop(
            station_id=site.pk,
            transaction_id=tx,
            meter_stop=3000,
            timestamp=timezone.now(),
            id_tag=None,
            reason="Remote",
            readings=[],
            now=timezone.now(),
            raw={},
        )
    session = ChargingSession.objects.get(pk=sid)
    assert (session.status, session.final_cost, session.stop_reason) == (
        "completed",
        Decimal("32.00"),
        "driver",
    )
    assert Wallet.objects.get(client=client).balance == Decimal("268.00")
    assert not ledger_invariant_violations()


def test_history_receipts_and_stats(site, charger):
    client, api = driver()
    sid = start(api, site, limit={"type": "amount", "amount": "100.00"}).json()["id"]
    charge(sid, wh=4500)
    detail = api.get(f"/api/v1/charging/{sid}").json()
    assert detail["status"] == "completed" and detail["final_cost"] == "47.00"
    assert detail["receipt"]["lines"] == [
        {"kind": "energy", "amount": "45.00"},
        {"kind": "session_fee", "amount": "2.00"},
    ]
    assert (detail["receipt"]["paid_from_hold"], detail["receipt"]["debt"]) == ("47.00", "0.00")
    history = api.get("/api/v1/charging/history").json()
    assert [s["id"] for s in history["results"]] == [sid]
    stats = api.get("/api/v1/charging/stats").json()
    assert stats["all_time"] == {"sessions": 1, "energy_wh": 4500, "spent": "47.00"}
    assert stats["this_month"]["sessions"] == 1
    assert Wallet.objects.get(client=client).balance == Decimal("253.00")
    assert api.get("/api/v1/charging/active").json() == []
    assert not ledger_invariant_violations()


def test_messages_follow_the_clients_language(site, charger):
    client, api = driver()
    Client.objects.filter(pk=client.pk).update(language="en")
    site.connectors.update(status="Faulted")
    response = start(api, site)
    assert error_of(response, 409)["message"] == "This connector is not available right now."
    Client.objects.filter(pk=client.pk).update(language="ky")
    assert error_of(start(api, site), 409)["message"] == ("Бул туташтыргыч азыр жеткиликсиз.")
