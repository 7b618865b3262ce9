"""The client page in the admin (cockpit/client_admin.py): its tabs for support and finance, Block /
Unblock through the services with a reason, the wallet adjustment reused from the wallet
admin, who may do what, and a query count that does not grow with the client's history."""

from __future__ import annotations

import itertools
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from auditlog.models import LogEntry
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Client, ClientStatusChange, Device, LoginSession
from accounts.roles import FINANCE, OWNER, SUPPORT, roles_sync
from accounts.services import (
    client_anonymise,
    client_block,
    client_request_deletion,
    client_unblock,
)
from accounts.tests.factories import ClientFactory
from accounts.tests.support import assert_error, authed
from accounts.tokens import session_start
from charging.session.models import ChargingSession
from evpower.api.errors import ApiError
from payments.models import LedgerTransaction, Wallet
from payments.payment_models import Payment
from payments.wallet import wallet_credit_topup
from stations.services import station_create

pytestmark = pytest.mark.django_db

D = Decimal
_seq = itertools.count(1)


@pytest.fixture(autouse=True)
def roles():
    roles_sync()  # the migration made them; a flushed test database may not have them


def page_url(driver: Client) -> str:
    return reverse("admin:accounts_client_change", args=[driver.pk])


def block_url(driver: Client) -> str:
    return reverse("admin:accounts_client_block", args=[driver.pk])


def unblock_url(driver: Client) -> str:
    return reverse("admin:accounts_client_unblock", args=[driver.pk])


def adjust_url(driver: Client) -> str:
    return reverse("admin:accounts_client_adjust_wallet", args=[driver.pk])


def new_driver(**kwargs) -> Client:
    return ClientFactory(phone=f"+99677{next(_seq):07d}", **kwargs)


def with_history(driver: Client, rows: int) -> Client:
    """`rows` each of top-ups (ledger), charging sessions, payments, devices and logins."""
    station = station_create(identity=f"CP-{next(_seq)}", location_name="Site").station
    connector = station.connectors.get()
    for n in range(rows):
        ref = next(_seq)
        wallet_credit_topup(
            client=driver, amount=D("10.00"), payment_ref=f"p{ref}", key=f"test:page:{ref}"
        )
        ChargingSession.objects.create(
            client=driver,
            station=station,
            connector=connector,
            connector_number=1,
            id_tag="PAGE",
            status=ChargingSession.Status.COMPLETED,
            settled=True,
            limit_type=ChargingSession.LimitType.NONE,
            tariff={},
            energy_wh=1000 + n,
            cost=D("3.00"),
            final_cost=D("3.00"),
            ended_at=timezone.now(),
        )
        Payment.objects.create(
            client=driver,
            provider="odengi",
            order_id=f"EVPTEST{ref}",
            amount=D("10.00"),
            status=Payment.Status.EXPIRED,
            expires_at=timezone.now(),
        )
        Device.objects.create(
            client=driver,
            kind=Device.Kind.WEBPUSH,
            token=f"https://fcm.googleapis.com/fcm/send/device{ref}",
        )
        session_start(client=driver, ip="10.0.0.1", user_agent="EvPower/2.1 Android")
    return driver


def live_logins(driver: Client) -> int:
    return LoginSession.objects.filter(client=driver, revoked_at__isnull=True).count()


# --- what each role sees ------------------------------------------------------------------


def test_support_sees_every_tab_with_the_clients_data(client, staff_in):
    # given
    driver = with_history(new_driver(name="Aida"), 2)
    staff_in(SUPPORT)

    # when
    response = client.get(page_url(driver))

    # then
    assert response.status_code == 200
    page = response.content.decode()
    for tab in ("Profile", "Wallet &amp; ledger", "Sessions", "Payments", "Devices and logins"):
        assert tab in page
    wallet = Wallet.objects.get(client=driver)
    assert "20.00 KGS" in page  # balance: two top-ups of 10
    assert f"?wallet__id__exact={wallet.pk}" in page  # the full ledger of this wallet
    session = ChargingSession.objects.filter(client=driver).latest("id")
    assert reverse("admin:charging_chargingsession_change", args=[session.pk]) in page
    assert f"?client__id__exact={driver.pk}" in page  # filtered session / payment lists
    assert Payment.objects.filter(client=driver).latest("id").order_id in page
    assert "browser: Chrome" in page  # the device's platform, from its push endpoint
    assert "EvPower/2.1 Android" in page  # logins (support may view them)
    assert block_url(driver) in page  # support blocks
    assert adjust_url(driver) not in page  # ... but does not adjust wallets
    assert "postings" not in page  # nor read ledger postings
    assert 'name="name"' in page  # and may correct the name


def test_finance_sees_money_with_postings_and_may_adjust_but_not_block(client, staff_in):
    # given
    driver = with_history(new_driver(), 2)
    staff_in(FINANCE)

    # when
    response = client.get(page_url(driver))

    # then
    assert response.status_code == 200
    page = response.content.decode()
    assert "postings" in page
    assert re.search(r"provider.clearing -10\.00", page, re.IGNORECASE)  # a top-up's posting
    assert adjust_url(driver) in page
    assert block_url(driver) not in page and unblock_url(driver) not in page
    assert "EvPower/2.1 Android" not in page  # finance does not read logins
    assert 'name="name"' not in page  # a read-only profile


def test_an_owner_cannot_see_clients_at_all(client, staff_in):
    # given
    driver = new_driver()
    staff_in(OWNER)

    # then
    assert client.get(reverse("admin:accounts_client_changelist")).status_code == 403
    assert client.get(page_url(driver)).status_code == 403
    assert client.get(block_url(driver)).status_code == 403
    assert client.post(block_url(driver), {"preset": "fraud"}).status_code == 403
    assert Client.objects.get(pk=driver.pk).status == Client.Status.ACTIVE


# --- block and unblock ------------------------------------------------------------------


def test_blocking_through_the_page_logs_the_driver_out_and_keeps_the_reason(client, staff_in):
    # given: a driver logged in on two phones
    driver = new_driver()
    first, second = session_start(client=driver), session_start(client=driver)
    user = staff_in(SUPPORT)
    form = client.get(block_url(driver))
    assert form.status_code == 200
    assert "2 active logins" in form.content.decode()

    # when
    response = client.post(block_url(driver), {"preset": "fraud", "note": "card chargeback"})

    # then
    assert response.status_code == 302 and response.url == page_url(driver)
    driver.refresh_from_db()
    assert driver.status == Client.Status.BLOCKED
    assert live_logins(driver) == 0
    assert set(
        LoginSession.objects.filter(client=driver).values_list("revoke_reason", flat=True)
    ) == {LoginSession.RevokeReason.BLOCKED}
    for tokens in (first, second):
        assert_error(authed(tokens.access).get("/api/v1/me"), 401, "TOKEN_INVALID")
    change = ClientStatusChange.objects.get(client=driver)
    assert (change.status_before, change.status, change.reason, change.by, change.author) == (
        "active",
        "blocked",
        "Suspected fraud: card chargeback",
        f"staff:{user.username}",
        user,
    )
    audited = LogEntry.objects.get_for_object(driver).get(action=LogEntry.Action.UPDATE)
    assert (audited.actor, audited.changes_dict["status"]) == (user, ["active", "blocked"])
    page = client.get(page_url(driver)).content.decode()
    assert (
        f"Blocked on {timezone.localtime(change.created_at):%Y-%m-%d %H:%M} by "
        f"staff:{user.username}: Suspected fraud: card chargeback" in page
    )
    assert unblock_url(driver) in page and block_url(driver) not in page


def test_unblocking_through_the_page_lets_the_driver_back_in(client, staff_in):
    # given
    driver = new_driver()
    client_block(client_id=driver.pk, reason="fraud", by="support:ops")
    user = staff_in(SUPPORT)

    # when
    response = client.post(unblock_url(driver), {"preset": "", "note": "the bank confirmed"})

    # then
    assert response.status_code == 302
    driver.refresh_from_db()
    assert driver.status == Client.Status.ACTIVE
    latest = ClientStatusChange.objects.filter(client=driver).first()
    assert (latest.status, latest.reason, latest.author) == ("active", "the bank confirmed", user)
    assert authed(session_start(client=driver).access).get("/api/v1/me").status_code == 200
    history = client.get(page_url(driver)).content.decode()
    assert "the bank confirmed" in history and "support:ops" in history


def test_a_block_without_a_reason_is_refused_with_a_form_error(client, staff_in):
    # given
    driver = new_driver()
    session_start(client=driver)
    staff_in(SUPPORT)

    # when
    response = client.post(block_url(driver), {"preset": "", "note": "   "})

    # then
    assert response.status_code == 200
    assert "A reason is required" in response.content.decode()
    assert Client.objects.get(pk=driver.pk).status == Client.Status.ACTIVE
    assert live_logins(driver) == 1
    assert not ClientStatusChange.objects.filter(client=driver).exists()


def test_finance_cannot_block_or_unblock(client, staff_in):
    # given
    driver, blocked = new_driver(), new_driver()
    client_block(client_id=blocked.pk, reason="fraud", by="support:ops")
    staff_in(FINANCE)

    # then
    assert client.get(block_url(driver)).status_code == 403
    assert client.post(block_url(driver), {"preset": "fraud"}).status_code == 403
    assert client.post(unblock_url(blocked), {"preset": "mistake"}).status_code == 403
    assert Client.objects.get(pk=driver.pk).status == Client.Status.ACTIVE
    assert Client.objects.get(pk=blocked.pk).status == Client.Status.BLOCKED


def test_the_buttons_fit_the_clients_status(client, staff_in):
    # given
    pending = new_driver()
    client_request_deletion(client_id=pending.pk)
    deleted = new_driver()
    client_request_deletion(client_id=deleted.pk)
    client_anonymise(client_id=deleted.pk)
    staff_in(SUPPORT)

    # then: a pending deletion can be restored (or blocked); a deleted client neither
    page = client.get(page_url(pending)).content.decode()
    assert unblock_url(pending) in page and block_url(pending) in page
    assert 'name="name"' not in page  # the driver asked to be forgotten
    page = client.get(page_url(deleted)).content.decode()
    assert unblock_url(deleted) not in page and block_url(deleted) not in page
    response = client.post(block_url(deleted), {"preset": "fraud"})
    assert response.status_code == 302
    assert Client.objects.get(pk=deleted.pk).status == Client.Status.DELETED


# --- the services behind the buttons ----------------------------------------------------


def test_the_services_refuse_a_status_change_without_a_reason():
    driver = new_driver()
    with pytest.raises(ApiError) as refused:
        client_block(client_id=driver.pk, reason=" ", by="test")
    assert refused.value.code == "REASON_REQUIRED"
    assert Client.objects.get(pk=driver.pk).status == Client.Status.ACTIVE


def test_anonymising_a_client_forgets_the_reasons_staff_typed():
    # given: blocked with a reason naming them, then unblocked, then deletion asked
    driver = new_driver()
    client_block(client_id=driver.pk, reason="says his name is Aidar", by="test")
    client_unblock(client_id=driver.pk, reason="Aidar paid", by="test")
    client_request_deletion(client_id=driver.pk)

    # when
    assert client_anonymise(client_id=driver.pk)

    # then

    assert not ClientStatusChange.objects.filter(client=driver).exists()


# --- the wallet adjustment --------------------------------------------------------------


def test_the_adjust_button_needs_adjust_wallet_and_uses_the_wallet_form(client, staff_in):
    # given
    driver = with_history(new_driver(), 1)
    staff_in(SUPPORT)
    assert client.get(adjust_url(driver)).status_code == 403
    user = staff_in(FINANCE)

    # when
    form = client.get(adjust_url(driver))
    key = re.search(r'name="key" value="([^"]+)"', form.content.decode()).group(1)
    response = client.post(
        adjust_url(driver),
        {
            "action": "adjust_wallet",
            "amount": "-4.00",
            "reason": "double charge",
            "key": key,
            "adjust": "Adjust",
        },
    )

    # then
    assert form.status_code == 200
    assert response.status_code == 302 and response.url == page_url(driver)
    txn = LedgerTransaction.objects.get(kind=LedgerTransaction.Kind.ADJUSTMENT)
    assert (txn.amount, txn.reason, txn.author) == (D("-4.00"), "double charge", user)
    assert Wallet.objects.get(client=driver).balance == D("6.00")


# --- a bounded page -----------------------------------------------------------------------


def page_queries(client, driver: Client) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(page_url(driver))
    assert response.status_code == 200
    return len(queries), response.content.decode()


@pytest.mark.parametrize("role", [SUPPORT, FINANCE])
def test_the_page_runs_the_same_queries_for_a_short_and_a_long_history(client, staff_in, role):
    # given
    short, long = with_history(new_driver(), 2), with_history(new_driver(), 30)
    client_block(client_id=long.pk, reason="fraud", by="test")
    staff_in(role)
    page_queries(client, short)  # the staff member's permissions, cached from here on

    # when
    few, _ = page_queries(client, short)
    many, page = page_queries(client, long)

    # then
    assert few == many
    assert len(re.findall(r"/admin/charging/chargingsession/\d+/change/", page)) == 10
    assert len(re.findall(r"/admin/payments/payment/\d+/change/", page)) == 10
    assert len(re.findall(r"/admin/payments/ledgertransaction/\d+/change/", page)) == 10
    assert "Newest 10 shown." in page


def test_the_client_list_runs_the_same_queries_for_few_and_many_clients(client, staff_in):
    # given
    staff_in(SUPPORT)
    url = reverse("admin:accounts_client_changelist")

    def listed() -> tuple[int, str]:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200
        return len(queries), response.content.decode()

    for _ in range(2):
        with_history(new_driver(), 1)
    listed()
    few, _ = listed()
    for _ in range(20):
        with_history(new_driver(), 1)

    # when
    many, page = listed()

    # then
    assert few == many
    assert page.count("10.00 KGS") == 22  # each client's balance, no query per row


def test_the_client_list_searches_and_filters(client, staff_in):
    # given
    aida = new_driver(name="Aida Tokonova")
    blocked = new_driver(name="Bakyt")
    client_block(client_id=blocked.pk, reason="fraud", by="test")
    staff_in(SUPPORT)
    url = reverse("admin:accounts_client_changelist")

    # then
    by_name = client.get(url, {"q": "Tokonova"}).content.decode()
    assert aida.phone in by_name and blocked.phone not in by_name
    by_phone = client.get(url, {"q": blocked.phone[-7:]}).content.decode()
    assert blocked.phone in by_phone and aida.phone not in by_phone
    by_status = client.get(url, {"status__exact": "blocked"}).content.decode()
    assert blocked.phone in by_status and aida.phone not in by_status
    today = timezone.localdate()
    by_day = client.get(
        url,
        {
            "created_at__year": today.year,
            "created_at__month": today.month,
            "created_at__day": today.day,
        },
    )
    assert by_day.status_code == 200 and aida.phone in by_day.content.decode()
    yesterday = today - timedelta(days=1)
    assert (
        aida.phone
        not in client.get(
            url,
            {
                "created_at__year": yesterday.year,
                "created_at__month": yesterday.month,
                "created_at__day": yesterday.day,
            },
        ).content.decode()
    )
