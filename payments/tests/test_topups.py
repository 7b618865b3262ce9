"""Top-ups: the driver API (/api/v1/wallet/topups) with a fake provider registered for the
test, expiry with a re-check at the provider, the one crediting path, and refunds through
the provider."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Client
from accounts.tests.support import PHONE_A, PHONE_B, assert_error, authed, login
from payments import providers
from payments.errors import (
    AmountMismatch,
    InsufficientBalance,
    PaymentNotRefundable,
    PaymentProviderError,
    TopupRefused,
)
from payments.models import LedgerTransaction, Payment, Wallet
from payments.payment_records import credits_of, payment_mark_paid
from payments.providers.base import (
    FAILED,
    PAID,
    PENDING,
    Checkout,
    PaymentProvider,
    ProviderRefused,
    ProviderUnavailable,
    RemoteStatus,
)
from payments.tasks import payments_expire_task
from payments.tests.support import assert_ledger_consistent, new_client
from payments.topups import payment_refund_to_provider, payments_expire, topup_create
from payments.wallet import wallet_hold

pytestmark = pytest.mark.django_db
URL = "/api/v1/wallet/topups"
Status = Payment.Status


# -- the fake provider -------------------------------------------------------------------


@dataclass
class Remote:
    """What the fake provider knows and was asked."""

    down: bool = False
    refuse_refund: bool = False
    paid: dict = field(default_factory=dict)  # order_id -> amount paid at the provider
    failed: set = field(default_factory=set)
    created: list = field(default_factory=list)
    cancelled: list = field(default_factory=list)
    refunded: list = field(default_factory=list)
    during_refund: object = None  # called inside refund(), e.g. a second refund attempt


REMOTE = Remote()


class FakeProvider(PaymentProvider):
    code = "odengi"
    currencies = ("KGS",)

    def create(self, payment):
        if REMOTE.down:
            raise ProviderUnavailable("connect timeout")
        REMOTE.created.append(payment.order_id)
        return Checkout(
            provider_transaction_id=f"INV-{payment.order_id}",
            qr_url=f"https://fake.example/qr/{payment.order_id}.png",
            deep_link=f"fakepay://pay/{payment.order_id}",
            state={"invoice": f"INV-{payment.order_id}"},
        )

    def status(self, payment):
        if REMOTE.down:
            raise ProviderUnavailable("connect timeout")
        if payment.order_id in REMOTE.paid:
            return RemoteStatus(
                PAID,
                provider_transaction_id=payment.provider_transaction_id,
                amount=REMOTE.paid[payment.order_id],
            )
        if payment.order_id in REMOTE.failed:
            return RemoteStatus(FAILED, detail="declined")
        return RemoteStatus(PENDING)

    def cancel(self, payment):
        REMOTE.cancelled.append(payment.order_id)

    def refund(self, payment, amount):
        if REMOTE.during_refund:
            REMOTE.during_refund(payment)
        if REMOTE.refuse_refund:
            raise ProviderRefused("too late to refund", code=-31007)
        REMOTE.refunded.append((payment.order_id, amount))


class SumOnlyProvider(FakeProvider):
    code = "payme"
    currencies = ("UZS",)


@pytest.fixture(autouse=True)
def fake_provider(monkeypatch, settings):
    global REMOTE
    REMOTE = Remote()
    monkeypatch.setitem(providers.IMPLEMENTATIONS, "odengi", f"{__name__}.FakeProvider")
    monkeypatch.setitem(providers.IMPLEMENTATIONS, "payme", f"{__name__}.SumOnlyProvider")
    settings.PAYMENT_PROVIDERS = ["odengi", "payme"]  # obank: not enabled here
    settings.TOPUP_LIMITS = {"min": "10.00", "max": "50000.00"}
    settings.TOPUP_EXPIRY_MINUTES = 30


def logged_in(phone: str = PHONE_A) -> tuple[APIClient, Client]:
    tokens = login(phone=phone)
    return authed(tokens["access"]), Client.objects.get(pk=tokens["client"]["id"])


def top_up(api: APIClient, amount="150.00", provider="odengi", key: str | None = None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return api.post(URL, {"provider": provider, "amount": amount}, format="json", **headers)


def balance(client: Client) -> Decimal:
    return Wallet.objects.get(client=client).balance


def open_payment(
    amount="100.00", *, expired: bool = False, client: Client | None = None
) -> Payment:
    """A pending payment created the normal way (the fake provider issued an invoice)."""
    payment = topup_create(client=client or new_client(), provider="odengi", amount=amount)
    if expired:
        Payment.objects.filter(pk=payment.pk).update(
            expires_at=timezone.now() - timedelta(minutes=1)
        )
        payment.refresh_from_db()
    return payment


# -- the driver API ----------------------------------------------------------------------


def test_a_top_up_returns_what_the_app_shows_and_can_be_read_back():
    api, client = logged_in()

    response = top_up(api)

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {
        "id",
        "provider",
        "order_id",
        "amount",
        "currency",
        "status",
        "checkout",
        "expires_at",
        "paid_at",
        "cancelled_at",
        "created_at",
    }
    assert (body["provider"], body["amount"], body["currency"], body["status"]) == (
        "odengi",
        "150.00",
        "KGS",
        "pending",
    )
    assert body["checkout"] == {
        "qr_url": f"https://fake.example/qr/{body['order_id']}.png",
        "deep_link": f"fakepay://pay/{body['order_id']}",
    }
    payment = Payment.objects.get(pk=body["id"])
    assert payment.client == client and payment.provider_transaction_id.startswith("INV-")
    assert payment.provider_state == {"invoice": payment.provider_transaction_id}
    assert api.get(f"{URL}/{payment.pk}").json() == body
    listed = api.get(URL).json()
    assert listed["count"] == 1 and listed["results"] == [body]
    assert not LedgerTransaction.objects.exists()  # nothing is credited before it is paid


def test_a_top_up_is_visible_and_cancellable_only_by_its_owner():
    api, _ = logged_in(PHONE_A)
    other, _ = logged_in(PHONE_B)
    payment_id = top_up(api).json()["id"]

    assert_error(other.get(f"{URL}/{payment_id}"), 404, "NOT_FOUND")
    assert_error(other.post(f"{URL}/{payment_id}/cancel"), 404, "NOT_FOUND")
    assert other.get(URL).json()["count"] == 0
    assert Payment.objects.get(pk=payment_id).status == Status.PENDING
    assert REMOTE.cancelled == []


def test_the_list_is_newest_first_and_the_owners_only():
    api, _ = logged_in(PHONE_A)
    other, _ = logged_in(PHONE_B)
    first, second = top_up(api, "10.00").json()["id"], top_up(api, "20.00").json()["id"]
    top_up(other, "30.00")

    assert [p["id"] for p in api.get(URL).json()["results"]] == [second, first]


def test_cancel_closes_it_at_the_provider_once():
    api, _ = logged_in()
    payment_id = top_up(api).json()["id"]

    response = api.post(f"{URL}/{payment_id}/cancel")

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "cancelled" and response.json()["cancelled_at"]
    order_id = response.json()["order_id"]
    assert REMOTE.cancelled == [order_id]
    assert_error(api.post(f"{URL}/{payment_id}/cancel"), 409, "PAYMENT_NOT_OPEN")
    assert REMOTE.cancelled == [order_id]


def test_cancelling_a_top_up_the_driver_did_pay_credits_it_instead():
    api, client = logged_in()
    body = top_up(api, "75.00").json()
    REMOTE.paid[body["order_id"]] = Decimal("75.00")

    response = api.post(f"{URL}/{body['id']}/cancel")

    assert response.status_code == 200 and response.json()["status"] == "paid"
    assert REMOTE.cancelled == []
    assert balance(client) == Decimal("75.00")
    assert_ledger_consistent()


def test_an_idempotency_key_replays_the_first_answer_and_refuses_other_parameters():
    api, _ = logged_in()

    first = top_up(api, "150.00", key="topup-1")
    again = top_up(api, "150.00", key="topup-1")
    other = top_up(api, "151.00", key="topup-1")

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert_error(other, 422, "IDEMPOTENCY_CONFLICT")
    assert Payment.objects.count() == 1 and len(REMOTE.created) == 1


@pytest.mark.parametrize(
    ("amount", "created"),
    [("9.99", False), ("10.00", True), ("50000.00", True), ("50000.01", False)],
)
def test_amounts_outside_the_limits_are_refused(amount, created):
    api, _ = logged_in()

    response = top_up(api, amount)

    if created:
        assert response.status_code == 201, response.content
    else:
        error = assert_error(response, 400, "TOPUP_AMOUNT_OUT_OF_RANGE")
        assert error["details"] == {"minimum": "10.00", "maximum": "50000.00"}
    assert Payment.objects.exists() is created


def test_a_provider_not_enabled_or_not_for_the_wallets_currency_is_not_available():
    api, _ = logged_in()

    disabled = assert_error(top_up(api, provider="obank"), 409, "PROVIDER_NOT_AVAILABLE")
    wrong_currency = assert_error(top_up(api, provider="payme"), 409, "PROVIDER_NOT_AVAILABLE")
    unknown = assert_error(top_up(api, provider="stripe"), 400, "VALIDATION_ERROR")

    assert disabled["details"]["provider"] == "obank"
    assert "KGS" in wrong_currency["details"]["reason"]
    assert "provider" in unknown["details"]["fields"]
    assert not Payment.objects.exists()


def test_a_provider_that_is_down_leaves_the_payment_cancelled_and_the_key_free():
    api, _ = logged_in()
    REMOTE.down = True

    response = top_up(api, key="try-1")

    error = assert_error(response, 502, "PAYMENT_PROVIDER_ERROR")
    assert error["details"] == {"provider": "odengi"}
    payment = Payment.objects.get()
    assert payment.status == Status.CANCELLED and "provider error" in payment.failure_reason
    # a 5xx is not stored: the same key works once the provider is back
    REMOTE.down = False
    assert top_up(api, key="try-1").status_code == 201
    assert list(Payment.objects.order_by("id").values_list("status", flat=True)) == [
        Status.CANCELLED,
        Status.PENDING,
    ]


def test_a_blocked_client_cannot_top_up():
    api, client = logged_in()
    Client.objects.filter(pk=client.pk).update(status=Client.Status.BLOCKED)

    assert_error(top_up(api), 403, "CLIENT_BLOCKED")
    with pytest.raises(TopupRefused) as refused:  # blocked after the request was let in
        topup_create(client=client, provider="odengi", amount="100.00")
    assert refused.value.code == "CLIENT_BLOCKED"
    assert not Payment.objects.exists() and REMOTE.created == []


# -- expiry ------------------------------------------------------------------------------


def test_expiry_credits_a_payment_paid_at_the_provider_and_expires_the_rest():
    paid_there = open_payment("100.00", expired=True)
    unpaid = open_payment("40.00", expired=True)
    declined = open_payment("30.00", expired=True)
    not_yet = open_payment("20.00")
    REMOTE.paid[paid_there.order_id] = Decimal("100.00")
    REMOTE.failed.add(declined.order_id)

    assert payments_expire_task() == 1  # the task runs the service; one expired

    states = dict(Payment.objects.values_list("pk", "status"))
    assert states == {
        paid_there.pk: Status.PAID,
        unpaid.pk: Status.EXPIRED,
        declined.pk: Status.CANCELLED,
        not_yet.pk: Status.PENDING,
    }
    assert REMOTE.cancelled == [unpaid.order_id]  # asked first, then cancelled there
    assert credits_of(paid_there) == 1 and balance(paid_there.client) == Decimal("100.00")
    assert Payment.objects.get(pk=unpaid.pk).failure_reason == "expired"
    # again: nothing more to do, nothing credited twice
    assert payments_expire() == 0
    assert credits_of(paid_there) == 1 and REMOTE.cancelled == [unpaid.order_id]
    assert_ledger_consistent()


def test_expiry_with_the_provider_unreachable_still_expires():
    payment = open_payment(expired=True)
    REMOTE.down = True

    assert payments_expire() == 1

    payment.refresh_from_db()
    assert payment.status == Status.EXPIRED and payment.credit is None


# -- the crediting path ------------------------------------------------------------------


def test_marking_a_payment_paid_twice_credits_once():
    payment = open_payment("100.00")

    for _ in range(2):
        payment_mark_paid(
            payment_id=payment.pk,
            amount=Decimal("100.00"),
            source="callback",
            provider_transaction_id=payment.provider_transaction_id,
        )

    payment.refresh_from_db()
    assert payment.status == Status.PAID and payment.paid_at
    assert credits_of(payment) == 1 and balance(payment.client) == Decimal("100.00")
    assert payment.credit.key == f"payment:{payment.pk}:credit"
    assert_ledger_consistent()


def test_a_different_amount_credits_nothing():
    payment = open_payment("100.00")

    with pytest.raises(AmountMismatch):
        payment_mark_paid(payment_id=payment.pk, amount=Decimal("99.99"), source="callback")

    payment.refresh_from_db()
    assert payment.status == Status.PENDING and credits_of(payment) == 0


def test_a_late_payment_for_an_expired_payment_is_credited():
    payment = open_payment("100.00", expired=True)
    payments_expire()
    assert Payment.objects.get(pk=payment.pk).status == Status.EXPIRED

    late = payment_mark_paid(payment_id=payment.pk, amount=Decimal("100.00"), source="callback")

    assert late.status == Status.PAID and "paid after it was closed" in late.failure_reason
    assert credits_of(payment) == 1 and balance(payment.client) == Decimal("100.00")
    assert_ledger_consistent()


# -- refunds through the provider --------------------------------------------------------


def paid_payment(amount="100.00") -> Payment:
    payment = open_payment(amount)
    return payment_mark_paid(payment_id=payment.pk, amount=Decimal(amount), source="callback")


def test_a_refund_debits_once_and_the_provider_gives_the_money_back(staff_user):
    payment = paid_payment()

    refunded = payment_refund_to_provider(
        payment_id=payment.pk, author=staff_user, reason="double payment by the driver"
    )

    assert refunded.status == Status.REFUNDED and refunded.refunded_at
    assert REMOTE.refunded == [(payment.order_id, Decimal("100.00"))]
    debit = LedgerTransaction.objects.get(kind=LedgerTransaction.Kind.TOPUP_REVERSAL)
    assert (debit.amount, debit.author, debit.reason) == (
        Decimal("100.00"),
        staff_user,
        "double payment by the driver",
    )
    assert balance(payment.client) == 0
    with pytest.raises(PaymentNotRefundable):
        payment_refund_to_provider(payment_id=payment.pk, author=staff_user, reason="again")
    assert LedgerTransaction.objects.filter(kind="topup_reversal").count() == 1
    assert len(REMOTE.refunded) == 1
    assert_ledger_consistent()


def test_a_refund_the_provider_refuses_is_undone(staff_user):
    payment = paid_payment()
    REMOTE.refuse_refund = True

    with pytest.raises(PaymentProviderError) as failed:
        payment_refund_to_provider(payment_id=payment.pk, author=staff_user, reason="x")

    assert "too late to refund" in failed.value.details["detail"]
    payment.refresh_from_db()
    assert payment.status == Status.PAID and balance(payment.client) == Decimal("100.00")
    kinds = list(LedgerTransaction.objects.order_by("id").values_list("kind", flat=True))
    assert kinds == ["topup", "topup_reversal", "topup"]
    assert credits_of(payment) == 1  # the undo is not a second credit
    # and it can be tried again once the provider agrees
    REMOTE.refuse_refund = False
    assert (
        payment_refund_to_provider(payment_id=payment.pk, author=staff_user, reason="x").status
        == Status.REFUNDED
    )
    assert balance(payment.client) == 0
    assert_ledger_consistent()


def test_a_second_refund_while_the_first_waits_for_the_provider_is_refused(staff_user):
    payment = paid_payment()
    second = []

    def try_again(_payment):
        with pytest.raises(PaymentNotRefundable) as refused:
            payment_refund_to_provider(payment_id=payment.pk, author=staff_user, reason="y")
        second.append(refused.value.details)

    REMOTE.during_refund = try_again

    payment_refund_to_provider(payment_id=payment.pk, author=staff_user, reason="x")

    assert second == [{"status": "refunding"}]
    assert LedgerTransaction.objects.filter(kind="topup_reversal").count() == 1
    assert len(REMOTE.refunded) == 1
    assert_ledger_consistent()


def test_a_refund_whose_answer_is_lost_keeps_the_debit_and_holds_the_payment(staff_user):
    payment = paid_payment()
    REMOTE.during_refund = lambda p: (_ for _ in ()).throw(ProviderUnavailable("timeout"))
    with pytest.raises(PaymentProviderError) as failed:
        payment_refund_to_provider(payment_id=payment.pk, author=staff_user, reason="x")
    assert "outcome unknown" in failed.value.details["detail"]
    REMOTE.during_refund = None
    # not undone: the provider may have paid the money back; a retry is refused until checked
    assert Wallet.objects.get(client=payment.client).balance == Decimal("0.00")
    with pytest.raises(PaymentNotRefundable):
        payment_refund_to_provider(payment_id=payment.pk, author=staff_user, reason="again")
    assert REMOTE.refunded == []
    assert_ledger_consistent()


def test_money_already_spent_cannot_be_refunded(staff_user):
    payment = paid_payment()
    wallet_hold(client=payment.client, amount=Decimal("30.00"), ref=("session", 1), key="h1")

    with pytest.raises(InsufficientBalance):
        payment_refund_to_provider(payment_id=payment.pk, author=staff_user, reason="x")

    assert Payment.objects.get(pk=payment.pk).status == Status.PAID
    assert (
        REMOTE.refunded == []
        and not LedgerTransaction.objects.filter(kind="topup_reversal").exists()
    )
    assert_ledger_consistent()


def test_the_payment_event_log_is_append_only():
    from django.db import connection, transaction

    from payments.models import PaymentEvent
    from payments.payment_records import event_record

    if connection.vendor != "postgresql":
        pytest.skip("the trigger is PostgreSQL's")
    event_record(
        provider="odengi", direction="in", kind="callback", verified=True, payload={"order_id": "X"}
    )
    with pytest.raises(Exception, match="append-only"), transaction.atomic():
        PaymentEvent.objects.update(verified=False)
    with pytest.raises(Exception, match="append-only"), transaction.atomic():
        PaymentEvent.objects.all().delete()
    assert PaymentEvent.objects.get().verified is True
