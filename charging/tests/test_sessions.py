"""Charging sessions through their services: start, link, meter values, stop, bill, clockwork.

Everything is real (database, wallet, tariffs, charger transaction services) except the
charger's answers to our commands: `charging.session.charger.send_command` is replaced by a fake
that answers as each test tells it (and can make the charger act before it answers)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.utils import timezone

from accounts.models import Client
from charging import errors
from charging.parked_models import ParkedMessage
from charging.session.limits import Limit
from charging.session.models import ChargingSession
from charging.session.start import (
    client_app_id_tag,
    session_apply_start_answer,
    session_open,
    session_start,
)
from charging.session.stop import session_stop
from charging.session.sweeps import (
    session_close_unreported,
    sessions_cancel_unplugged,
    sessions_close_unreported,
    sessions_stop_overlong,
)
from charging.tests.support import fund, funded_client, online  # noqa: F401 - shared with other tests
from charging.transaction_models import OcppTransaction
from charging.transactions import (
    meter_values_record,
    meter_values_record_many,
)
from payments.errors import InsufficientBalance
from payments.models import Debt, Hold, LedgerTransaction, Wallet
from payments.selectors import ledger_invariant_violations
from payments.tests.support import assert_ledger_consistent, new_client
from stations.charger_port import CommandResult
from stations.models import Connector, IdTag, Station
from stations.pricing import Quote, quote_for_client
from stations.tariff_models import ClientTariff, TariffRule
from stations.tests.factories import IdTagFactory

from .support import (
    assert_unbilled_and_released,
    base_time,
    bills,
    charging_session,
    fresh,
    meter,
    meter_input,
    money_state,
    ocpp_start,
    ocpp_stop,
    open_session,
    wallet,
)

pytestmark = pytest.mark.django_db

D = Decimal
Status = ChargingSession.Status
Reason = ChargingSession.StopReason
ENERGY = "Energy.Active.Import.Register"


# -- fixtures and helpers: charging/tests/support.py ---------------------------------------


# -- open: refusals -------------------------------------------------------------------------


def _blocked(ctx):
    Client.objects.filter(pk=ctx.client.pk).update(status=Client.Status.BLOCKED)


def _deleted(ctx):
    Client.objects.filter(pk=ctx.client.pk).update(status=Client.Status.DELETED)


def _pending_deletion(ctx):
    Client.objects.filter(pk=ctx.client.pk).update(
        status=Client.Status.PENDING_DELETION, deletion_requested_at=timezone.now()
    )


def _station(**fields):
    def setup(ctx):
        Station.objects.filter(pk=ctx.station.pk).update(**fields)

    return setup


def _connector_status(status):
    def setup(ctx):
        Connector.objects.filter(station=ctx.station, number=1).update(status=status)

    return setup


def _other_clients_session_on_the_connector(ctx):
    open_session(funded_client(), ctx.station)


def _own_session_elsewhere(ctx):
    open_session(ctx.client, ctx.station, connector=2)


def _own_charging_session_elsewhere(ctx):
    charging_session(ctx.client, ctx.station, at=base_time(), connector=2)


def _no_tariff(ctx):
    TariffRule.objects.all().delete()


def _poor(amount):
    def setup(ctx):
        ctx.client = funded_client(amount)

    return setup


def _walletless(ctx):
    ctx.client = new_client()


def _sum_wallet(ctx):
    """A wallet in UZS at a station whose tariff is in KGS: nothing may be held in the
    wrong currency."""
    ctx.client = new_client()
    Wallet.objects.create(client=ctx.client, currency="UZS")
    fund(ctx.client, "100000.00")


REFUSALS = [
    ("blocked", _blocked, None, errors.ClientBlocked, "CLIENT_BLOCKED"),
    ("deleted", _deleted, None, errors.ClientBlocked, "CLIENT_BLOCKED"),
    (
        "pending deletion",
        _pending_deletion,
        None,
        errors.AccountPendingDeletion,
        "ACCOUNT_PENDING_DELETION",
    ),
    (
        "station inactive",
        _station(admin_status="inactive"),
        None,
        errors.StationUnavailable,
        "STATION_UNAVAILABLE",
    ),
    (
        "station in maintenance",
        _station(admin_status="maintenance"),
        None,
        errors.StationUnavailable,
        "STATION_UNAVAILABLE",
    ),
    (
        "station not approved",
        _station(registration_status="Pending"),
        None,
        errors.StationUnavailable,
        "STATION_UNAVAILABLE",
    ),
    ("socket closed", _station(connected=False), None, errors.StationOffline, "STATION_OFFLINE"),
    (
        "not heard from",
        _station(last_seen_at=timezone.now() - timedelta(hours=1)),
        None,
        errors.StationOffline,
        "STATION_OFFLINE",
    ),
    (
        "connector charging",
        _connector_status("Charging"),
        None,
        errors.ConnectorOccupied,
        "CONNECTOR_OCCUPIED",
    ),
    (
        "connector suspended",
        _connector_status("SuspendedEV"),
        None,
        errors.ConnectorOccupied,
        "CONNECTOR_OCCUPIED",
    ),
    (
        "connector faulted",
        _connector_status("Faulted"),
        None,
        errors.ConnectorUnavailable,
        "CONNECTOR_UNAVAILABLE",
    ),
    (
        "connector unavailable",
        _connector_status("Unavailable"),
        None,
        errors.ConnectorUnavailable,
        "CONNECTOR_UNAVAILABLE",
    ),
    (
        "another client's session on it",
        _other_clients_session_on_the_connector,
        None,
        errors.ConnectorOccupied,
        "CONNECTOR_OCCUPIED",
    ),
    (
        "own pending session elsewhere",
        _own_session_elsewhere,
        None,
        errors.SessionAlreadyActive,
        "SESSION_ALREADY_ACTIVE",
    ),
    (
        "own charging session elsewhere",
        _own_charging_session_elsewhere,
        None,
        errors.SessionAlreadyActive,
        "SESSION_ALREADY_ACTIVE",
    ),
    ("no tariff", _no_tariff, None, errors.TariffNotAvailable, "TARIFF_NOT_AVAILABLE"),
    (
        "wallet in another currency",
        _sum_wallet,
        None,
        errors.TariffNotAvailable,
        "TARIFF_NOT_AVAILABLE",
    ),
    (
        "amount above balance",
        None,
        Limit("amount", amount=D("1000.01")),
        InsufficientBalance,
        "INSUFFICIENT_BALANCE",
    ),
    (
        "energy price above balance",
        None,
        Limit("energy", energy_wh=100_000),  # 1205 som
        InsufficientBalance,
        "INSUFFICIENT_BALANCE",
    ),
    (
        "no limit below the minimum hold",
        _poor("9.99"),
        None,
        InsufficientBalance,
        "INSUFFICIENT_BALANCE",
    ),
    ("no wallet at all", _walletless, None, InsufficientBalance, "INSUFFICIENT_BALANCE"),
]


@pytest.mark.parametrize(
    ("setup", "limit", "error", "code"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS]
)
def test_refused_start_leaves_no_session_and_moves_no_money(
    station, driver, setup, limit, error, code
):
    ctx = SimpleNamespace(client=driver, station=station)
    if setup is not None:
        setup(ctx)
    sessions_before = sorted(ChargingSession.objects.values_list("pk", "status"))
    money_before = money_state()
    with pytest.raises(error) as caught:
        open_session(ctx.client, station, limit)
    assert caught.value.code == code
    assert sorted(ChargingSession.objects.values_list("pk", "status")) == sessions_before
    assert money_state() == money_before
    assert_ledger_consistent()


def test_refusal_for_a_balance_below_the_minimum_names_the_minimum(station):
    with pytest.raises(InsufficientBalance) as caught:
        open_session(funded_client("9.99"), station)
    assert caught.value.details == {"required": "10.00", "available": "9.99", "currency": "KGS"}


def test_unknown_station_or_connector_is_not_found(station, driver):
    with pytest.raises(errors.StationNotFound):
        session_open(
            client=driver, station_id=station.pk + 999, connector_number=1, limit=Limit("none")
        )
    with pytest.raises(errors.StationNotFound):
        session_open(client=driver, station_id=station.pk, connector_number=9, limit=Limit("none"))
    assert not ChargingSession.objects.exists() and not Hold.objects.exists()


def test_preparing_connector_is_startable(station, driver):
    Connector.objects.filter(station=station, number=1).update(status="Preparing")
    assert open_session(driver, station).status == Status.PENDING


def test_a_second_session_when_configured(station, driver, settings):
    settings.CHARGING_MAX_ACTIVE_SESSIONS = 2
    open_session(driver, station, Limit("amount", amount=D("50")), connector=1)
    open_session(driver, station, Limit("amount", amount=D("50")), connector=2)
    assert wallet(driver).held == D("100.00")
    assert_ledger_consistent()


# -- open: success --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "balance", "hold"),
    [
        (Limit("energy", energy_wh=10_000), "1000.00", "125.00"),  # 10 kWh x 12 + 5
        (Limit("amount", amount=D("100")), "1000.00", "100.00"),
        (Limit("both", energy_wh=10_000, amount=D("80")), "1000.00", "80.00"),
        (Limit("both", energy_wh=5_000, amount=D("80")), "1000.00", "65.00"),
        (Limit("none"), "1000.00", "205.00"),  # cap 200 + session fee
        (Limit("none"), "150.00", "150.00"),  # the whole balance
        (Limit("none"), "10.00", "10.00"),  # exactly the minimum
        (Limit("amount", amount=D("150")), "150.00", "150.00"),
    ],
)
def test_open_holds_the_limit_and_freezes_the_tariff(station, rule, limit, balance, hold):
    client = funded_client(balance)
    session = open_session(client, station, limit)
    session = fresh(session)
    assert (session.status, session.origin, session.settled) == (Status.PENDING, "app", False)
    assert session.hold_amount == D(hold)
    assert (session.hold.amount, session.hold.status) == (D(hold), "active")
    assert (session.hold.ref_type, session.hold.ref_id) == ("session", str(session.pk))
    assert LedgerTransaction.objects.get(key=f"session:{session.pk}:hold").amount == D(hold)
    w = wallet(client)
    assert (w.balance, w.held) == (D(balance), D(hold))
    assert session.id_tag == client_app_id_tag(client)
    assert IdTag.objects.get(id_tag=session.id_tag).client == client
    assert (session.limit_type, session.limit_energy_wh, session.limit_amount) == (
        limit.type,
        limit.energy_wh if limit.by_energy else None,
        limit.amount if limit.by_amount else None,
    )
    assert (session.station, session.connector.number, session.connector_number) == (station, 1, 1)
    frozen = Quote.from_snapshot(session.tariff)
    assert (frozen.per_kwh, frozen.per_minute, frozen.session_fee) == (
        D("12.00"),
        D("0.50"),
        D("5.00"),
    )
    assert (frozen.rule_id, frozen.client_id, session.currency) == (rule.pk, client.pk, "KGS")
    assert_ledger_consistent()


def test_open_uses_the_clients_price(station):
    client = funded_client()
    ClientTariff.objects.create(client=client, discount_percent=D("10"))
    session = open_session(client, station, Limit("energy", energy_wh=10_000))
    assert session.hold_amount == D("112.50")  # (120 + 5) - 10 %
    assert Quote.from_snapshot(session.tariff).discount_percent == D("10")
    assert (
        session.tariff
        == quote_for_client(
            connector=session.connector,
            at=Quote.from_snapshot(session.tariff).quoted_at,
            client=client,
        ).as_snapshot()
    )


def test_app_tag_is_issued_once_per_client(station, driver):
    tag = client_app_id_tag(driver)
    assert client_app_id_tag(driver) == tag and len(tag) <= 20
    assert open_session(driver, station).id_tag == tag
    assert IdTag.objects.filter(client=driver, kind=IdTag.Kind.APP).count() == 1


def test_the_bill_uses_the_tariff_frozen_at_start(station, driver, rule):
    t0 = base_time()
    session, tx = charging_session(driver, station, at=t0, limit=Limit("amount", amount=D("300")))
    TariffRule.objects.filter(pk=rule.pk).update(price_per_kwh=D("99.00"), session_fee=D("50"))
    ocpp_stop(station, tx, meter_stop=11_000, at=t0 + timedelta(minutes=30))
    assert fresh(session).final_cost == D("140.00")  # 120 + 15 + 5, not the new prices
    assert_ledger_consistent()


# -- the charger's answer to RemoteStartTransaction ---------------------------------------


def test_accepted_start_stays_pending_with_its_hold(station, driver, charger):
    session = session_start(
        client=driver,
        station_id=station.pk,
        connector_number=1,
        limit=Limit("amount", amount=D("100")),
    )
    assert charger.calls == [
        ("RemoteStartTransaction", {"connectorId": 1, "idTag": client_app_id_tag(driver)})
    ]
    session = fresh(session)
    assert (session.status, session.start_command_id, session.hold.status) == (
        Status.PENDING,
        5001,
        "active",
    )
    assert (wallet(driver).balance, wallet(driver).held) == (D("1000.00"), D("100.00"))
    assert_ledger_consistent()


@pytest.mark.parametrize(
    ("answer", "reason", "error"),
    [
        ("rejected", Reason.START_REJECTED, errors.StartRejected),
        ("call_error", Reason.START_REJECTED, errors.StartRejected),
        ("busy", Reason.START_REJECTED, errors.StartRejected),
        ("timeout", Reason.START_TIMEOUT, errors.StationTimeout),
        ("offline", Reason.STATION_OFFLINE, errors.StationOffline),
    ],
)
def test_failed_start_fails_the_session_and_releases_the_hold(
    station, driver, charger, answer, reason, error
):
    charger.answers = [answer]
    with pytest.raises(error) as caught:
        session_start(
            client=driver,
            station_id=station.pk,
            connector_number=1,
            limit=Limit("amount", amount=D("100")),
        )
    session = ChargingSession.objects.get()
    assert caught.value.details["session"] == session.pk
    assert_unbilled_and_released(session, status=Status.FAILED, reason=reason)
    assert fresh(session).failure_detail
    w = wallet(driver)
    assert (w.balance, w.held, w.debt) == (D("1000.00"), 0, 0)
    # the connector is free again: the driver may retry at once
    charger.answers = []
    assert (
        session_start(
            client=driver,
            station_id=station.pk,
            connector_number=1,
            limit=Limit("amount", amount=D("100")),
        ).status
        == Status.PENDING
    )


@pytest.mark.parametrize("answer", ["timeout", "rejected"])
def test_start_transaction_before_a_failed_answer_keeps_the_session(
    station, driver, charger, answer
):
    t0 = base_time()

    def charger_starts_first(action, payload):
        ocpp_start(station, payload["idTag"], at=t0, connector=payload["connectorId"])

    charger.on_call, charger.answers = charger_starts_first, [answer]
    session = session_start(
        client=driver,
        station_id=station.pk,
        connector_number=1,
        limit=Limit("amount", amount=D("100")),
    )
    session = fresh(session)
    assert (session.status, session.settled, session.stop_reason) == (Status.CHARGING, False, "")
    assert session.transaction_id is not None and session.start_command_id == 5001
    assert (session.hold.status, wallet(driver).held) == ("active", D("100.00"))
    assert_ledger_consistent()


def test_start_answer_after_the_driver_cancelled_changes_nothing(station, driver, charger):
    session = open_session(driver, station, Limit("amount", amount=D("100")))
    session_stop(session_id=session.pk, requested_by="client:1", reason=Reason.DRIVER)
    before = money_state()
    for status in ("rejected", "accepted"):
        session_apply_start_answer(
            session_id=session.pk, result=CommandResult(command_id=9, status=status)
        )
    assert money_state() == before
    assert_unbilled_and_released(session, status=Status.CANCELLED, reason=Reason.DRIVER)


# -- StartTransaction links the pending session ----------------------------------------------


def test_start_transaction_with_the_app_tag_links_the_pending_session(station, driver):
    t0 = base_time()
    session = open_session(driver, station, Limit("amount", amount=D("100")))
    result = ocpp_start(station, session.id_tag, at=t0, meter_start=1_234)
    assert result.created and result.id_tag_status == "Accepted"
    session = fresh(session)
    assert (session.status, session.transaction_id) == (Status.CHARGING, result.transaction_id)
    assert (session.meter_start_wh, session.charging_started_at) == (1_234, t0)
    assert result.news.client_id == driver.pk
    assert (result.news.event["status"], result.news.event["session"]) == ("charging", session.pk)
    again = ocpp_start(station, session.id_tag, at=t0, meter_start=1_234)  # a retry
    assert (again.transaction_id, again.created, again.news) == (result.transaction_id, False, None)
    assert ChargingSession.objects.count() == 1


def test_start_on_another_connector_does_not_take_the_pending_session(station, driver):
    session = open_session(driver, station)
    ocpp_start(station, session.id_tag, at=base_time(), connector=2)
    assert fresh(session).status == Status.PENDING


def test_a_different_tag_on_the_connector_fails_the_pending_session(station, driver):
    t0 = base_time()
    session = open_session(driver, station, Limit("amount", amount=D("100")))
    result = ocpp_start(station, "STRANGER", at=t0)
    assert result.news is None
    assert_unbilled_and_released(session, status=Status.FAILED, reason=Reason.CONNECTOR_TAKEN)
    assert (wallet(driver).balance, wallet(driver).held) == (D("1000.00"), 0)
    assert ChargingSession.objects.count() == 1  # nobody owns STRANGER: no session for it
    before = money_state()
    ocpp_stop(station, result.transaction_id, meter_stop=9_000, at=t0 + timedelta(minutes=20))
    assert money_state() == before
    parked = ParkedMessage.objects.get(reason="unbilled_transaction")
    assert parked.transaction_id == result.transaction_id
    # the driver's own charger start comes too late: a session of its own, not the failed one
    assert fresh(session).status == Status.FAILED


def test_an_owned_card_taking_the_connector_gets_its_own_session(station, driver):
    owner = funded_client("500.00")
    IdTagFactory(id_tag="CARD-1", client=owner, kind=IdTag.Kind.RFID)
    session = open_session(driver, station, Limit("amount", amount=D("100")))
    result = ocpp_start(station, "CARD-1", at=base_time())
    assert_unbilled_and_released(session, status=Status.FAILED, reason=Reason.CONNECTOR_TAKEN)
    card = ChargingSession.objects.get(transaction_id=result.transaction_id)
    assert (card.client, card.origin, card.status, card.hold) == (
        owner,
        "id_tag",
        Status.CHARGING,
        None,
    )
    assert result.news.client_id == owner.pk


def test_an_owned_card_start_racing_an_app_start_on_the_connector(station, driver):
    """The app start committed its pending session just after the StartTransaction looked
    for one: the card's session must not collide with it (one pending per connector)."""
    from charging.session.follow import _owner_session

    owner = funded_client("100.00")
    tag = IdTagFactory(id_tag="RFID-RACE", client=owner)
    tx = OcppTransaction.objects.create(
        station=station,
        connector_number=1,
        id_tag="RFID-RACE",
        id_tag_status="Accepted",
        meter_start=0,
        started_at=base_time(),
    )
    pending = open_session(driver, station)
    card = _owner_session(tx, tag)
    assert (card.status, card.transaction_id, card.client) == (Status.CHARGING, tx.pk, owner)
    assert fresh(pending).status == Status.PENDING


# -- MeterValues ---------------------------------------------------------------------------


def live(session):
    s = fresh(session)
    return (
        s.energy_wh,
        s.power_w,
        s.soc_percent,
        s.cost,
        s.meter_at,
        s.energy_changed_at,
        s.stop_requested_at,
        s.stop_requested_by,
        s.stop_reason,
        s.status,
    )


def test_meter_values_move_the_live_figures(station, driver):
    t0 = base_time()
    session, tx = charging_session(driver, station, at=t0, limit=Limit("energy", energy_wh=20_000))
    at = t0 + timedelta(minutes=10)
    meter_values_record(
        station_id=station.pk,
        connector_id=1,
        transaction_id=tx,
        now=at,
        raw={},
        readings=meter_input(station, tx, wh=4_000, at=at, power=18_000, soc=40).readings,
    )
    s = fresh(session)
    assert (s.energy_wh, s.power_w, s.soc_percent, s.meter_at, s.energy_changed_at) == (
        3_000,
        18_000,
        40,
        at,
        at,
    )
    assert s.cost == D("46.00")  # 3 kWh x 12 + 10 min x 0.50 + 5
    assert s.status == Status.CHARGING and s.stop_requested_at is None
    later = t0 + timedelta(minutes=20)
    news = meter(station, tx, wh=7_000, at=later)  # no power reported: from the energy rate
    s = fresh(session)
    assert (s.energy_wh, s.power_w, s.soc_percent) == (6_000, 18_000, 40)
    assert s.cost == D("87.00")  # 72 + 10 + 5
    assert [n.event["cost"] for n in news] == ["87.00"] and news[0].stop is None
    assert news[0].event["percent_of_limit"] == 30 and news[0].client_id == driver.pk


def test_idle_meter_values_keep_when_the_energy_last_rose(station, driver):
    t0 = base_time()
    session, tx = charging_session(driver, station, at=t0)
    meter(station, tx, wh=3_000, at=t0 + timedelta(minutes=5))
    meter(station, tx, wh=3_000, at=t0 + timedelta(minutes=10), power=0)
    s = fresh(session)
    assert (s.energy_changed_at, s.meter_at, s.power_w) == (
        t0 + timedelta(minutes=5),
        t0 + timedelta(minutes=10),
        0,
    )


@pytest.mark.parametrize(
    ("limit", "register", "power", "reason"),
    [
        # energy 9 950 Wh + 18 kW x 30 s = 10 100 Wh
        (Limit("energy", energy_wh=10_000), 10_950, 18_000, Reason.ENERGY_LIMIT),
        # 5 kWh: 60 + 10 (20 min) + 5 = 75; + 30 s: 61.80 + 10.25 + 5 = 77.05
        (Limit("amount", amount=D("77")), 6_000, 18_000, Reason.AMOUNT_LIMIT),
        # hold 205: 15.95 kWh -> 191.40 + 10 + 5 = 206.40
        (Limit("none"), 16_950, 0, Reason.FUNDS_LIMIT),
    ],
)
def test_the_limit_stop_is_asked_for_once(station, driver, limit, register, power, reason):
    t0 = base_time()
    session, tx = charging_session(driver, station, at=t0, limit=limit)
    assert meter(station, tx, wh=2_000, at=t0 + timedelta(minutes=10), power=power)[0].stop is None
    news = meter(station, tx, wh=register, at=t0 + timedelta(minutes=20), power=power)
    assert news[0].stop == (session.pk, tx, reason)
    s = fresh(session)
    assert (s.status, s.stop_reason, s.stop_requested_by) == (Status.CHARGING, reason, "limit")
    assert s.stop_requested_at is not None
    # a later batch (the stop is on its way) and replays of it: no second stop
    later = meter_values_record_many(
        [
            meter_input(station, tx, wh=register + 100, at=t0 + timedelta(minutes=21), power=power),
            meter_input(station, tx, wh=register + 100, at=t0 + timedelta(minutes=21), power=power),
        ]
    )
    assert [n.stop for batch in later for n in batch] == [None]
    assert fresh(session).energy_wh == register + 100 - 1_000
    assert fresh(session).stop_requested_at == s.stop_requested_at


def test_a_refused_limit_stop_is_asked_for_again(station, driver):
    from charging.session.stop import session_stop_answered

    t0 = base_time()
    session, tx = charging_session(driver, station, at=t0, limit=Limit("energy", energy_wh=5_000))
    assert meter(station, tx, wh=6_500, at=t0 + timedelta(minutes=10))[0].stop is not None
    session_stop_answered(
        session_id=session.pk, result=CommandResult(command_id=3, status="rejected")
    )
    assert (fresh(session).status, fresh(session).stop_requested_at) == (Status.CHARGING, None)
    news = meter(station, tx, wh=6_600, at=t0 + timedelta(minutes=11))
    assert news[0].stop == (session.pk, tx, Reason.ENERGY_LIMIT)


def test_duplicate_meter_values_change_nothing(station, driver):
    t0 = base_time()
    session, tx = charging_session(driver, station, at=t0, limit=Limit("energy", energy_wh=8_000))
    report = meter_input(station, tx, wh=8_950, at=t0 + timedelta(minutes=15), power=11_000, soc=55)
    first = meter_values_record_many([report])[0]
    assert first[0].stop == (session.pk, tx, Reason.ENERGY_LIMIT)
    state = live(session)
    register = OcppTransaction.objects.values_list("last_meter_wh", "last_meter_at").get(pk=tx)
    for _ in range(2):
        again = meter_values_record_many([report])[0]
        assert [n.stop for n in again] == [None]
    assert live(session) == state
    assert (
        OcppTransaction.objects.values_list("last_meter_wh", "last_meter_at").get(pk=tx) == register
    )
    # an older reading replayed late changes nothing either
    meter(station, tx, wh=5_000, at=t0 + timedelta(minutes=5), power=3_000, soc=20)
    assert live(session)[:4] == state[:4]


def test_meter_values_of_finishing_sessions_still_move_figures_but_never_stop(
    station, driver, charger
):
    t0 = base_time()
    session, tx = charging_session(driver, station, at=t0, limit=Limit("energy", energy_wh=5_000))
    session_stop(session_id=session.pk, requested_by="client", reason=Reason.DRIVER)
    news = meter(station, tx, wh=9_000, at=t0 + timedelta(minutes=10), power=20_000)
    assert news[0].stop is None
    s = fresh(session)
    assert (s.status, s.energy_wh, s.stop_reason) == (Status.FINISHING, 8_000, Reason.DRIVER)


def test_meter_values_of_several_transactions_in_one_batch(station, driver):
    t0 = base_time()
    other = funded_client()
    s1, tx1 = charging_session(driver, station, at=t0, limit=Limit("energy", energy_wh=5_000))
    s2, tx2 = charging_session(
        other, station, at=t0, connector=2, limit=Limit("energy", energy_wh=50_000)
    )
    out = meter_values_record_many(
        [
            meter_input(station, tx1, wh=7_000, at=t0 + timedelta(minutes=5)),
            meter_input(station, tx2, wh=3_000, at=t0 + timedelta(minutes=5), connector=2),
        ]
    )
    assert [[n.stop for n in batch] for batch in out] == [[(s1.pk, tx1, "energy_limit")], [None]]
    assert (fresh(s1).energy_wh, fresh(s2).energy_wh) == (6_000, 2_000)


# -- StopTransaction bills -----------------------------------------------------------------


def expected_total(session, *, energy_wh, seconds, idle=0) -> Decimal:
    return (
        Quote.from_snapshot(session.tariff)
        .cost(energy_wh=energy_wh, charging_seconds=seconds, idle_seconds=idle)
        .total
    )


def test_stop_transaction_bills_the_hold_and_releases_the_rest(station, driver):
    t0 = base_time()
    session, tx = charging_session(driver, station, at=t0, limit=Limit("amount", amount=D("300")))
    result = ocpp_stop(station, tx, meter_stop=11_000, at=t0 + timedelta(minutes=30))
    s = fresh(session)
    assert s.final_cost == expected_total(s, energy_wh=10_000, seconds=1_800) == D("140.00")
    assert (s.status, s.settled, s.stop_reason, s.cost) == (
        Status.COMPLETED,
        True,
        Reason.CHARGER,
        D("140.00"),
    )
    assert (s.energy_wh, s.meter_stop_wh, s.ended_at) == (
        10_000,
        11_000,
        t0 + timedelta(minutes=30),
    )
    hold = s.hold
    assert (hold.status, hold.captured, hold.released) == ("released", D("140.00"), D("160.00"))
    w = wallet(driver)
    assert (w.balance, w.held, w.debt) == (D("860.00"), 0, 0)
    assert s.receipt["total"] == "140.00" and s.receipt["paid_from_hold"] == "140.00"
    assert (s.receipt["paid_from_balance"], s.receipt["debt"]) == ("0.00", "0.00")
    assert {line["kind"]: line["amount"] for line in s.receipt["lines"]} == {
        "energy": "120.00",
        "time": "15.00",
        "session_fee": "5.00",
    }
    assert [b.key for b in bills(s)] == [f"session:{s.pk}:capture"]
    assert result.news.event["final_cost"] == "140.00"
    assert_ledger_consistent()


def test_idle_time_after_the_energy_stopped_is_billed_as_idle(station, driver, rule):
    TariffRule.objects.filter(pk=rule.pk).update(
        idle_fee_per_minute=D("1.00"), idle_grace_minutes=5
    )
    t0 = base_time()
    session, tx = charging_session(driver, station, at=t0, limit=Limit("amount", amount=D("300")))
    meter(station, tx, wh=6_000, at=t0 + timedelta(minutes=10))
    meter(station, tx, wh=11_000, at=t0 + timedelta(minutes=20))
    ocpp_stop(station, tx, meter_stop=11_000, at=t0 + timedelta(minutes=30))
    s = fresh(session)
    # 20 min charging (10) + 10 min plugged in idle, 5 of them past the grace (5) + 120 + 5
    assert (
        s.final_cost == expected_total(s, energy_wh=10_000, seconds=1_200, idle=600) == D("140.00")
    )
    assert (s.receipt["charging_seconds"], s.receipt["idle_seconds"]) == (1_200, 600)
    assert wallet(driver).balance == D("860.00")
    assert_ledger_consistent()


def test_overrun_beyond_the_hold_comes_from_the_balance(station, driver):
    t0 = base_time()
    session, tx = charging_session(driver, station, at=t0, limit=Limit("amount", amount=D("50")))
    ocpp_stop(station, tx, meter_stop=11_000, at=t0 + timedelta(minutes=30))
    s = fresh(session)
    assert s.final_cost == D("140.00")
    assert (s.receipt["paid_from_hold"], s.receipt["paid_from_balance"], s.receipt["debt"]) == (
        "50.00",
        "90.00",
        "0.00",
    )
    w = wallet(driver)
    assert (w.balance, w.held, w.debt) == (D("860.00"), 0, 0)
    assert_ledger_consistent()


def test_overrun_beyond_the_balance_becomes_debt_never_a_negative_balance(station):
    client = funded_client("80.00")
    t0 = base_time()
    session, tx = charging_session(client, station, at=t0, limit=Limit("amount", amount=D("50")))
    ocpp_stop(station, tx, meter_stop=11_000, at=t0 + timedelta(minutes=30))
    s = fresh(session)
    assert (s.receipt["paid_from_hold"], s.receipt["paid_from_balance"], s.receipt["debt"]) == (
        "50.00",
        "30.00",
        "60.00",
    )
    w = wallet(client)
    assert (w.balance, w.held, w.debt) == (0, 0, D("60.00"))
    debt = Debt.objects.get()
    assert (debt.amount, debt.ref_type, debt.ref_id) == (D("60.00"), "session", str(s.pk))
    assert_ledger_consistent()
    fund(client, "100.00")  # the next top-up pays the debt first
    w = wallet(client)
    assert (w.balance, w.debt) == (D("40.00"), 0)
    assert_ledger_consistent()


def test_a_session_that_took_nothing_costs_its_session_fee_only(station, driver):
    t0 = base_time()
    session, tx = charging_session(driver, station, at=t0, limit=Limit("amount", amount=D("100")))
    ocpp_stop(station, tx, meter_stop=1_000, at=t0)
    s = fresh(session)
    assert (s.final_cost, wallet(driver).balance, wallet(driver).held) == (
        D("5.00"),
        D("995.00"),
        0,
    )
    assert_ledger_consistent()


def test_replayed_and_late_stop_transactions_bill_once(station, driver):
    t0 = base_time()
    session, tx = charging_session(driver, station, at=t0, limit=Limit("amount", amount=D("300")))
    stop_at = t0 + timedelta(minutes=30)
    ocpp_stop(station, tx, meter_stop=11_000, at=stop_at)
    after_bill = money_state()
    billed = fresh(session)
    again = ocpp_stop(station, tx, meter_stop=11_000, at=stop_at)  # identical replay
    assert again.news is None and not ParkedMessage.objects.exists()
    late = ocpp_stop(station, tx, meter_stop=15_000, at=stop_at + timedelta(minutes=5))
    assert late.news is None
    assert money_state() == after_bill
    s = fresh(session)
    assert (s.final_cost, s.meter_stop_wh, s.settled_at) == (D("140.00"), 11_000, billed.settled_at)
    assert len(bills(s)) == 1
    assert list(ParkedMessage.objects.values_list("reason", "transaction_id")) == [
        ("already_stopped", tx)
    ]
    assert_ledger_consistent()


def test_stop_transaction_for_an_unknown_transaction_is_parked(station, driver):
    before = money_state()
    ocpp_stop(station, 987_654, meter_stop=5_000, at=base_time())
    assert money_state() == before
    assert ParkedMessage.objects.get().reason == "unknown_transaction"


# -- id tags --------------------------------------------------------------------------------


def test_an_owned_card_is_billed_to_its_owner_without_a_hold(station):
    owner = funded_client("100.00")
    IdTagFactory(id_tag="RFID-1", client=owner, kind=IdTag.Kind.RFID)
    t0 = base_time()
    started = ocpp_start(station, "RFID-1", at=t0, meter_start=0)
    session = ChargingSession.objects.get(transaction_id=started.transaction_id)
    assert (session.client, session.origin, session.status, session.limit_type) == (
        owner,
        "id_tag",
        Status.CHARGING,
        "none",
    )
    assert (session.hold, session.hold_amount, session.id_tag) == (None, 0, "RFID-1")
    assert not Hold.objects.exists() and wallet(owner).held == 0
    # no limit and no hold: MeterValues never ask to stop it
    tx = started.transaction_id
    assert (
        meter(station, tx, wh=50_000, at=t0 + timedelta(minutes=20), power=50_000)[0].stop is None
    )
    ocpp_stop(station, tx, meter_stop=60_000, at=t0 + timedelta(minutes=30))
    s = fresh(session)
    # 60 kWh x 12 + 30 min x 0.50 + 5
    assert s.final_cost == expected_total(s, energy_wh=60_000, seconds=1_800) == D("740.00")
    assert [(b.kind, b.key, b.amount) for b in bills(s)] == [
        ("charge", f"session:{s.pk}:charge", D("740.00"))
    ]
    assert (s.receipt["paid_from_hold"], s.receipt["paid_from_balance"], s.receipt["debt"]) == (
        "0.00",
        "100.00",
        "640.00",
    )
    w = wallet(owner)
    assert (w.balance, w.held, w.debt) == (0, 0, D("640.00"))
    again = money_state()
    ocpp_stop(station, tx, meter_stop=60_000, at=t0 + timedelta(minutes=30))
    assert money_state() == again
    assert_ledger_consistent()


def test_an_owned_card_of_a_client_without_a_wallet_runs_into_debt(station):
    owner = new_client()
    IdTagFactory(id_tag="RFID-2", client=owner)
    t0 = base_time()
    tx = ocpp_start(station, "RFID-2", at=t0, meter_start=0).transaction_id
    ocpp_stop(station, tx, meter_stop=1_000, at=t0 + timedelta(minutes=2))
    w = wallet(owner)
    assert (w.balance, w.debt) == (0, D("18.00"))  # 12 + 1 + 5
    assert_ledger_consistent()


@pytest.mark.parametrize("tag", ["ANON-CARD", "NEVER-SEEN"])
def test_a_card_without_an_owner_is_parked_unbilled(station, driver, tag):
    IdTagFactory(id_tag="ANON-CARD", kind=IdTag.Kind.RFID)
    t0 = base_time()
    before = money_state()
    started = ocpp_start(station, tag, at=t0)
    assert started.news is None and not ChargingSession.objects.exists()
    meter(station, started.transaction_id, wh=5_000, at=t0 + timedelta(minutes=5))
    ocpp_stop(station, started.transaction_id, meter_stop=9_000, at=t0 + timedelta(minutes=10))
    assert money_state() == before
    parked = ParkedMessage.objects.get()
    assert (parked.reason, parked.transaction_id) == (
        "unbilled_transaction",
        started.transaction_id,
    )
    assert "8000 Wh" in parked.detail


def test_an_owned_card_where_no_tariff_applies_is_parked_unbilled(station):
    owner = funded_client("100.00")
    IdTagFactory(id_tag="RFID-3", client=owner)
    TariffRule.objects.all().delete()
    before = money_state()
    t0 = base_time()
    tx = ocpp_start(station, "RFID-3", at=t0).transaction_id
    ocpp_stop(station, tx, meter_stop=5_000, at=t0 + timedelta(minutes=10))
    assert not ChargingSession.objects.exists() and money_state() == before
    assert sorted(ParkedMessage.objects.values_list("action", "reason")) == [
        ("StartTransaction", "unbilled_transaction"),
        ("StopTransaction", "unbilled_transaction"),
    ]


# -- clockwork -----------------------------------------------------------------------------


def test_a_start_never_plugged_in_is_cancelled_after_10_minutes(station, driver):
    session = open_session(driver, station, Limit("amount", amount=D("100")))
    now = timezone.now()
    assert sessions_cancel_unplugged(now + timedelta(minutes=9)) == 0
    assert fresh(session).status == Status.PENDING
    assert sessions_cancel_unplugged(now + timedelta(minutes=11)) == 1
    assert sessions_cancel_unplugged(now + timedelta(minutes=12)) == 0
    assert_unbilled_and_released(session, status=Status.CANCELLED, reason=Reason.NO_PLUG_IN)
    assert (wallet(driver).balance, wallet(driver).held) == (D("1000.00"), 0)


def test_cancel_unplugged_leaves_charging_sessions_alone(station, driver):
    session, _ = charging_session(driver, station, at=base_time())
    assert sessions_cancel_unplugged(timezone.now() + timedelta(hours=1)) == 0
    assert fresh(session).status == Status.CHARGING


@pytest.mark.parametrize("answer", ["rejected", "offline", "timeout"])
def test_an_overlong_session_whose_stop_fails_is_closed_from_its_last_reading(
    station, driver, charger, answer
):
    t0 = timezone.now().replace(microsecond=0) - timedelta(hours=13)
    session, tx = charging_session(driver, station, at=t0, limit=Limit("none"))
    meter(station, tx, wh=6_000, at=t0 + timedelta(minutes=30))
    last = t0 + timedelta(minutes=60)
    meter(station, tx, wh=11_000, at=last)
    charger.answers = [answer]
    assert sessions_stop_overlong() == 1
    assert charger.actions() == ["RemoteStopTransaction"]
    assert charger.calls[0][1] == {"transactionId": tx}
    s = fresh(session)
    assert (s.status, s.stop_reason, s.settled) == (Status.COMPLETED, Reason.MAX_DURATION, True)
    assert (s.meter_stop_wh, s.energy_wh, s.ended_at) == (11_000, 10_000, last)
    assert s.final_cost == expected_total(s, energy_wh=10_000, seconds=3_600) == D("155.00")
    assert wallet(driver).balance == D("845.00") and wallet(driver).held == 0
    state = money_state()
    assert sessions_stop_overlong() == 0  # again: nothing to do, no second command
    assert charger.actions() == ["RemoteStopTransaction"] and money_state() == state
    # the charger's own StopTransaction turns up later and disagrees: parked, not billed
    ocpp_stop(station, tx, meter_stop=12_500, at=last + timedelta(minutes=5))
    assert money_state() == state and len(bills(s)) == 1
    assert ParkedMessage.objects.get().reason == "stop_after_settlement"
    assert_ledger_consistent()


def test_an_overlong_session_whose_stop_is_accepted_waits_for_the_charger(station, driver, charger):
    t0 = timezone.now().replace(microsecond=0) - timedelta(hours=13)
    session, tx = charging_session(driver, station, at=t0)
    assert sessions_stop_overlong(timezone.now() - timedelta(hours=2)) == 0  # not 12 h yet
    assert charger.calls == []
    assert sessions_stop_overlong() == 1
    s = fresh(session)
    assert (s.status, s.stop_reason, s.stop_requested_by) == (
        Status.FINISHING,
        Reason.MAX_DURATION,
        "auto-stop",
    )
    assert sessions_stop_overlong() == 0 and len(charger.calls) == 1
    ocpp_stop(station, tx, meter_stop=3_000, at=t0 + timedelta(hours=12, minutes=1))
    s = fresh(session)
    assert (s.status, s.stop_reason) == (Status.COMPLETED, Reason.MAX_DURATION)
    assert_ledger_consistent()


def test_a_stop_never_reported_is_closed_from_the_last_reading_after_30_minutes(
    station, driver, charger
):
    t0 = base_time()
    session, tx = charging_session(driver, station, at=t0, limit=Limit("amount", amount=D("300")))
    last = t0 + timedelta(minutes=30)
    meter(station, tx, wh=11_000, at=last)
    session_stop(session_id=session.pk, requested_by="client", reason=Reason.DRIVER)
    assert fresh(session).status == Status.FINISHING
    now = timezone.now()
    assert sessions_close_unreported(now + timedelta(minutes=29)) == 0
    assert fresh(session).status == Status.FINISHING
    assert sessions_close_unreported(now + timedelta(minutes=31)) == 1
    state = money_state()
    assert sessions_close_unreported(now + timedelta(minutes=32)) == 0
    assert session_close_unreported(session_id=session.pk, reason=Reason.NO_STOP_REPORTED) is False
    assert money_state() == state
    s = fresh(session)
    assert (s.status, s.stop_reason) == (Status.COMPLETED, Reason.DRIVER)
    assert (s.meter_stop_wh, s.ended_at) == (11_000, last)
    assert s.final_cost == expected_total(s, energy_wh=10_000, seconds=1_800) == D("140.00")
    assert wallet(driver).balance == D("860.00") and len(bills(s)) == 1
    # the StopTransaction comes after all, agreeing with the reading billed: nothing to do
    ocpp_stop(station, tx, meter_stop=11_000, at=last)
    assert money_state() == state and not ParkedMessage.objects.exists()
    assert_ledger_consistent()


def test_closing_a_session_that_never_started_cancels_it(station, driver):
    session = open_session(driver, station, Limit("amount", amount=D("100")))
    assert (
        session_close_unreported(
            session_id=session.pk, reason=Reason.OPERATOR, requested_by="staff:ops"
        )
        is True
    )
    assert_unbilled_and_released(session, status=Status.CANCELLED, reason=Reason.OPERATOR)
    assert fresh(session).stop_requested_by == "staff:ops"


# -- stop by the driver ----------------------------------------------------------------------


def test_driver_stop_of_a_pending_session_cancels_it(station, driver, charger):
    session = open_session(driver, station, Limit("amount", amount=D("100")))
    result = session_stop(session_id=session.pk, requested_by="client:7", reason=Reason.DRIVER)
    assert result.status == Status.CANCELLED and charger.calls == []
    assert fresh(session).stop_requested_by == "client:7"
    assert_unbilled_and_released(session, status=Status.CANCELLED, reason=Reason.DRIVER)
    assert (wallet(driver).balance, wallet(driver).held) == (D("1000.00"), 0)


def test_driver_stop_of_a_charging_session_sends_remote_stop(station, driver, charger):
    t0 = base_time()
    session, tx = charging_session(driver, station, at=t0, limit=Limit("amount", amount=D("300")))
    result = session_stop(session_id=session.pk, requested_by="client:7", reason=Reason.DRIVER)
    assert charger.calls == [("RemoteStopTransaction", {"transactionId": tx})]
    assert (result.status, result.stop_reason, result.stop_requested_by) == (
        Status.FINISHING,
        Reason.DRIVER,
        "client:7",
    )
    assert result.stop_requested_at is not None and not result.settled
    # asked again while finishing: returned as it is, nothing sent
    again = session_stop(session_id=session.pk, requested_by="client:7", reason=Reason.DRIVER)
    assert again.status == Status.FINISHING and len(charger.calls) == 1
    ocpp_stop(station, tx, meter_stop=11_000, at=t0 + timedelta(minutes=30), reason="Remote")
    s = fresh(session)
    assert (s.status, s.stop_reason, s.final_cost) == (Status.COMPLETED, Reason.DRIVER, D("140.00"))
    state = money_state()
    done = session_stop(session_id=session.pk, requested_by="client:7", reason=Reason.DRIVER)
    assert (done.status, done.final_cost) == (Status.COMPLETED, D("140.00"))
    assert len(charger.calls) == 1 and money_state() == state
    assert_ledger_consistent()


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        ("rejected", errors.StopFailed),
        ("timeout", errors.StopFailed),
        ("offline", errors.StationOffline),
    ],
)
def test_a_refused_driver_stop_leaves_the_session_charging(station, driver, charger, answer, error):
    session, _ = charging_session(driver, station, at=base_time())
    charger.answers = [answer]
    with pytest.raises(error):
        session_stop(session_id=session.pk, requested_by="client:7", reason=Reason.DRIVER)
    s = fresh(session)
    assert (s.status, s.stop_requested_at, s.stop_reason, s.settled) == (
        Status.CHARGING,
        None,
        "",
        False,
    )
    assert answer in s.failure_detail
    assert s.hold.status == "active" and bills(s) == []
    # the driver tries again and the charger takes it this time
    assert (
        session_stop(session_id=session.pk, requested_by="client:7", reason=Reason.DRIVER).status
        == Status.FINISHING
    )


def test_operator_stop_is_recorded_as_such(station, driver, charger):
    session, _ = charging_session(driver, station, at=base_time())
    s = session_stop(session_id=session.pk, requested_by="staff:ops", reason=Reason.OPERATOR)
    assert (s.status, s.stop_reason, s.stop_requested_by) == (
        Status.FINISHING,
        Reason.OPERATOR,
        "staff:ops",
    )


def test_stop_transaction_before_the_remote_stop_answer(station, driver, charger):
    t0 = base_time()
    session, tx = charging_session(driver, station, at=t0, limit=Limit("amount", amount=D("300")))
    charger.on_call = lambda action, payload: ocpp_stop(
        station, payload["transactionId"], meter_stop=11_000, at=t0 + timedelta(minutes=30)
    )
    result = session_stop(session_id=session.pk, requested_by="client:7", reason=Reason.DRIVER)
    assert (result.status, result.final_cost) == (Status.COMPLETED, D("140.00"))
    assert len(bills(result)) == 1 and wallet(driver).balance == D("860.00")
    assert_ledger_consistent()


def test_ledger_checks_catch_a_tampered_wallet(station, driver):
    """The consistency checks the tests above rely on do fail on a wrong wallet."""
    open_session(driver, station, Limit("amount", amount=D("100")))
    Wallet.objects.filter(client=driver).update(held=D("90.00"), balance=D("990.00"))
    assert list(ledger_invariant_violations().values_list("client_id", flat=True)) == [driver.pk]
    with pytest.raises(AssertionError):
        assert_ledger_consistent()


def test_the_maps_active_statuses_are_the_sessions_own():
    """stations reads active sessions without importing charging; the lists must agree."""
    from stations.selectors_map import ACTIVE_SESSION_STATUSES

    assert set(ACTIVE_SESSION_STATUSES) == set(ChargingSession.ACTIVE_STATUSES)
