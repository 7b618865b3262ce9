"""The admin dashboard (evpower/dashboard, templates/admin/index.html): its figures for a
small built world, the lists its numbers link to, who sees what, and a fixed query count."""

from __future__ import annotations

import itertools
import json
import re
from datetime import timedelta
from decimal import Decimal
from html.parser import HTMLParser
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.roles import FINANCE, OPERATOR, OWNER, roles_sync
from charging.parked_models import ParkedMessage
from charging.session.models import ChargingSession
from cockpit.dashboard import selectors
from maintenance.models import Backup
from payments.models import Wallet
from payments.payment_models import ReconciliationIssue
from payments.tests.support import new_client
from payments.wallet import wallet_charge, wallet_credit_topup, wallet_refund
from stations.models import Connector, Location, Station
from stations.services import station_create
from stations.tests.factories import LocationFactory

pytestmark = pytest.mark.django_db

Status = ChargingSession.Status
D = Decimal
_keys = itertools.count()
INDEX = "/admin/"


@pytest.fixture(autouse=True)
def roles():
    roles_sync()  # the migration made them; a flushed test database may not have them


# --- the world ---------------------------------------------------------------------------


def station(
    identity: str,
    location: str,
    *,
    online: bool,
    status: str = "",
    connector_status: str = "Available",
) -> Station:
    made = station_create(identity=identity, location_name=location, connectors=1).station
    Station.objects.filter(pk=made.pk).update(
        connected=online, last_seen_at=timezone.now() if online else None, status=status
    )
    Connector.objects.filter(station=made).update(status=connector_status)
    made.refresh_from_db()
    return made


def session(
    at: Station, status: str, *, energy_wh: int = 0, created=None, ended=None, driver=None
) -> ChargingSession:
    ended_states = (Status.COMPLETED, Status.FAILED, Status.CANCELLED)
    made = ChargingSession.objects.create(
        client=driver or new_client(),
        station=at,
        connector=at.connectors.get(),
        connector_number=1,
        id_tag="DASH",
        status=status,
        settled=status in ended_states,
        limit_type=ChargingSession.LimitType.NONE,
        tariff={},
        energy_wh=energy_wh,
        ended_at=ended,
    )
    if created is not None:
        ChargingSession.objects.filter(pk=made.pk).update(created_at=created)
    return made


def at_time(moment):
    """Ledger rows are append-only (no UPDATE of created_at): write them at `moment`."""
    return mock.patch("django.utils.timezone.now", return_value=moment)


def charge(driver, amount: str, ref: int, moment) -> None:
    with at_time(moment):
        wallet_charge(
            client=driver, amount=D(amount), ref=("session", ref), key=f"dash:{next(_keys)}"
        )


class World:
    """Two sites: A (owned by `owner`) and B (nobody's).

    stations: A1 online; A2 offline with a faulted connector; B1 online, faulted on
    connector 0; B2 offline → 2 online, 2 offline, 2 faulted (owner: 1, 1, 1).
    sessions: A1 charging, completed today 5 kWh and 3 days ago 1 kWh, failed today;
    B1 pending, completed 20 days ago 7 kWh and 40 days ago 9 kWh, failed 3 days ago,
    cancelled today; B2 finishing.
    money (KGS): charged 100 today less 20 refunded, 50 three days ago, 30 twenty days ago,
    999 forty days ago, a top-up of 500 today; (UZS) charged 1000 today.
    """

    def __init__(self, owner=None):
        w = selectors.windows()
        self.now = w.now
        today = w.today + (w.now - w.today) / 2  # safely inside today (UTC)
        days = [today - timedelta(days=n) for n in (0, 3, 20, 40)]
        self.owner_location = LocationFactory(name="Site A", owner=owner)
        a1 = station("A1", "Site A", online=True)
        a2 = station("A2", "Site A", online=False, connector_status="Faulted")
        b1 = station("B1", "Site B", online=True, status="Faulted")
        b2 = station("B2", "Site B", online=False)
        self.stations = [a1, a2, b1, b2]
        session(a1, Status.CHARGING)
        session(a1, Status.COMPLETED, energy_wh=5000, ended=days[0])
        session(a1, Status.COMPLETED, energy_wh=1000, ended=days[1])
        session(a1, Status.FAILED, created=days[0], ended=days[0])
        session(b1, Status.PENDING)
        session(b1, Status.COMPLETED, energy_wh=7000, ended=days[2])
        session(b1, Status.COMPLETED, energy_wh=9000, ended=days[3])
        session(b1, Status.FAILED, created=days[1], ended=days[1])
        session(b1, Status.CANCELLED, created=days[0], ended=days[0])
        session(b2, Status.FINISHING)

        payer = new_client()
        with at_time(days[0]):
            wallet_credit_topup(
                client=payer, amount=D("500.00"), payment_ref="p1", key=f"dash:{next(_keys)}"
            )
        for amount, ref, moment in (
            ("100.00", 1, days[0]),
            ("50.00", 2, days[1]),
            ("30.00", 3, days[2]),
            ("999.00", 4, days[3]),
        ):
            charge(payer, amount, ref, moment)
        with at_time(days[0] + timedelta(seconds=1)):
            wallet_refund(
                client=payer, amount=D("20.00"), ref=("session", 1), key=f"dash:{next(_keys)}"
            )
        foreigner = new_client()
        Wallet.objects.create(client=foreigner, currency="UZS")
        charge(foreigner, "1000.00", 5, days[0])

        ParkedMessage.objects.create(
            station=b1,
            action="StopTransaction",
            payload={},
            reason=ParkedMessage.Reason.UNBILLED_TRANSACTION,
        )
        ParkedMessage.objects.create(
            station=b1,
            action="MeterValues",
            payload={},
            reason=ParkedMessage.Reason.METER_BACKWARDS,
        )
        ParkedMessage.objects.create(
            station=b1,
            action="StopTransaction",
            payload={},
            reason=ParkedMessage.Reason.UNBILLED_TRANSACTION,
            resolved_at=w.now,
        )
        issue = {
            "provider": "payme",
            "day": w.today.date(),
            "kind": ReconciliationIssue.Kind.MISSING_CREDIT,
        }
        ReconciliationIssue.objects.create(**issue, provider_transaction_id="t-open")
        ReconciliationIssue.objects.create(
            **issue, provider_transaction_id="t-done", resolved_at=w.now
        )
        backup("daily:ok", Backup.Status.OK, finished=w.now - timedelta(hours=2))
        self.latest_backup = backup(
            "manual:failed", Backup.Status.FAILED, finished=w.now - timedelta(hours=1)
        )


def backup(slot: str, status: str, *, finished) -> Backup:
    made = Backup.objects.create(slot=slot, status=status, finished_at=finished)
    Backup.objects.filter(pk=made.pk).update(created_at=finished - timedelta(minutes=5))
    return made


# --- reading the page --------------------------------------------------------------------


class Metrics(HTMLParser):
    """Every element with data-metric: its link and its text."""

    def __init__(self, html: str):
        super().__init__()
        self.found: dict[str, dict] = {}
        self.charts: list[dict] = []
        self._open: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "data-metric" in attrs:
            self.found[attrs["data-metric"]] = {"href": attrs.get("href"), "text": ""}
            self._open.append(attrs["data-metric"])
        if tag == "canvas" and "chart" in (attrs.get("class") or ""):
            self.charts.append(
                {"type": attrs["data-type"], "data": json.loads(attrs["data-value"])}
            )

    def handle_endtag(self, tag):
        if self._open and tag == "a":
            self._open.pop()

    def handle_data(self, data):
        if self._open:
            self.found[self._open[-1]]["text"] += data.strip()


def dashboard(client) -> Metrics:
    page = client.get(INDEX)
    assert page.status_code == 200
    return Metrics(page.content.decode())


def values(metrics: Metrics) -> dict[str, str]:
    return {name: found["text"] for name, found in metrics.found.items() if name != "top-stations"}


def rows_listed(client, href: str) -> int:
    page = client.get(href)
    assert page.status_code == 200, href  # a lookup the list refuses redirects (?e=1)
    return page.context["cl"].result_count


NETWORK = {
    "stations-online": "2",
    "stations-offline": "2",
    "stations-faulted": "2",
    "sessions-active": "3",
    "failed-starts-today": "1",
    "failed-starts-7d": "2",
    "energy-today": "5.000",
    "energy-7d": "6.000",
    "energy-30d": "13.000",
}
MONEY = {
    "revenue-today-kgs": "80.00",
    "revenue-7d-kgs": "130.00",
    "revenue-30d-kgs": "160.00",
    "revenue-today-uzs": "1000.00",
    "revenue-7d-uzs": "1000.00",
    "revenue-30d-uzs": "1000.00",
}
ATTENTION = {
    "parked-messages": "2",
    "billing-review": "1",
    "reconciliation-open": "1",
    "backup-status": "failed",
}


# --- figures and links -------------------------------------------------------------------


def test_a_superuser_sees_every_figure_of_the_world(client, staff_in):
    # given
    World()
    staff_in(None)

    # when
    metrics = dashboard(client)

    # then
    assert values(metrics) == {**NETWORK, **MONEY, **ATTENTION}


def test_each_number_links_to_a_list_of_exactly_the_rows_it_counts(client, staff_in):
    # given
    World()
    staff_in(None)
    metrics = dashboard(client)
    rows_behind = {  # what each list shows: money figures list their ledger transactions
        **{
            name: int(value)
            for name, value in NETWORK.items()
            if name.startswith(("stations", "sessions", "failed"))
        },
        "energy-today": 1,
        "energy-7d": 2,
        "energy-30d": 3,
        "revenue-today-kgs": 2,
        "revenue-7d-kgs": 3,
        "revenue-30d-kgs": 4,
        "revenue-today-uzs": 1,
        "revenue-7d-uzs": 1,
        "revenue-30d-uzs": 1,
        "parked-messages": 2,
        "billing-review": 1,
        "reconciliation-open": 1,
    }

    # when
    listed = {name: rows_listed(client, metrics.found[name]["href"]) for name in rows_behind}

    # then
    assert listed == rows_behind


def test_the_backup_figure_links_to_the_latest_run_and_says_when_backups_are_stale(
    client, staff_in
):
    # given: the newest run failed, the last good one is two days old
    world = World()
    Backup.objects.filter(status=Backup.Status.OK).update(finished_at=world.now - timedelta(days=2))
    staff_in(None)

    # when
    page = client.get(INDEX).content.decode()
    metrics = Metrics(page)

    # then
    assert metrics.found["backup-status"]["href"] == (
        f"/admin/maintenance/backup/{world.latest_backup.pk}/change/"
    )
    assert "older than a day" in page


def test_top_stations_are_ranked_by_energy_over_30_days_and_link_to_station_and_sessions(
    client, staff_in
):
    # given
    world = World()
    staff_in(None)

    # when
    page = client.get(INDEX).content.decode()

    # then: B1 7 kWh in one session, then A1 6 kWh in two (B1's 40-day-old one not counted)
    rows = [row for row in page.split('data-station="')[1:]]
    assert [row.split('"')[0] for row in rows] == ["B1", "A1"]
    b1 = world.stations[2]
    assert f'href="/admin/stations/station/{b1.pk}/change/"' in rows[0]
    assert ">7.000<" in rows[0]
    sessions_href = rows[0].split('<td class="cockpit-num"><a href="')[1].split('"')[0]
    assert rows_listed(client, sessions_href.replace("&amp;", "&")) == 1


def test_the_charts_draw_energy_and_revenue_per_day_without_inline_script(client, staff_in):
    # given
    World()
    staff_in(None)

    # when
    html = client.get(INDEX).content.decode()
    charts = Metrics(html).charts

    # then: 7-day bars and 30-day lines, for energy and for each currency's revenue
    assert [(c["type"], len(c["data"]["labels"])) for c in charts] == [("bar", 7), ("line", 30)] * 3
    energy_7, energy_30 = (c["data"]["datasets"][0]["data"] for c in charts[:2])
    assert (energy_30[-1], energy_30[-4], energy_30[-21]) == ("5.000", "1.000", "7.000")
    assert energy_7 == energy_30[-7:]
    kgs, uzs = (c["data"]["datasets"][0] for c in (charts[3], charts[5]))
    assert (kgs["label"], kgs["data"][-1], kgs["data"][-4], kgs["data"][-21]) == (
        "KGS",
        "80.00",
        "50.00",
        "30.00",
    )
    assert sum(D(v) for v in kgs["data"]) == D("160.00")
    assert (uzs["label"], uzs["data"][-1]) == ("UZS", "1000.00")
    # the CSP forbids inline script: every script on the page is a file
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []


# --- who sees what -----------------------------------------------------------------------


def test_an_owner_sees_only_their_own_figures_and_nothing_about_money(client, staff_in):
    # given
    owner = staff_in(OWNER)
    World(owner=owner)

    # when
    metrics = dashboard(client)

    # then: site A's stations A1 and A2 and A1's sessions; no money, parked items or backups
    assert values(metrics) == {
        "stations-online": "1",
        "stations-offline": "1",
        "stations-faulted": "1",
        "sessions-active": "1",
        "failed-starts-today": "1",
        "failed-starts-7d": "1",
        "energy-today": "5.000",
        "energy-7d": "6.000",
        "energy-30d": "6.000",
    }
    assert rows_listed(client, metrics.found["stations-faulted"]["href"]) == 1
    assert rows_listed(client, metrics.found["energy-30d"]["href"]) == 2


def test_finance_sees_money_figures_and_the_billing_queue_but_not_backups(client, staff_in):
    # given
    World()
    staff_in(FINANCE)

    # when
    metrics = values(dashboard(client))

    # then
    assert metrics == {**NETWORK, **MONEY, "billing-review": "1", "reconciliation-open": "1"}


def test_an_operator_sees_the_network_and_parked_messages_but_no_money(client, staff_in):
    # given
    World()
    staff_in(OPERATOR)

    # when
    metrics = values(dashboard(client))

    # then: the billing queue is readable with view_parkedmessage (its admin says so)
    assert metrics == {
        **NETWORK,
        "parked-messages": "2",
        "billing-review": "1",
        "backup-status": "failed",
    }


def test_a_staff_member_without_a_role_sees_no_figures(client, staff_in):
    # given
    World()
    user = get_user_model().objects.create_user("nobody", is_staff=True)
    client.force_login(user)

    # when
    metrics = dashboard(client)

    # then
    assert metrics.found == {}


# --- cost ----------------------------------------------------------------------------------


def grow(first: int, count: int) -> None:
    """More stations, each with an active, a completed and a failed session."""
    for n in range(first, first + count):
        at = station(
            f"X{n}",
            f"Site X{n % 3}",
            online=n % 2 == 0,
            connector_status="Faulted" if n % 5 == 0 else "Available",
        )
        session(at, Status.CHARGING)
        session(at, Status.COMPLETED, energy_wh=100 * (n + 1), ended=timezone.now())
        session(at, Status.FAILED, ended=timezone.now())
        charge(new_client(), "10.00", 1000 + n, timezone.now())


def queries_for_dashboard(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(INDEX).status_code == 200
    return len(queries)


@pytest.mark.parametrize("role", [None, OWNER, FINANCE])
def test_the_dashboard_costs_the_same_queries_for_2_and_for_20_stations(client, staff_in, role):
    # given
    user = staff_in(role)
    World(owner=user if role == OWNER else None)
    grow(0, 2)
    if role == OWNER:
        Location.objects.filter(name__startswith="Site X").update(owner=user)
    small = queries_for_dashboard(client)

    # when
    grow(2, 18)
    if role == OWNER:
        Location.objects.filter(name__startswith="Site X").update(owner=user)
    large = queries_for_dashboard(client)

    # then
    assert large == small
    assert Station.objects.count() == 24
