"""The operators' side of charging sessions: the session list and page (timeline), the
stop / close / refund actions, and the billing review queue (bill to a client, write off)."""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal
from unittest.mock import patch

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from accounts.tests.factories import ClientFactory
from charging.metering import ENERGY_REGISTER
from charging.models import MeterSample, OcppTransaction
from charging.parked import park_message
from charging.parked_models import ParkedMessage
from charging.review import (
    TransactionAlreadyBilled,
    TransactionNotStopped,
    transaction_bill_to_client,
)
from charging.session.models import ChargingSession
from charging.transactions import Reading, meter_values_record, transaction_start, transaction_stop
from cockpit.session_timeline import CURVE_POINTS, session_meter_curve
from ocpp_bridge.models import CommandRecord, OcppMessage
from payments.models import LedgerTransaction, Wallet
from payments.selectors import ledger_invariant_violations, unbalanced_transactions
from payments.wallet import wallet_credit_topup
from stations.charger_port import CommandResult
from stations.services import station_create
from stations.tests.factories import IdTagFactory, TariffPlanFactory, TariffRuleFactory

pytestmark = pytest.mark.django_db

SESSIONS = reverse("admin:charging_chargingsession_changelist")
QUEUE = reverse("admin:charging_billingreview_changelist")
ALL_SESSION_PERMS = (
    "view_chargingsession",
    "stop_chargingsession",
    "close_chargingsession",
    "refund_chargingsession",
)
_n = itertools.count(1)


# -- factories -----------------------------------------------------------------------------


@pytest.fixture
def station():
    TariffRuleFactory(
        plan=TariffPlanFactory(name="Base", is_default=True), price_per_kwh=Decimal("10.00")
    )
    return station_create(
        identity="CP-ADM", location_name="Depot", connectors=2, generate_password=True
    ).station


@pytest.fixture
def driver():
    client = ClientFactory(phone="+996700000101", name="Aida")
    wallet_credit_topup(client=client, amount=Decimal("100"), payment_ref="t-1", key="topup:1")
    IdTagFactory(id_tag="CARD-1", client=client)
    return client


@pytest.fixture
def operator(client, django_user_model):
    """Log in a staff user with exactly the given permission codenames."""

    def login(*codenames: str):
        user = django_user_model.objects.create_user(
            f"op{next(_n)}", password="pw-0123456789", is_staff=True
        )
        user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
        client.force_login(user)
        return user

    return login


def charge(station, id_tag: str, *, kwh: list[str], connector: int = 1) -> OcppTransaction:
    """A transaction started at the charger an hour ago, with energy register readings."""
    start = timezone.now().replace(microsecond=0) - timedelta(hours=1)
    tx_id = transaction_start(
        station_id=station.pk,
        connector_id=connector,
        id_tag=id_tag,
        meter_start=1000,
        timestamp=start,
        reservation_id=None,
        now=timezone.now(),
        raw={},
    ).transaction_id
    for n, value in enumerate(kwh, start=1):
        meter_values_record(
            station_id=station.pk,
            connector_id=connector,
            transaction_id=tx_id,
            readings=[
                Reading(
                    timestamp=start + timedelta(minutes=n),
                    value=value,
                    measurand=ENERGY_REGISTER,
                    unit="Wh",
                )
            ],
            now=timezone.now(),
            raw={},
        )
    return OcppTransaction.objects.get(pk=tx_id)


def stop(station, tx: OcppTransaction, meter_stop: int) -> None:
    transaction_stop(
        station_id=station.pk,
        transaction_id=tx.pk,
        meter_stop=meter_stop,
        timestamp=timezone.now().replace(microsecond=0),
        id_tag=None,
        reason="Local",
        readings=[],
        now=timezone.now(),
        raw={},
    )


def log_frame(
    station, direction: str, kind: int, message_id: str, action: str, raw: str
) -> OcppMessage:
    return OcppMessage.objects.create(
        station=station,
        identity=station.identity,
        direction=direction,
        message_type=kind,
        message_id=message_id,
        action=action,
        raw=raw,
        created_at=timezone.now(),
    )


def act(client, url: str, action: str, pk, **fields):
    return client.post(url, {"action": action, "_selected_action": [pk], **fields})


def said(response) -> str:
    return " | ".join(str(m) for m in response.wsgi_request._messages)


def assert_ledger_consistent() -> None:
    assert list(ledger_invariant_violations().values_list("pk", flat=True)) == []
    assert list(unbalanced_transactions().values_list("pk", flat=True)) == []


# -- list and page -------------------------------------------------------------------------


def test_session_list_renders_with_a_bounded_number_of_queries(
    client, operator, station, driver, django_assert_max_num_queries
):
    # given
    for connector in (1, 2):
        charge(station, "CARD-1", kwh=["2000"], connector=connector)
    operator("view_chargingsession")

    # when
    with django_assert_max_num_queries(12):
        response = client.get(SESSIONS, {"status": "charging", "q": "+996700000101"})

    # then
    assert response.status_code == 200
    rows = response.context["cl"].result_list
    assert len(rows) == 2 and {r.origin for r in rows} == {"id_tag"}
    assert "1.000" in response.content.decode()  # energy in kWh


def test_session_page_shows_its_timeline_bounded_and_escaped(
    client, operator, station, driver, django_assert_max_num_queries
):
    # given a session with many readings, its frames and commands, and others' around it
    tx = charge(station, "CARD-1", kwh=["1500", "2500"])
    other = charge(station, "CARD-1", kwh=["1200"], connector=2)
    start = tx.started_at
    MeterSample.objects.bulk_create(
        MeterSample(
            station=station,
            connector_number=1,
            transaction=tx,
            measurand=ENERGY_REGISTER,
            timestamp=start + timedelta(minutes=5, seconds=n),
            context="Sample.Periodic",
            unit="Wh",
            value=str(2500 + n),
            normalised_value=2500 + n,
            normalised_unit="Wh",
        )
        for n in range(1000)
    )
    log_frame(
        station,
        "in",
        2,
        "s-1",
        "StartTransaction",
        '[2,"s-1","StartTransaction",{"connectorId":1,"idTag":"CARD-1"}]',
    )
    log_frame(
        station,
        "out",
        3,
        "s-1",
        "StartTransaction",
        f'[3,"s-1",{{"transactionId":{tx.pk},"idTagInfo":{{"status":"Accepted"}}}}]',
    )
    log_frame(
        station,
        "in",
        2,
        "m-1",
        "MeterValues",
        f'[2,"m-1","MeterValues",{{"connectorId":1, "transactionId": {tx.pk},'
        f'"meterValue":[{{"note":"<script>alert(1)</script>"}}]}}]',
    )
    log_frame(
        station,
        "in",
        2,
        "m-2",
        "MeterValues",
        f'[2,"m-2","MeterValues",{{"connectorId":2,"transactionId":{other.pk}}}]',
    )
    log_frame(
        station,
        "in",
        2,
        "m-3",
        "MeterValues",
        f'[2,"m-3","MeterValues",{{"transactionId":{tx.pk}9}}]',
    )  # another id's prefix
    CommandRecord.objects.create(
        station=station,
        action="RemoteStopTransaction",
        payload={"transactionId": tx.pk},
        requested_by="staff:ops",
        status="rejected",
        response={"status": "Rejected"},
    )
    CommandRecord.objects.create(
        station=station,
        action="RemoteStopTransaction",
        payload={"transactionId": other.pk},
        requested_by="elsewhere",
    )
    session = ChargingSession.objects.get(transaction=tx)
    operator("view_chargingsession", "refund_chargingsession")

    # when
    with django_assert_max_num_queries(18):  # 14 today: auth, session, wallet, 7 timeline
        response = client.get(reverse("admin:charging_chargingsession_change", args=[session.pk]))

    # then
    page = response.content.decode()
    assert response.status_code == 200
    assert page.count("&quot;s-1&quot;") == 2  # the start and its answer
    assert "&quot;m-1&quot;" in page
    assert "&quot;m-2&quot;" not in page and "&quot;m-3&quot;" not in page
    assert "&lt;script&gt;" in page and "<script>alert" not in page
    assert "staff:ops" in page and "elsewhere" not in page
    assert "<polyline" in page
    assert f"/admin/payments/wallet/?client__id__exact={driver.pk}" in page
    assert 'value="adjust_wallet"' not in page  # no adjust permission: no button
    assert 'value="refund_session"' in page
    curve = session_meter_curve(session)
    assert curve.readings == 1002 and len(curve.points) <= CURVE_POINTS + 3
    assert curve.points[-1][1] == Decimal("2.499")  # the last reading is always kept


def test_session_page_leads_to_the_wallet_adjustment(client, operator, billed_session, driver):
    operator("view_chargingsession", "view_wallet", "adjust_wallet")
    page = client.get(reverse("admin:charging_chargingsession_change", args=[billed_session.pk]))
    wallet = Wallet.objects.get(client=driver)
    assert 'value="adjust_wallet"' in page.content.decode()
    assert 'value="refund_session"' not in page.content.decode()  # no refund permission

    # the page's "Adjust client's wallet…" button posts this to the wallet list
    adjust = client.post(
        reverse("admin:payments_wallet_changelist"),
        {"action": "adjust_wallet", "_selected_action": [wallet.pk]},
    )

    assert adjust.status_code == 200 and adjust.context["wallet"] == wallet
    assert "reason" in adjust.context["form"].fields


# -- stop ----------------------------------------------------------------------------------


def test_stop_action_sends_remote_stop_and_reports_the_answer(client, operator, station, driver):
    tx = charge(station, "CARD-1", kwh=["2000"])
    session = ChargingSession.objects.get(transaction=tx)
    user = operator("view_chargingsession", "stop_chargingsession")
    accepted = CommandResult(command_id=1, status="accepted", response={"status": "Accepted"})

    with patch("charging.session.charger.send_command", return_value=accepted) as send:
        response = act(client, SESSIONS, "stop_sessions", session.pk)

    assert response.status_code == 302
    send.assert_called_once()
    assert send.call_args.kwargs["action"] == "RemoteStopTransaction"
    assert send.call_args.kwargs["payload"] == {"transactionId": tx.pk}
    session.refresh_from_db()
    assert session.status == "finishing" and session.stop_reason == "operator"
    assert session.stop_requested_by == f"staff:{user.username}"
    assert f"Session {session.pk}: the charger accepted the stop" in said(response)


def test_stop_refused_by_the_charger_reports_the_error_code(client, operator, station, driver):
    session = ChargingSession.objects.get(transaction=charge(station, "CARD-1", kwh=["2000"]))
    operator("view_chargingsession", "stop_chargingsession")
    refused = CommandResult(command_id=2, status="rejected", response={"status": "Rejected"})

    with patch("charging.session.charger.send_command", return_value=refused):
        response = act(client, SESSIONS, "stop_sessions", session.pk)

    assert "STOP_FAILED (charger: rejected)" in said(response)
    session.refresh_from_db()
    assert session.status == "charging"


# -- close ---------------------------------------------------------------------------------


def test_close_action_bills_from_the_last_reading_once(client, operator, station, driver):
    session = ChargingSession.objects.get(
        transaction=charge(station, "CARD-1", kwh=["2000", "3000"])
    )  # 2 kWh
    operator("view_chargingsession", "close_chargingsession")

    first = act(client, SESSIONS, "close_sessions", session.pk)
    second = act(client, SESSIONS, "close_sessions", session.pk)

    session.refresh_from_db()
    assert (session.status, session.final_cost, session.stop_reason) == (
        "completed",
        Decimal("20.00"),
        "operator",
    )
    assert "billed 20.00 KGS for 2.000 kWh" in said(first)
    assert "already ended (completed)" in said(second)
    charged = LedgerTransaction.objects.filter(ref_type="session", ref_id=str(session.pk))
    assert list(charged.values_list("kind", "amount")) == [("charge", Decimal("20.00"))]
    assert Wallet.objects.get(client=driver).balance == Decimal("80.00")
    assert_ledger_consistent()


# -- refund --------------------------------------------------------------------------------


@pytest.fixture
def billed_session(station, driver):
    tx = charge(station, "CARD-1", kwh=["3000"])
    stop(station, tx, 4000)  # 3 kWh = 30.00
    session = ChargingSession.objects.get(transaction=tx)
    assert session.final_cost == Decimal("30.00")
    return session


def test_refund_moves_money_once_and_never_more_than_refundable(
    client, operator, billed_session, driver
):
    operator("view_chargingsession", "refund_chargingsession")
    page = act(client, SESSIONS, "refund_session", billed_session.pk)
    assert page.status_code == 200 and b"Refundable now" in page.content
    key = page.context["form"].initial["key"]

    too_much = act(
        client,
        SESSIONS,
        "refund_session",
        billed_session.pk,
        apply="1",
        amount="30.01",
        reason="charger fault",
        key=key,
    )
    no_reason = act(
        client,
        SESSIONS,
        "refund_session",
        billed_session.pk,
        apply="1",
        amount="10",
        reason="  ",
        key=key,
    )
    assert "amount" in too_much.context["form"].errors
    assert "reason" in no_reason.context["form"].errors
    assert not LedgerTransaction.objects.filter(kind="refund").exists()

    fields = {"apply": "1", "amount": "12.50", "reason": "cable fault, driver called", "key": key}
    done = act(client, SESSIONS, "refund_session", billed_session.pk, **fields)
    again = act(client, SESSIONS, "refund_session", billed_session.pk, **fields)  # double submit

    assert done.status_code == again.status_code == 302
    assert "refunded 12.50 KGS" in said(done) and "cable fault, driver called" in said(done)
    refund = LedgerTransaction.objects.get(kind="refund")
    assert (refund.amount, refund.ref_id, refund.author.username, refund.reason) == (
        Decimal("12.50"),
        str(billed_session.pk),
        done.wsgi_request.user.username,
        "cable fault, driver called",
    )
    assert Wallet.objects.get(client=driver).balance == Decimal("82.50")  # 100 - 30 + 12.50

    rest = act(client, SESSIONS, "refund_session", billed_session.pk)
    assert rest.context["form"].refundable == Decimal("17.50")
    assert_ledger_consistent()


# -- permissions ---------------------------------------------------------------------------


def test_actions_need_their_own_permission(client, operator, station, driver):
    session = ChargingSession.objects.get(transaction=charge(station, "CARD-1", kwh=["2000"]))
    operator("view_chargingsession")

    listing = client.get(SESSIONS)
    with patch("charging.session.charger.send_command") as send:
        for action in ("stop_sessions", "close_sessions", "refund_session"):
            act(
                client,
                SESSIONS,
                action,
                session.pk,
                apply="1",
                amount="1",
                reason="x",
                key=f"session:{session.pk}:refund:{'0' * 32}",
            )

    assert listing.status_code == 200
    assert listing.context["action_form"] is None  # no action offered at all
    send.assert_not_called()
    session.refresh_from_db()
    assert session.status == "charging" and not session.settled
    assert not LedgerTransaction.objects.filter(ref_type="session").exists()


def test_session_pages_need_a_permission(client, operator, station, driver):
    session = ChargingSession.objects.get(transaction=charge(station, "CARD-1", kwh=["2000"]))
    operator()
    assert client.get(SESSIONS).status_code == 403
    page = reverse("admin:charging_chargingsession_change", args=[session.pk])
    assert client.get(page).status_code == 403
    operator(*ALL_SESSION_PERMS)
    assert client.post(page, {"status": "completed"}).status_code == 403  # read-only


# -- the billing review queue --------------------------------------------------------------


@pytest.fixture
def unbilled(station):
    """A stopped transaction whose id tag has no owner: parked, billed to nobody."""
    IdTagFactory(id_tag="LOOSE-1")
    tx = charge(station, "LOOSE-1", kwh=["2500"])
    stop(station, tx, 3500)  # 2.5 kWh = 25.00
    return ParkedMessage.objects.get(reason="unbilled_transaction", transaction_id=tx.pk)


def test_queue_lists_money_items_unresolved_first(client, operator, station, unbilled):
    resolved = park_message(
        station_id=station.pk,
        action="StopTransaction",
        reason=ParkedMessage.Reason.STOP_AFTER_SETTLEMENT,
        payload={},
        transaction_id=unbilled.transaction_id,
    )
    ParkedMessage.objects.filter(pk=resolved.pk).update(resolved_at=timezone.now())
    park_message(
        station_id=station.pk,
        action="MeterValues",
        payload={},
        reason=ParkedMessage.Reason.METER_BACKWARDS,
    )  # not about money
    operator("bill_unbilled_transaction")

    response = client.get(QUEUE)

    assert response.status_code == 200
    assert [m.pk for m in response.context["cl"].result_list] == [unbilled.pk, resolved.pk]
    page = client.get(reverse("admin:charging_billingreview_change", args=[unbilled.pk]))
    assert page.status_code == 200 and b"LOOSE-1" in page.content


def test_bill_to_client_creates_one_settled_session(client, operator, unbilled, driver):
    user = operator("bill_unbilled_transaction")
    form = act(client, QUEUE, "bill_to_client", unbilled.pk)
    assert form.status_code == 200 and b"Bill to this client" in form.content

    unknown = act(client, QUEUE, "bill_to_client", unbilled.pk, apply="1", phone="+996700999999")
    assert "phone" in unknown.context["form"].errors
    done = act(
        client,
        QUEUE,
        "bill_to_client",
        unbilled.pk,
        apply="1",
        phone="+996700000101",
        note="card belongs to Aida",
    )
    again = act(client, QUEUE, "bill_to_client", unbilled.pk, apply="1", phone="+996700000101")

    session = ChargingSession.objects.get(transaction_id=unbilled.transaction_id)
    assert (session.client, session.origin, session.status, session.settled) == (
        driver,
        "id_tag",
        "completed",
        True,
    )
    assert (session.energy_wh, session.final_cost, session.id_tag) == (
        2500,
        Decimal("25.00"),
        "LOOSE-1",
    )
    assert "billed to" in said(done) and "already resolved" in said(again)
    unbilled.refresh_from_db()
    assert unbilled.resolved_by == user and f"session {session.pk}" in unbilled.resolution_note
    assert "card belongs to Aida" in unbilled.resolution_note
    assert list(
        LedgerTransaction.objects.filter(ref_type="session").values_list("kind", "amount")
    ) == [("charge", Decimal("25.00"))]
    assert Wallet.objects.get(client=driver).balance == Decimal("75.00")
    assert_ledger_consistent()
    with pytest.raises(TransactionAlreadyBilled):
        transaction_bill_to_client(
            transaction_id=unbilled.transaction_id, client=driver, staff=user
        )


def test_a_running_transaction_is_not_billed(client, operator, station, driver):
    IdTagFactory(id_tag="LOOSE-2")
    tx = charge(station, "LOOSE-2", kwh=["2000"])
    item = park_message(
        station_id=station.pk,
        action="StartTransaction",
        payload={},
        reason=ParkedMessage.Reason.UNBILLED_TRANSACTION,
        transaction_id=tx.pk,
    )
    operator("bill_unbilled_transaction")

    response = act(client, QUEUE, "bill_to_client", item.pk, apply="1", phone=driver.phone)

    assert "still active" in said(response)
    with pytest.raises(TransactionNotStopped):
        transaction_bill_to_client(transaction_id=tx.pk, client=driver, staff=None)
    assert not ChargingSession.objects.filter(transaction=tx).exists()


def test_write_off_needs_a_note_and_the_resolve_permission(client, operator, unbilled, driver):
    operator("bill_unbilled_transaction")
    refused = act(client, QUEUE, "write_off", unbilled.pk, apply="1", note="driver unknown")
    assert "No action selected" in said(refused)  # no resolve permission: no such action
    unbilled.refresh_from_db()
    assert unbilled.resolved_at is None

    user = operator("change_parkedmessage")
    refused = act(client, QUEUE, "bill_to_client", unbilled.pk, apply="1", phone=driver.phone)
    assert "No action selected" in said(refused)  # and no billing without its permission
    blank = act(client, QUEUE, "write_off", unbilled.pk, apply="1", note="   ")
    assert "note" in blank.context["form"].errors
    done = act(client, QUEUE, "write_off", unbilled.pk, apply="1", note="test charge by staff")

    assert "Wrote off 1 item" in said(done)
    unbilled.refresh_from_db()
    assert unbilled.resolved_by == user
    assert unbilled.resolution_note == "written off: test charge by staff"
    assert not ChargingSession.objects.exists()


def test_an_implausible_reading_is_billed_as_the_operator_corrects_it(
    client, operator, station, driver
):
    tx = charge(station, "CARD-1", kwh=[])  # the owner's card: a session without a hold
    stop(station, tx, 9_000_000_000)  # a lifetime register, an hour after the start
    item = ParkedMessage.objects.get(reason="implausible_meter", transaction_id=tx.pk)
    session = ChargingSession.objects.get(transaction_id=tx.pk)
    assert session.energy_wh == 0 and session.final_cost == Decimal("0.00")
    user = operator("bill_unbilled_transaction")

    queue = client.get(QUEUE)
    assert item.pk in [m.pk for m in queue.context["cl"].result_list]
    form = act(client, QUEUE, "bill_energy", item.pk)
    assert form.status_code == 200 and b"Bill this energy" in form.content
    assert b"9000000000" in form.content  # the raw readings are shown
    negative = act(client, QUEUE, "bill_energy", item.pk, apply="1", energy_wh="-5")
    assert "energy_wh" in negative.context["form"].errors
    done = act(
        client,
        QUEUE,
        "bill_energy",
        item.pk,
        apply="1",
        energy_wh="3000",
        note="charger log: 3 kWh",
    )
    again = act(client, QUEUE, "bill_energy", item.pk, apply="1", energy_wh="3000")

    assert "billed for 3000 Wh: 30.00" in said(done) and "ALREADY_RESOLVED" in said(again)
    item.refresh_from_db()
    assert item.resolved_by == user and "charger log: 3 kWh" in item.resolution_note
    assert Wallet.objects.get(client=driver).balance == Decimal("70.00")
    assert_ledger_consistent()


def test_only_implausible_readings_get_a_corrected_bill(client, operator, unbilled):
    operator("bill_unbilled_transaction")
    refused = act(client, QUEUE, "bill_energy", unbilled.pk, apply="1", energy_wh="10")
    assert "select exactly one implausible meter reading" in said(refused)
