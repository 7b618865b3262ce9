"""Every list page of our apps, and every CSV export, runs the same number of queries for
a few rows as for many: nothing is fetched per row (list_select_related, annotations,
prefetching, select_related of the export's columns).

The data is "worlds": one of everything (a site with a station, a driver with money, a
charge, a payment, the charger's logs...), each with its own related rows, so a column
that follows a relation without a join shows up as a query per row. The pages are
measured with a few worlds, then again with more.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.admin_scoping import OwnerScopedAdmin
from accounts.models import LoginSession
from accounts.roles import OWNER, roles_sync
from accounts.tests.factories import ClientFactory
from charging.models import MeterSample, OcppTransaction
from charging.parked_models import ParkedMessage
from charging.session.models import ChargingSession
from evpower.admin_csv import CsvExportMixin
from evpower.models import SecurityEvent
from maintenance.models import Backup
from ocpp_bridge.models import CommandRecord, OcppMessage
from payments.models import Debt, Payment, PaymentEvent, ReconciliationIssue
from payments.wallet import wallet_adjust, wallet_credit_topup, wallet_hold
from stations.models import (
    ChargerReport,
    ChargingProfile,
    ChargingProfileAssignment,
    DeviceVariable,
    LocalListState,
    Location,
    Reservation,
    StationEvent,
)
from stations.services import station_create
from stations.tariff_models import (
    ClientTariff,
    PromoCode,
    PromoRedemption,
    TariffAssignment,
)
from stations.tests.factories import IdTagFactory, TariffPlanFactory, TariffRuleFactory

pytestmark = pytest.mark.django_db

OUR_APPS = {"accounts", "stations", "charging", "payments", "ocpp_bridge", "maintenance"}
FEW, MORE = 2, 4  # worlds before, and added after the first measurement
_n = itertools.count(1)


def our_admins() -> list[tuple[type, admin.ModelAdmin]]:
    return sorted(
        (
            (model, model_admin)
            for model, model_admin in admin.site._registry.items()
            if model._meta.app_label in OUR_APPS
        ),
        key=lambda pair: pair[0]._meta.label,
    )


def world(*, owner, staff) -> None:
    """One of everything a list page shows, with related rows of its own."""
    n = next(_n)
    now = timezone.now()
    station = station_create(
        identity=f"CP-Q{n}",
        location_name=f"Site {n}",
        connectors=2,
        password="station-password-0001",
    ).station
    Location.objects.filter(pk=station.location_id).update(owner=owner, city=f"City {n}")
    connector = station.connectors.get(number=1)
    driver = ClientFactory(phone=f"+99677{n:07d}", name=f"Driver {n}")
    topup = wallet_credit_topup(
        client=driver, amount=Decimal("100.00"), payment_ref=f"q{n}", key=f"queries:{n}:topup"
    )
    wallet_adjust(
        client=driver,
        amount=Decimal("5.00"),
        reason="goodwill",
        author=staff,
        key=f"queries:{n}:adjust",
    )
    hold = wallet_hold(
        client=driver, amount=Decimal("20.00"), ref=("session", f"q{n}"), key=f"queries:{n}:hold"
    )
    Debt.objects.create(
        wallet=topup.wallet,
        transaction=topup,
        amount=Decimal("1.00"),
        ref_type="session",
        ref_id=f"q{n}",
    )
    LoginSession.objects.create(
        client=driver, refresh_jti=f"jti-{n}", expires_at=now + timedelta(days=1)
    )

    tx = OcppTransaction.objects.create(
        station=station,
        connector_number=1,
        id_tag=f"TAG{n}",
        id_tag_status="Accepted",
        meter_start=0,
        started_at=now - timedelta(hours=1),
        status=OcppTransaction.Status.STOPPED,
        last_meter_wh=1500,
        meter_stop=1500,
        stopped_at=now,
        stop_reason="Local",
    )
    ChargingSession.objects.create(
        client=driver,
        station=station,
        connector=connector,
        connector_number=1,
        id_tag=f"TAG{n}",
        status=ChargingSession.Status.COMPLETED,
        limit_type="none",
        tariff={"plan_name": "City"},
        hold=hold,
        hold_amount=Decimal("20.00"),
        transaction=tx,
        energy_wh=1500,
        cost=Decimal("18.00"),
        final_cost=Decimal("18.00"),
        settled=True,
        settled_at=now,
        ended_at=now,
        stop_reason=ChargingSession.StopReason.CHARGER,
    )
    MeterSample.objects.create(
        station=station,
        connector_number=1,
        transaction=tx,
        timestamp=now,
        measurand="Energy.Active.Import.Register",
        context="Sample.Periodic",
        unit="Wh",
        value="1500",
    )

    payment = Payment.objects.create(
        client=driver,
        provider="odengi",
        order_id=f"EVPQ{n:012d}",
        amount=Decimal("50.00"),
        provider_transaction_id=f"INV{n}",
        status=Payment.Status.PENDING,
        expires_at=now + timedelta(hours=1),
    )
    PaymentEvent.objects.create(
        payment=payment,
        provider="odengi",
        direction="in",
        kind="callback",
        verified=True,
        payload={"n": n},
    )
    ReconciliationIssue.objects.create(
        provider="odengi",
        day=now.date(),
        kind=ReconciliationIssue.Kind.MISSING_CREDIT,
        payment=payment,
        provider_transaction_id=f"INV{n}",
        their_amount=Decimal("50.00"),
        resolved_at=now,
        resolved_by=staff,
        resolution="credited",
    )

    OcppMessage.objects.create(
        station=station,
        identity=station.identity,
        direction="in",
        message_type=2,
        message_id=f"m{n}",
        action="Heartbeat",
        raw=f'[2,"m{n}","Heartbeat",{{}}]',
        created_at=now,
    )
    SecurityEvent.objects.create(
        station=station,
        identity=station.identity,
        source=SecurityEvent.Source.PLATFORM,
        kind="BadPassword",
        occurred_at=now,
    )
    CommandRecord.objects.create(
        station=station,
        action="Reset",
        payload={"type": "Soft"},
        status=CommandRecord.Status.ACCEPTED,
        response={"status": "Accepted"},
    )
    for reason in (ParkedMessage.Reason.UNBILLED_TRANSACTION, ParkedMessage.Reason.METER_BACKWARDS):
        ParkedMessage.objects.create(
            station=station,
            action="StopTransaction",
            reason=reason,
            transaction_id=tx.pk,
            payload={"transactionId": tx.pk},
            resolved_at=now,
            resolved_by=staff,
        )

    Reservation.objects.create(
        station=station, connector_number=1, id_tag=f"TAG{n}", expires_at=now + timedelta(hours=1)
    )
    parent = IdTagFactory(id_tag=f"FLEET{n}")
    IdTagFactory(id_tag=f"TAG{n}", parent=parent, client=driver)
    LocalListState.objects.create(station=station, version=1, tags=[f"TAG{n}"])
    DeviceVariable.objects.create(
        station=station,
        component="OCPPCommCtrlr",
        variable="HeartbeatInterval",
        value="300",
        updated_at=now,
    )
    StationEvent.objects.create(
        station=station,
        event_id=n,
        occurred_at=now,
        trigger="Alerting",
        notification_type="HardWiredMonitor",
        component="Connector",
        variable="Problem",
        actual_value="true",
        received_at=now,
    )
    ChargerReport.objects.create(
        station=station,
        kind=ChargerReport.Kind.MONITORING,
        payload={"requestId": n},
        received_at=now,
    )
    profile = ChargingProfile.objects.create(
        name=f"Cap {n}",
        charging_profile_id=1000 + n,
        purpose=ChargingProfile.Purpose.TX_DEFAULT,
        schedule_periods=[{"startPeriod": 0, "limit": 16.0}],
    )
    ChargingProfileAssignment.objects.create(
        profile=profile,
        station=station,
        connector_number=0,
        status=ChargingProfileAssignment.Status.ACCEPTED,
        sent_at=now,
    )

    plan = TariffPlanFactory(name=f"Plan {n}")
    TariffRuleFactory(plan=plan, price_per_kwh=Decimal("12.00"))
    TariffAssignment.objects.create(plan=plan, station=station)
    ClientTariff.objects.create(
        client=driver, name=f"Fleet {n}", discount_percent=Decimal("10"), station=station
    )
    code = PromoCode.objects.create(code=f"PROMO{n}", discount_percent=Decimal("10"))
    PromoRedemption.objects.create(client=driver, code=code, redeemed_at=now)
    Backup.objects.create(
        slot=f"manual:q{n}",
        status=Backup.Status.OK,
        file=f"/backups/q{n}.dump",
        size_bytes=1024 * n,
        started_at=now,
        finished_at=now,
    )


def shape(sql: str) -> str:
    return re.sub(r"\d+", "N", sql)


def measure(client, urls: dict[str, str]) -> dict[str, tuple[int, int, list[str]]]:
    """label → (queries, rows shown or exported, the queries' SQL) for each page."""
    found = {}
    for label, url in urls.items():
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
            body = b"".join(response.streaming_content) if response.streaming else b""
        assert response.status_code == 200, (label, response.status_code)
        if response.streaming:
            rows = body.decode("utf-8-sig").count("\n") - 1  # no newline inside our cells here
        else:
            rows = response.context_data["cl"].result_count
        found[label] = (len(queries), rows, [q["sql"] for q in queries.captured_queries])
    return found


def pages_and_exports(user) -> dict[str, str]:
    request = RequestFactory().get("/admin/")
    request.user = user
    urls = {}
    for model, model_admin in our_admins():
        opts = model._meta
        if not model_admin.has_view_or_change_permission(request):
            continue
        urls[f"{opts.label} list"] = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        if isinstance(model_admin, CsvExportMixin) and model_admin.has_export_permission(request):
            urls[f"{opts.label} csv"] = reverse(
                f"admin:{opts.app_label}_{opts.model_name}_export_csv"
            )
    return urls


def assert_fixed(client, user, *, owner, staff) -> dict[str, str]:
    client.force_login(user)
    urls = pages_and_exports(user)
    measure(client, urls)  # warm the process-wide caches (content types, permissions)
    before = measure(client, urls)
    for _ in range(MORE):
        world(owner=owner, staff=staff)
    after = measure(client, urls)

    growing = {
        label: (
            before[label][0],
            after[label][0],
            [
                sql
                for sql, count in (
                    Counter(map(shape, after[label][2])) - Counter(map(shape, before[label][2]))
                ).items()
            ],
        )
        for label in urls
        if after[label][0] != before[label][0]
    }
    assert growing == {}, "queries per row (before, after, the added queries)"
    # the pages did show more rows the second time (else nothing was measured)
    still = sorted(label for label in urls if after[label][1] <= before[label][1])
    assert still == [], f"no new rows on: {still}"
    return urls


@pytest.fixture
def people(django_user_model):
    roles_sync()
    owner = django_user_model.objects.create_user("site-owner", is_staff=True)
    owner.groups.add(Group.objects.get(name=OWNER))
    staff = django_user_model.objects.create_superuser("boss", "boss@example.kg", "pw-0123456789")
    for _ in range(FEW):
        world(owner=owner, staff=staff)
    return owner, staff


def test_every_list_page_and_export_runs_the_same_queries_for_more_rows(client, people):
    owner, staff = people

    urls = assert_fixed(client, staff, owner=owner, staff=staff)

    # every registered model of our apps was measured, with its export where it has one
    assert {label.rsplit(" ", 1)[0] for label in urls} == {
        model._meta.label for model, _ in our_admins()
    }
    assert {label for label in urls if label.endswith(" csv")} >= {
        "charging.ChargingSession csv",
        "charging.OcppTransaction csv",
        "payments.Payment csv",
        "payments.LedgerTransaction csv",
        "payments.ReconciliationIssue csv",
    }


def test_an_owners_scoped_pages_and_exports_run_the_same_queries_for_more_rows(client, people):
    owner, staff = people

    urls = assert_fixed(client, owner, owner=owner, staff=staff)

    scoped = {
        model._meta.label
        for model, model_admin in our_admins()
        if isinstance(model_admin, OwnerScopedAdmin)
    }
    assert {label.rsplit(" ", 1)[0] for label in urls} >= scoped
    assert "charging.ChargingSession csv" in urls


def test_the_query_check_sees_a_query_per_row(client, people, monkeypatch):
    # given: the session list without its joins (an N+1 on client and station)
    _owner, staff = people
    session_admin = admin.site._registry[ChargingSession]
    monkeypatch.setattr(session_admin, "list_select_related", ())
    monkeypatch.setattr(
        type(session_admin), "get_queryset", lambda self, request: ChargingSession.objects.all()
    )
    client.force_login(staff)
    url = {"sessions": reverse("admin:charging_chargingsession_changelist")}
    measure(client, url)
    before = measure(client, url)

    # when
    for _ in range(MORE):
        world(owner=_owner, staff=staff)

    # then
    assert measure(client, url)["sessions"][0] > before["sessions"][0]
