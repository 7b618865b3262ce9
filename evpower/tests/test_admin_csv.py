"""CSV export of admin lists (evpower/admin_csv.py): the rows the list shows (filters,
search, owner scoping), the cells finance reads (money, times, no formulas), who may
export, and the streaming answer under WSGI and ASGI."""

from __future__ import annotations

import csv
import io
import itertools
import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import Group, Permission
from django.test import AsyncClient
from django.urls import reverse
from django.utils import timezone

from accounts.models import Client
from accounts.roles import OPERATOR, OWNER, SUPPORT, roles_sync
from accounts.tests.factories import ClientFactory
from charging.session.models import ChargingSession
from evpower.admin_csv import csv_cell
from payments.models import LedgerTransaction, Payment, ReconciliationIssue
from payments.reconciliation import issues_csv
from payments.wallet import wallet_adjust, wallet_credit_topup
from stations.models import Location, Station
from stations.services import station_create

pytestmark = pytest.mark.django_db

SESSIONS = reverse("admin:charging_chargingsession_changelist")
SESSIONS_CSV = reverse("admin:charging_chargingsession_export_csv")
PAYMENTS_CSV = reverse("admin:payments_payment_export_csv")
LEDGER_CSV = reverse("admin:payments_ledgertransaction_export_csv")
ISSUES_CSV = reverse("admin:payments_reconciliationissue_export_csv")
Status = ChargingSession.Status
_n = itertools.count(1)


# -- factories -----------------------------------------------------------------------------


def a_station(owner=None) -> Station:
    n = next(_n)
    station = station_create(
        identity=f"CP-CSV{n}",
        location_name=f"Site {n}",
        connectors=2,
        password="station-password-0001",
    ).station
    if owner is not None:
        Location.objects.filter(pk=station.location_id).update(owner=owner)
    return station


def a_driver(phone: str | None = None) -> Client:
    return ClientFactory(phone=phone or f"+99655{next(_n):07d}")


def a_session(
    station: Station, driver: Client, *, status=Status.COMPLETED, **fields
) -> ChargingSession:
    ended = status in (Status.COMPLETED, Status.FAILED, Status.CANCELLED)
    defaults = {
        "energy_wh": 2500,
        "cost": Decimal("30.00"),
        "final_cost": Decimal("30.00") if ended else None,
    }
    return ChargingSession.objects.create(
        client=driver,
        station=station,
        connector=station.connectors.get(number=1),
        connector_number=1,
        id_tag="APP",
        status=status,
        limit_type="none",
        tariff={},
        settled=ended,
        **{**defaults, **fields},
    )


def a_payment(driver: Client, **fields) -> Payment:
    n = next(_n)
    return Payment.objects.create(
        **{
            "client": driver,
            "provider": "odengi",
            "order_id": f"EVPCSV{n:010d}",
            "amount": Decimal("100.00"),
            "provider_transaction_id": f"INV-{n}",
            "expires_at": timezone.now() + timedelta(hours=1),
            **fields,
        }
    )


@pytest.fixture(autouse=True)
def roles():
    roles_sync()


@pytest.fixture
def login(client, django_user_model):
    """Log `client` in as a new staff member with a role, or with exact permissions."""

    def log_in(role: str | None = None, *codenames: str, superuser: bool = False):
        name = f"staff{next(_n)}"
        if superuser:
            user = django_user_model.objects.create_superuser(name, f"{name}@example.kg", "pw")
        else:
            user = django_user_model.objects.create_user(name, is_staff=True)
        if role:
            user.groups.add(Group.objects.get(name=role))
        user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
        client.force_login(user)
        return user

    return log_in


def download(client, url: str, query: str = "") -> list[dict[str, str]]:
    response = client.get(f"{url}?{query}" if query else url)
    assert response.status_code == 200, response
    body = b"".join(response.streaming_content)
    assert body.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel reads the Cyrillic right
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


def listed_ids(client, query: str) -> list[int]:
    page = client.get(f"{SESSIONS}?{query}")
    assert page.status_code == 200
    return [session.pk for session in page.context_data["cl"].result_list]


# -- the rows: the list's --------------------------------------------------------------------


def test_a_filtered_and_searched_list_exports_exactly_its_rows(client, login):
    # given
    login(superuser=True)
    here, there = a_station(), a_station()
    aida, bakyt = a_driver("+996700111001"), a_driver("+996700111002")
    done = a_session(here, aida)
    charging = a_session(here, aida, status=Status.CHARGING)
    elsewhere = a_session(there, aida)
    other_driver = a_session(here, bakyt)

    # when / then: a filter, a search, both, and a related filter, in the list's order
    for query, expected in [
        ("status__exact=completed", [other_driver, elsewhere, done]),
        ("q=%2B996700111001", [elsewhere, charging, done]),
        ("status__exact=completed&q=%2B996700111001", [elsewhere, done]),
        (f"station__id__exact={there.pk}", [elsewhere]),
        (f"station__location__id__exact={here.location_id}&o=1", None),  # ordered by id
        ("", [other_driver, elsewhere, charging, done]),
    ]:
        rows = download(client, SESSIONS_CSV, query)
        exported = [int(row["id"]) for row in rows]
        assert exported == listed_ids(client, query), query
        if expected is not None:
            assert exported == [s.pk for s in expected], query
    ordered = [
        int(row["id"])
        for row in download(
            client, SESSIONS_CSV, f"station__location__id__exact={here.location_id}&o=1"
        )
    ]
    assert ordered == sorted([done.pk, charging.pk, other_driver.pk])


def test_the_export_ignores_the_page_and_exports_every_matching_row(client, login):
    # given: more sessions than one page holds
    login(superuser=True)
    station, driver = a_station(), a_driver()
    ChargingSession.objects.bulk_create(
        [
            ChargingSession(
                client=driver,
                station=station,
                connector=station.connectors.get(number=1),
                connector_number=1,
                id_tag="APP",
                status=Status.COMPLETED,
                limit_type="none",
                tariff={},
                settled=True,
            )
            for _ in range(130)
        ]
    )

    # when
    rows = download(client, SESSIONS_CSV, "p=2")

    # then
    assert len(rows) == 130


def test_a_day_range_keeps_whole_days(client, login):
    # given: sessions late on the 10th, on the 11th, and early on the 12th (UTC)
    login(superuser=True)
    station, driver = a_station(), a_driver()
    late, inside, next_day = (a_session(station, driver) for _ in range(3))
    for session, at in (
        (late, datetime(2030, 5, 10, 23, 30, tzinfo=UTC)),
        (inside, datetime(2030, 5, 11, 12, 0, tzinfo=UTC)),
        (next_day, datetime(2030, 5, 12, 0, 10, tzinfo=UTC)),
    ):
        ChargingSession.objects.filter(pk=session.pk).update(created_at=at)

    # when
    rows = download(client, SESSIONS_CSV, "created_at_from=2030-05-10&created_at_to=2030-05-11")

    # then: the "to" day is included up to its last minute, the next one is not
    assert [int(row["id"]) for row in rows] == [inside.pk, late.pk]


def test_invalid_filters_are_refused(client, login):
    login(superuser=True)

    response = client.get(f"{SESSIONS_CSV}?status__exact=completed&no_such_field=1")

    assert response.status_code == 400


# -- the cells -------------------------------------------------------------------------------


def test_money_and_times_come_as_finance_reads_them(client, login):
    # given
    login(superuser=True)
    driver = a_driver("+996700222333")
    paid_at = datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    payment = a_payment(driver, amount=Decimal("1234.50"), status=Payment.Status.PENDING)
    Payment.objects.filter(pk=payment.pk).update(paid_at=paid_at)
    session = a_session(
        a_station(), driver, energy_wh=12345, cost=Decimal("148.14"), final_cost=Decimal("148.14")
    )

    # when
    [paid] = download(client, PAYMENTS_CSV)
    [charge] = download(client, SESSIONS_CSV)

    # then
    assert paid["amount"] == "1234.50" and paid["currency"] == "KGS"
    assert paid["paid at"] == "2030-01-02T03:04:05+00:00"  # ISO 8601, UTC
    assert paid["cancelled at"] == ""  # None is empty
    assert paid["order id"] == payment.order_id and paid["status"] == "pending"
    assert paid["client phone"] == "'+996700222333"  # text, not a number to Excel
    assert charge["energy (kWh)"] == "12.345" and charge["final cost"] == "148.14"
    assert charge["settled"] == "true" and charge["id"] == str(session.pk)
    assert datetime.fromisoformat(charge["created at"]).utcoffset() == timedelta(0)


def test_a_debit_stays_a_number_and_the_ledger_names_its_author(client, login):
    # given
    boss = login(superuser=True)
    driver = a_driver()
    wallet_credit_topup(client=driver, amount=Decimal("50"), payment_ref="p1", key="csv:topup")
    wallet_adjust(
        client=driver,
        amount=Decimal("-12.50"),
        reason='=HYPERLINK("x")',
        author=boss,
        key="csv:adjust",
    )

    # when
    rows = {row["kind"]: row for row in download(client, LEDGER_CSV)}

    # then: our own negative amount is not turned into text; their formula is
    adjustment = rows[LedgerTransaction.Kind.ADJUSTMENT]
    assert adjustment["amount"] == "-12.50"
    assert adjustment["balance after"] == "37.50"
    assert adjustment["author"] == boss.username
    assert adjustment["reason"] == '\'=HYPERLINK("x")'
    assert rows[LedgerTransaction.Kind.TOPUP]["author"] == ""


@pytest.mark.parametrize("text", ["=1+1", "+1+1", "-1+1", "@SUM(A1)", "\tcmd", "\rcmd"])
def test_a_cell_a_spreadsheet_would_run_gets_an_apostrophe(client, login, text):
    # given: a charger's words in a session's failure detail
    login(superuser=True)
    a_session(a_station(), a_driver(), status=Status.FAILED, failure_detail=text)

    # when
    [row] = download(client, SESSIONS_CSV)

    # then
    assert row["failure detail"] == "'" + text


def test_plain_cells():
    assert [
        csv_cell(v)
        for v in (None, True, False, 7, Decimal("-0.50"), Decimal("1E+3"), "Бишкек", "a=b", "")
    ] == ["", "true", "false", "7", "-0.50", "1000", "Бишкек", "a=b", ""]
    almaty = timezone.get_fixed_timezone(360)
    assert csv_cell(datetime(2030, 1, 2, 9, 0, tzinfo=almaty)) == "2030-01-02T03:00:00+00:00"


def test_reconciliation_issues_export_in_the_columns_of_the_selected_rows_csv(client, login):
    # given
    login(superuser=True)
    payment = a_payment(a_driver(), status=Payment.Status.PENDING)
    ReconciliationIssue.objects.create(
        provider="odengi",
        day=timezone.now().date(),
        kind=ReconciliationIssue.Kind.MISSING_CREDIT,
        payment=payment,
        their_amount=Decimal("100.00"),
        detail="paid at the provider",
    )
    ReconciliationIssue.objects.create(
        provider="odengi",
        day=timezone.now().date(),
        kind=ReconciliationIssue.Kind.UNKNOWN_AT_PROVIDER,
        provider_transaction_id="=cmd",
        our_amount=Decimal("5"),
    )

    # when
    response = client.get(ISSUES_CSV)
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    listed = list(csv.reader(io.StringIO(body)))

    # then: the columns of the "Export CSV" action's file (headers for people, not
    # snake_case), the same cells, then more columns
    selected = list(csv.reader(io.StringIO(issues_csv(ReconciliationIssue.objects.all()))))
    width = len(selected[0])
    assert [h.replace(" ", "_") for h in listed[0][:width]] == selected[0]
    assert listed[0][width:] == ["currency", "resolved by", "id"]
    assert sorted(row[:width] for row in listed[1:]) == sorted(selected[1:])
    assert {row[width] for row in listed[1:]} == {"KGS", ""}  # the payment's, if any


def test_the_file_is_named_for_the_model_and_the_day(client, login):
    login(superuser=True)

    response = client.get(PAYMENTS_CSV)

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    stamp = timezone.localtime().strftime("%Y%m%d")
    assert response["Content-Disposition"].startswith(f'attachment; filename="payment-{stamp}-')
    assert response["Content-Disposition"].endswith('.csv"')


# -- who may export ------------------------------------------------------------------------


def test_an_owner_exports_only_their_own_stations_sessions(client, login, django_user_model):
    # given: two stations each (Django drops a filter offering a single choice, and with
    # it the filter's parameter)
    someone_else = django_user_model.objects.create_user("other-owner", is_staff=True)
    theirs = [a_session(a_station(owner=someone_else), a_driver()) for _ in range(2)]
    owner = login(OWNER)
    mine = [a_session(a_station(owner=owner), a_driver()) for _ in range(2)]

    # when
    everything = download(client, SESSIONS_CSV)
    one_of_mine = download(client, SESSIONS_CSV, f"station__id__exact={mine[0].station_id}")
    asked_for_theirs = download(client, SESSIONS_CSV, f"station__id__exact={theirs[0].station_id}")

    # then
    assert [int(row["id"]) for row in everything] == [s.pk for s in reversed(mine)]
    assert [int(row["id"]) for row in one_of_mine] == [mine[0].pk]
    assert asked_for_theirs == []


def test_seeing_a_list_through_an_action_permission_is_not_enough(client, login):
    # given: may stop sessions (and so sees the list) but has no view permission
    login(None, "stop_chargingsession")
    a_session(a_station(), a_driver())

    # when
    page = client.get(SESSIONS)
    export = client.get(SESSIONS_CSV)

    # then
    assert page.status_code == 200
    assert 'data-role="export-csv"' not in page.content.decode()
    assert export.status_code == 403


def test_a_staff_member_without_the_view_permission_gets_403(client, login):
    login(None)

    assert client.get(SESSIONS_CSV).status_code == 403
    assert client.get(PAYMENTS_CSV).status_code == 403


def test_support_exports_payments_and_the_ledger_it_may_view_but_not_reconciliation(client, login):
    # given: support reads payments and the ledger (accounts/roles.py), not the issues
    login(SUPPORT)
    a_payment(a_driver())

    # when / then
    assert len(download(client, PAYMENTS_CSV)) == 1
    assert client.get(LEDGER_CSV).status_code == 200
    assert client.get(ISSUES_CSV).status_code == 403


def test_an_operator_cannot_export_payments(client, login):
    login(OPERATOR)

    assert client.get(PAYMENTS_CSV).status_code == 403
    assert client.get(SESSIONS_CSV).status_code == 200


# -- the button and the log ------------------------------------------------------------------


def test_the_lists_button_carries_its_filters(client, login):
    login(superuser=True)

    page = client.get(f"{SESSIONS}?status__exact=completed&q=CP-1").content.decode()

    assert 'data-role="export-csv"' in page
    assert f'href="{SESSIONS_CSV}?status__exact=completed&amp;q=CP-1"' in page


def test_each_export_is_logged_with_the_user_and_the_row_count(client, login, caplog):
    # given
    user = login(superuser=True)
    station, driver = a_station(), a_driver()
    a_session(station, driver)
    a_session(station, driver, status=Status.FAILED)

    # when
    with caplog.at_level(logging.INFO, logger="evpower.admin"):
        download(client, SESSIONS_CSV, "status__exact=completed")

    # then
    [record] = [r for r in caplog.records if r.name == "evpower.admin"]
    assert record.getMessage().startswith(
        f"csv export of charging.ChargingSession by {user.username}: 1 row(s);"
    )
    assert "status__exact=completed" in record.getMessage()


# -- streaming -------------------------------------------------------------------------------


def test_under_asgi_the_export_streams_asynchronously(login, client):
    # given: the production server speaks ASGI
    user = login(superuser=True)
    station, driver = a_station(), a_driver()
    sessions = [a_session(station, driver) for _ in range(3)]
    asgi = AsyncClient()
    asgi.force_login(user)

    async def fetch():
        response = await asgi.get(SESSIONS_CSV)
        return response, b"".join([chunk async for chunk in response.streaming_content])

    # when
    response, body = async_to_sync(fetch)()

    # then: an async iterator (Django would read a plain one whole before sending it)
    assert response.status_code == 200 and response.is_async
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    assert [int(row["id"]) for row in rows] == [s.pk for s in reversed(sessions)]
