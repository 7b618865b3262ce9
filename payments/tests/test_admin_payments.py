"""The staff side of top-ups: payments (check with the provider, refund through it), the
provider audit log, and reconciliation issues (credit, mark resolved, CSV)."""

from __future__ import annotations

import csv
import io
import itertools
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from payments import providers
from payments.models import LedgerTransaction, Payment, PaymentEvent, ReconciliationIssue
from payments.payment_records import credits_of, event_record, payment_mark_paid
from payments.providers.base import (
    PAID,
    PENDING,
    Checkout,
    PaymentProvider,
    ProviderRefused,
    RemoteStatus,
)
from payments.tests.support import assert_ledger_consistent, new_client
from payments.topups import topup_create

pytestmark = pytest.mark.django_db

PAYMENTS = reverse("admin:payments_payment_changelist")
EVENTS = reverse("admin:payments_paymentevent_changelist")
ISSUES = reverse("admin:payments_reconciliationissue_changelist")
Kind = ReconciliationIssue.Kind
_n = itertools.count(1)


class FakeProvider(PaymentProvider):
    code = "odengi"
    currencies = ("KGS",)
    paid: dict = {}
    refunded: list = []
    refuse = False

    def create(self, payment):
        return Checkout(
            provider_transaction_id=f"INV-{payment.order_id}", qr_url="https://fake.example/qr.png"
        )

    def status(self, payment):
        if payment.order_id in FakeProvider.paid:
            return RemoteStatus(PAID, amount=FakeProvider.paid[payment.order_id])
        return RemoteStatus(PENDING)

    def refund(self, payment, amount):
        if FakeProvider.refuse:
            raise ProviderRefused("cannot refund now", code=-31007)
        FakeProvider.refunded.append((payment.order_id, amount))


@pytest.fixture(autouse=True)
def fake_provider(monkeypatch, settings):
    monkeypatch.setitem(providers.IMPLEMENTATIONS, "odengi", f"{__name__}.FakeProvider")
    settings.PAYMENT_PROVIDERS = ["odengi"]
    FakeProvider.paid, FakeProvider.refunded, FakeProvider.refuse = {}, [], False


@pytest.fixture
def operator(client, django_user_model):
    """Log in a staff user with exactly the given permission codenames."""

    def login(*codenames: str):
        user = django_user_model.objects.create_user(
            f"fin{next(_n)}", password="pw-0123456789", is_staff=True
        )
        user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
        client.force_login(user)
        return user

    return login


def pending(amount="100.00") -> Payment:
    return topup_create(client=new_client(), provider="odengi", amount=amount)


def paid(amount="100.00") -> Payment:
    payment = pending(amount)
    return payment_mark_paid(payment_id=payment.pk, amount=Decimal(amount), source="callback")


def act(client, url: str, action: str, *pks, **fields):
    return client.post(url, {"action": action, "_selected_action": list(pks), **fields})


def said(response) -> str:
    return " | ".join(str(m) for m in response.wsgi_request._messages)


def issue(kind=Kind.MISSING_CREDIT, payment: Payment | None = None, **fields):
    defaults = {
        "provider": "odengi",
        "day": timezone.now().date(),
        "kind": kind,
        "payment": payment,
        "our_amount": payment.amount if payment else None,
        "their_amount": payment.amount if payment else Decimal("5.00"),
        "provider_transaction_id": payment.provider_transaction_id if payment else f"T-{next(_n)}",
    }
    return ReconciliationIssue.objects.create(**{**defaults, **fields})


# -- payments ----------------------------------------------------------------------------


def test_payment_list_renders_with_a_bounded_number_of_queries(
    client, operator, django_assert_max_num_queries
):
    payments = [paid(), pending("20.00"), pending("30.00")]
    for _ in range(12):
        paid("15.00")
    operator("view_payment")

    with django_assert_max_num_queries(10):  # 8 today, whatever the number of rows
        response = client.get(PAYMENTS)

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 15
    for query in (
        payments[1].order_id,
        payments[0].provider_transaction_id,
        payments[2].client.phone,
    ):
        found = client.get(PAYMENTS, {"q": query}).context["cl"].result_list
        assert [p.pk for p in found] == [
            next(
                p.pk
                for p in payments
                if query in (p.order_id, p.provider_transaction_id, p.client.phone)
            )
        ]
    assert [
        p.pk for p in client.get(PAYMENTS, {"status__exact": "pending"}).context["cl"].result_list
    ] == [payments[2].pk, payments[1].pk]


def test_payment_page_shows_its_newest_events_read_only(
    client, operator, django_assert_max_num_queries
):
    payment = paid()
    for n in range(60):
        event_record(
            provider="odengi",
            direction="in",
            kind=f"callback-{n}",
            verified=True,
            payload={"n": n, "note": "<script>x</script>"},
            payment=payment,
        )
    issue(Kind.UNKNOWN_AT_PROVIDER, payment)
    operator("view_payment")

    with django_assert_max_num_queries(12):  # 9 today
        response = client.get(reverse("admin:payments_payment_change", args=[payment.pk]))

    page = response.content.decode()
    assert response.status_code == 200
    assert "callback-59" in page and "callback-10" in page and "callback-9<" not in page
    assert "<script>x" not in page
    assert 'name="_save"' not in page
    assert "credited here, unknown to the provider" in page  # its reconciliation issue
    assert "Check with the provider" in page and "Refund through" not in page  # no refund perm


def test_payment_events_are_read_only(client, operator):
    payment = pending()
    event_record(
        provider="odengi",
        direction="in",
        kind="callback",
        verified=False,
        payload={"sign": "***"},
        payment=payment,
        remote_addr="203.0.113.9",
    )
    event = PaymentEvent.objects.get()
    operator("view_paymentevent")

    assert client.get(EVENTS).status_code == 200
    assert client.get(EVENTS, {"q": payment.order_id}).context["cl"].result_count == 1
    page = client.get(reverse("admin:payments_paymentevent_change", args=[event.pk]))
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert client.get(reverse("admin:payments_paymentevent_add")).status_code == 403
    assert (
        client.post(reverse("admin:payments_paymentevent_delete", args=[event.pk])).status_code
        == 403
    )
    assert PaymentEvent.objects.count() == 1


def test_check_with_the_provider_credits_a_payment_found_paid(client, operator):
    payment, waiting = pending("75.00"), pending("20.00")
    FakeProvider.paid[payment.order_id] = Decimal("75.00")
    operator("view_payment")

    response = act(client, PAYMENTS, "sync_payments", payment.pk, waiting.pk)

    assert response.status_code == 302
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PAID and credits_of(payment) == 1
    assert "pending → paid (credited" in said(response) and "still pending" in said(response)
    act(client, PAYMENTS, "sync_payments", payment.pk)  # again: nothing more
    assert credits_of(payment) == 1
    assert_ledger_consistent()


def test_refund_asks_for_a_reason_then_refunds_through_the_provider(client, operator):
    payment = paid()
    user = operator("view_payment", "refund_payment")

    form = act(client, PAYMENTS, "refund_payment", payment.pk)
    assert form.status_code == 200 and "reason" in form.context["form"].fields
    assert payment.order_id in form.content.decode()
    blank = act(client, PAYMENTS, "refund_payment", payment.pk, apply="1", reason="   ")
    assert blank.status_code == 200 and "reason" in blank.context["form"].errors
    assert FakeProvider.refunded == []

    done = act(
        client,
        PAYMENTS,
        "refund_payment",
        payment.pk,
        apply="1",
        reason="charged twice at the terminal",
    )

    assert done.status_code == 302 and "refunded through O!Dengi" in said(done)
    payment.refresh_from_db()
    assert payment.status == Payment.Status.REFUNDED
    assert FakeProvider.refunded == [(payment.order_id, Decimal("100.00"))]
    debit = LedgerTransaction.objects.get(kind="topup_reversal")
    assert (debit.author, debit.reason) == (user, "charged twice at the terminal")
    again = act(client, PAYMENTS, "refund_payment", payment.pk, apply="1", reason="again")
    assert "only a paid top-up" in said(again) and len(FakeProvider.refunded) == 1
    assert_ledger_consistent()


def test_a_refund_the_provider_refuses_is_reported_and_undone(client, operator):
    payment = paid()
    FakeProvider.refuse = True
    operator("view_payment", "refund_payment")

    response = act(client, PAYMENTS, "refund_payment", payment.pk, apply="1", reason="x")

    assert "not refunded — PAYMENT_PROVIDER_ERROR" in said(response)
    assert "cannot refund now" in said(response)
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PAID and payment.client.wallet.balance == 100
    assert_ledger_consistent()


def test_refund_needs_its_permission(client, operator):
    payment = paid()
    operator("view_payment")

    act(client, PAYMENTS, "refund_payment", payment.pk, apply="1", reason="x")
    page = client.get(reverse("admin:payments_payment_change", args=[payment.pk]))

    assert Payment.objects.get(pk=payment.pk).status == Payment.Status.PAID
    assert FakeProvider.refunded == []
    assert "refund_payment" not in page.content.decode()


def test_payments_need_a_permission_to_be_seen(client, operator):
    operator("view_wallet")
    assert client.get(PAYMENTS).status_code == 403
    assert client.get(ISSUES).status_code == 403
    assert client.get(EVENTS).status_code == 403


# -- reconciliation issues -----------------------------------------------------------------


def test_issue_list_is_unresolved_first_and_bounded(
    client, operator, django_assert_max_num_queries
):
    old = issue(
        payment=pending(), resolved_at=timezone.now() - timedelta(days=1), resolution="handled"
    )
    new = [issue(Kind.UNKNOWN_AT_PROVIDER, paid()), issue(), issue(Kind.STUCK_PENDING, pending())]
    for _ in range(10):
        issue(
            Kind.AMOUNT_MISMATCH,
            paid(),
            resolved_at=timezone.now() - timedelta(days=2),
            resolution="fixed",
        )
    operator("view_reconciliationissue")

    with django_assert_max_num_queries(11):  # 9 today, whatever the number of rows
        response = client.get(ISSUES)

    assert response.status_code == 200
    rows = [i.pk for i in response.context["cl"].result_list]
    assert len(rows) == 14 and set(rows[:3]) == {i.pk for i in new}
    assert rows[3] == old.pk  # then the resolved ones, most recently resolved first
    assert [i.pk for i in client.get(ISSUES, {"resolved": "no"}).context["cl"].result_list] == rows[
        :3
    ]
    assert [
        i.pk for i in client.get(ISSUES, {"kind__exact": "stuck_pending"}).context["cl"].result_list
    ] == [new[2].pk]
    assert (
        client.get(reverse("admin:payments_reconciliationissue_change", args=[old.pk])).status_code
        == 200
    )


def test_credit_the_payment_credits_a_missing_credit_once_and_resolves_it(client, operator):
    payment = pending("50.00")
    missing = issue(payment=payment)
    other = issue(Kind.UNKNOWN_AT_PROVIDER, paid())
    user = operator("view_reconciliationissue", "resolve_reconciliationissue")

    response = act(client, ISSUES, "credit_payments", missing.pk, other.pk)

    assert response.status_code == 302
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PAID and credits_of(payment) == 1
    missing.refresh_from_db()
    assert missing.resolved_by == user and "credited from the statement" in missing.resolution
    assert "credited" in said(response) and "only a missing credit" in said(response)
    assert ReconciliationIssue.objects.get(pk=other.pk).resolved_at is None
    again = act(client, ISSUES, "credit_payments", missing.pk)
    assert "already resolved" in said(again) and credits_of(payment) == 1
    assert_ledger_consistent()


def test_credit_refuses_another_provider_transaction_of_a_credited_order(client, operator):
    payment = paid()
    second = issue(payment=payment, provider_transaction_id="T-second")
    operator("view_reconciliationissue", "resolve_reconciliationissue")

    response = act(client, ISSUES, "credit_payments", second.pk)

    assert "T-second is another payment at the provider" in said(response)
    assert ReconciliationIssue.objects.get(pk=second.pk).resolved_at is None
    assert credits_of(payment) == 1


def test_credit_reports_the_crediting_paths_refusal(client, operator):
    payment = pending("50.00")
    wrong = issue(payment=payment, their_amount=Decimal("49.00"))
    operator("view_reconciliationissue", "resolve_reconciliationissue")

    response = act(client, ISSUES, "credit_payments", wrong.pk)

    assert "not credited — AMOUNT_MISMATCH" in said(response)
    assert Payment.objects.get(pk=payment.pk).status == Payment.Status.PENDING
    assert ReconciliationIssue.objects.get(pk=wrong.pk).resolved_at is None


def test_mark_resolved_needs_a_note(client, operator):
    first, second = issue(), issue(Kind.DOUBLE_CREDIT, paid())
    user = operator("view_reconciliationissue", "resolve_reconciliationissue")

    form = act(client, ISSUES, "mark_resolved", first.pk, second.pk)
    assert form.status_code == 200 and len(form.context["issues"]) == 2
    blank = act(client, ISSUES, "mark_resolved", first.pk, second.pk, apply="1", note=" ")
    assert blank.status_code == 200 and "note" in blank.context["form"].errors
    assert not ReconciliationIssue.objects.filter(resolved_at__isnull=False).exists()

    done = act(
        client,
        ISSUES,
        "mark_resolved",
        first.pk,
        second.pk,
        apply="1",
        note="refunded at the provider on 12 May",
    )

    assert done.status_code == 302 and "2 issue(s) marked resolved" in said(done)
    assert set(ReconciliationIssue.objects.values_list("resolved_by", "resolution")) == {
        (user.pk, "refunded at the provider on 12 May")
    }


def test_resolving_needs_its_permission_but_export_does_not(client, operator):
    payment = pending("50.00")
    missing = issue(payment=payment)
    operator("view_reconciliationissue")

    act(client, ISSUES, "credit_payments", missing.pk)
    act(client, ISSUES, "mark_resolved", missing.pk, apply="1", note="x")
    exported = act(client, ISSUES, "export_csv", missing.pk)

    assert Payment.objects.get(pk=payment.pk).status == Payment.Status.PENDING
    assert ReconciliationIssue.objects.get().resolved_at is None
    assert exported.status_code == 200 and exported["Content-Type"].startswith("text/csv")
    assert 'attachment; filename="reconciliation-' in exported["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(exported.content.decode())))
    assert rows[0][:3] == ["provider", "day", "kind"]
    assert rows[1][2:5] == ["missing_credit", payment.order_id, payment.provider_transaction_id]
