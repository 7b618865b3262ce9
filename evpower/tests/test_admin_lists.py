"""The list pages' filters and searches an operator or finance works with (what each one
finds, and that a site owner is offered only their own sites)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Client
from accounts.roles import OWNER, roles_sync
from accounts.tests.factories import ClientFactory
from charging.models import OcppTransaction
from charging.session.models import ChargingSession
from ocpp_bridge.models import CommandRecord
from payments.models import Debt, LedgerTransaction, Payment, ReconciliationIssue, Wallet
from payments.wallet import wallet_credit_topup, wallet_hold
from stations.models import IdTag, Location, Station
from stations.services import station_create
from stations.tests.factories import IdTagFactory

pytestmark = pytest.mark.django_db
_n = itertools.count(1)


def changelist(model, query: str = "") -> str:
    opts = model._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    return f"{url}?{query}" if query else url


def shown(client, model, query: str = "") -> list:
    page = client.get(changelist(model, query))
    assert page.status_code == 200, page
    return list(page.context_data["cl"].result_list)


def a_station(name: str | None = None, owner=None) -> Station:
    n = next(_n)
    station = station_create(
        identity=f"CP-L{n}",
        location_name=name or f"Site {n}",
        connectors=1,
        password="station-password-0001",
    ).station
    Location.objects.filter(pk=station.location_id).update(owner=owner)
    return station


def a_driver() -> Client:
    return ClientFactory(phone=f"+99655{next(_n):07d}")


def a_session(station: Station, driver: Client, **fields) -> ChargingSession:
    return ChargingSession.objects.create(
        client=driver,
        station=station,
        connector=station.connectors.get(number=1),
        connector_number=1,
        id_tag="APP",
        status="completed",
        limit_type="none",
        tariff={},
        settled=True,
        **fields,
    )


@pytest.fixture
def superuser(client, django_user_model):
    user = django_user_model.objects.create_superuser("boss", "boss@example.kg", "pw")
    client.force_login(user)
    return user


def test_an_owner_is_offered_only_their_own_sites_in_the_location_filters(
    client, django_user_model
):
    # given
    roles_sync()
    rival = django_user_model.objects.create_user("rival", is_staff=True)
    a_session(a_station("Rival's secret depot", owner=rival), a_driver())
    owner = django_user_model.objects.create_user("owner", is_staff=True)
    owner.groups.add(Group.objects.get(name=OWNER))
    mine = [a_station(f"My site {i}", owner=owner) for i in (1, 2)]
    for station in mine:
        a_session(station, a_driver())
    client.force_login(owner)

    # when
    sessions = client.get(changelist(ChargingSession)).content.decode()
    locations = client.get(changelist(Location)).content.decode()

    # then: the location filter (a path, station__location) and the owner filter are scoped
    assert "My site 1" in sessions and "My site 2" in sessions
    assert "secret depot" not in sessions and "rival" not in locations


def test_the_location_owner_filter_offers_only_users_who_own_a_site(
    client, superuser, django_user_model
):
    # given
    owner = django_user_model.objects.create_user("site-owner", is_staff=True)
    django_user_model.objects.create_user("just-staff", is_staff=True)
    a_station(owner=owner)
    a_station()

    # when
    page = client.get(changelist(Location))

    # then
    spec = next(s for s in page.context_data["cl"].filter_specs if s.field_path == "owner")
    assert [label for _pk, label in spec.lookup_choices] == ["site-owner"]


def test_sessions_are_found_by_the_chargers_transaction_id(client, superuser):
    # given
    station, driver = a_station(), a_driver()
    tx = OcppTransaction.objects.create(
        id=987654,
        station=station,
        connector_number=1,
        id_tag="T",
        id_tag_status="Accepted",
        meter_start=0,
        started_at=timezone.now(),
    )
    wanted = a_session(station, driver, transaction=tx)
    a_session(station, driver)

    # when / then
    assert shown(client, ChargingSession, "q=987655") == []
    assert shown(client, ChargingSession, "q=987654") == [wanted]


def test_wallets_in_debt_and_debts_still_owed(client, superuser):
    # given
    owing, paid_up = a_driver(), a_driver()
    for n, driver in enumerate((owing, paid_up)):
        topup = wallet_credit_topup(
            client=driver, amount=Decimal("10"), payment_ref=f"d{n}", key=f"lists:{n}"
        )
        Debt.objects.create(
            wallet=topup.wallet,
            transaction=topup,
            amount=Decimal("3"),
            settled=Decimal("3") if driver is paid_up else Decimal("1"),
        )
    Wallet.objects.filter(client=owing).update(balance=0, held=0, debt=Decimal("2"))
    wallet_hold(client=paid_up, amount=Decimal("4"), ref=("session", "1"), key="lists:hold")

    # when / then
    assert [w.client for w in shown(client, Wallet, "money=debt")] == [owing]
    assert [w.client for w in shown(client, Wallet, "money=held")] == [paid_up]
    assert [w.client for w in shown(client, Wallet, "money=available")] == [paid_up]
    assert [d.wallet.client for d in shown(client, Debt, "outstanding=yes")] == [owing]
    assert [d.wallet.client for d in shown(client, Debt, "outstanding=no")] == [paid_up]


def test_the_ledger_filters_by_what_a_row_refers_to_and_by_days(client, superuser):
    # given: a top-up and a hold for a session, today (the ledger is append-only: no
    # moving rows into the past)
    driver = a_driver()
    topup = wallet_credit_topup(client=driver, amount=Decimal("10"), payment_ref="p", key="lists:t")
    wallet_hold(client=driver, amount=Decimal("4"), ref=("session", "7"), key="lists:h")
    hold = LedgerTransaction.objects.get(kind=LedgerTransaction.Kind.HOLD)
    today = timezone.localdate()
    yesterday = today - timedelta(days=1)

    # when / then
    assert shown(client, LedgerTransaction, "ref_type=session") == [hold]
    assert shown(client, LedgerTransaction, "ref_type=payment") == [topup]
    assert shown(
        client, LedgerTransaction, f"created_at_from={today}&created_at_to={today}&ref_type=session"
    ) == [hold]
    assert shown(client, LedgerTransaction, f"created_at_to={yesterday}") == []
    assert shown(client, LedgerTransaction, f"created_at_from={today}") == [hold, topup]


def test_payments_paid_between_two_days_and_issues_of_statement_days(client, superuser):
    # given
    driver = a_driver()
    payments = [
        Payment.objects.create(
            client=driver,
            provider="odengi",
            order_id=f"EVPL{i}",
            amount=Decimal("5"),
            expires_at=timezone.now(),
            paid_at=datetime(2030, 3, day, 12, tzinfo=UTC),
        )
        for i, day in enumerate((1, 15, 31))
    ]
    issues = [
        ReconciliationIssue.objects.create(
            provider="odengi",
            day=date(2030, 3, day),
            kind=ReconciliationIssue.Kind.STUCK_PENDING,
            payment=payment,
        )
        for payment, day in zip(payments, (1, 15, 31), strict=True)
    ]

    # when / then
    assert (
        shown(client, Payment, "paid_at_from=2030-03-15&paid_at_to=2030-03-31") == payments[:0:-1]
    )
    assert (
        sorted(
            shown(client, ReconciliationIssue, "day_from=2030-03-01&day_to=2030-03-15"),
            key=lambda i: i.day,
        )
        == issues[:2]
    )


def test_id_tags_are_found_by_their_drivers_phone_and_filtered_by_having_one(client, superuser):
    # given
    driver = a_driver()
    owned = IdTagFactory(id_tag="CARD-OWNED", client=driver)
    IdTagFactory(id_tag="CARD-LOOSE")

    # when / then
    assert shown(client, IdTag, f"q={driver.phone[4:]}") == [owned]
    assert shown(client, IdTag, "client__isempty=0") == [owned]


def test_the_command_list_filters_by_action_without_reading_every_action(client, superuser):
    # given
    station = a_station()
    for action in ("Reset", "Reset", "UnlockConnector"):
        CommandRecord.objects.create(station=station, action=action)
    CommandRecord.objects.filter(action="UnlockConnector").update(
        created_at=timezone.now() - timedelta(days=1)
    )

    # when
    with CaptureQueriesContext(connection) as queries:
        found = shown(client, CommandRecord, "action=UnlockConnector")

    # then
    assert [c.action for c in found] == ["UnlockConnector"]
    assert not [
        q["sql"]
        for q in queries.captured_queries
        if 'DISTINCT "ocpp_bridge_commandrecord"."action"' in q["sql"]
    ]
