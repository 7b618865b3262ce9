"""Support commands for money: `wallet_adjust`, `payment_recheck` and `reconcile_day`, run
with `call_command` as an operator would, against the real wallet and ledger. The payment
providers are fakes registered for the test (the process boundary)."""

from __future__ import annotations

import io
from datetime import UTC, timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from evpower.tests.support.commands import Terminal, command_fails, run_command
from payments import providers
from payments.models import LedgerTransaction, Payment, ReconciliationIssue, Wallet
from payments.payment_records import credits_of, payment_mark_paid
from payments.providers.base import (
    FAILED,
    PAID,
    PENDING,
    PaymentProvider,
    ProviderUnavailable,
    RemoteStatus,
    StatementLine,
)
from payments.reconciliation import day_bounds
from payments.tests.support import assert_ledger_consistent, new_client
from payments.topups import new_order_id
from payments.wallet import wallet_charge, wallet_credit_topup

pytestmark = pytest.mark.django_db
D = Decimal
Status = Payment.Status


class FakeProvider(PaymentProvider):
    """Answers status polls from `answers` (order id → state) and statements from `lines`."""

    code = "odengi"
    currencies = ("KGS",)
    answers: dict[str, str] = {}
    lines: list[StatementLine] = []
    asked: list[str] = []

    def status(self, payment):
        FakeProvider.asked.append(payment.order_id)
        state = FakeProvider.answers.get(payment.order_id, PENDING)
        if state == "down":
            raise ProviderUnavailable("connect timeout")
        return RemoteStatus(
            state,
            amount=payment.amount if state == PAID else None,
            detail="declined" if state == FAILED else "",
        )

    def cancel(self, payment):
        pass

    def statement(self, since, until):
        return [line for line in FakeProvider.lines if since <= line.at < until]


class BrokenProvider(FakeProvider):
    code = "obank"

    def statement(self, since, until):
        raise ProviderUnavailable("statement service down")


@pytest.fixture(autouse=True)
def fake_providers(monkeypatch, settings):
    monkeypatch.setitem(providers.IMPLEMENTATIONS, "odengi", f"{__name__}.FakeProvider")
    monkeypatch.setitem(providers.IMPLEMENTATIONS, "obank", f"{__name__}.BrokenProvider")
    settings.PAYMENT_PROVIDERS = ["odengi"]
    settings.RECONCILE_STUCK_AFTER_HOURS = 2
    FakeProvider.answers, FakeProvider.lines, FakeProvider.asked = {}, [], []


@pytest.fixture
def staff(staff_user):
    return staff_user  # username "finance"


def run(*args, **options) -> str:
    return run_command(*args, **options)[0]


fails = command_fails


def funded(amount: str = "100.00"):
    client = new_client()
    wallet_credit_topup(
        client=client, amount=D(amount), payment_ref=f"seed-{client.pk}", key=f"seed:{client.pk}"
    )
    return client


def wallet(client) -> Wallet:
    return Wallet.objects.get(client=client)


def ledger() -> list[int]:
    return sorted(LedgerTransaction.objects.values_list("pk", flat=True))


def payment(amount="100.00", *, status=Status.PENDING) -> Payment:
    return Payment.objects.create(
        client=new_client(),
        provider="odengi",
        order_id=new_order_id(),
        amount=D(amount),
        status=status,
        expires_at=timezone.now() + timedelta(minutes=30),
    )


# -- wallet_adjust ---------------------------------------------------------------------------


def test_an_adjustment_is_refused_unconfirmed_and_a_dry_run_shows_before_and_after(staff):
    client = funded("100.00")
    before = ledger()
    out = run(
        "wallet_adjust", client.phone, "150", reason="lost top-up", staff="finance", dry_run=True
    )
    assert "balance 100.00 KGS, available 100.00, debt 0.00" in out
    assert "would adjust by +150.00 KGS (by finance: lost top-up): balance 100.00 → 250.00" in out
    assert "dry run: nothing was changed" in out
    error = fails("wallet_adjust", client.phone, "150", reason="lost top-up", staff="finance")
    assert (error.returncode, error.code) == (4, "ABORTED")
    error = fails(
        "wallet_adjust",
        client.phone,
        "150",
        reason="lost top-up",
        staff="finance",
        stdin=Terminal("n\n"),
    )
    assert error.returncode == 4
    assert ledger() == before and wallet(client).balance == D("100.00")


def test_a_credit_posts_one_adjustment_with_its_author_and_reason(staff):
    client = funded("100.00")
    out = run(
        "wallet_adjust",
        str(client.pk),
        "150",
        reason="lost top-up, ticket 881",
        staff="finance",
        stdin=Terminal("y\n"),
    )
    adjustment = LedgerTransaction.objects.get(kind="adjustment")
    assert (adjustment.amount, adjustment.author, adjustment.reason) == (
        D("150.00"),
        staff,
        "lost top-up, ticket 881",
    )
    assert adjustment.key.startswith(f"support:wallet:{client.pk}:adjust:")
    assert wallet(client).balance == D("250.00")
    assert "adjusted by +150.00 KGS; balance now 250.00" in out
    assert_ledger_consistent()


def test_a_debit_never_goes_below_zero(staff):
    client = funded("30.00")
    before = ledger()
    out = run(
        "wallet_adjust", client.phone, "-50", reason="double credit", staff="finance", dry_run=True
    )
    assert "refused: INSUFFICIENT_BALANCE (available 30.00, debit 50.00)" in out
    error = fails(
        "wallet_adjust", client.phone, "-50", reason="double credit", staff="finance", yes=True
    )
    assert (error.returncode, error.code) == (1, "INSUFFICIENT_BALANCE")
    assert "required=50.00" in str(error) and "available=30.00" in str(error)
    assert ledger() == before
    run("wallet_adjust", client.phone, "-20.50", reason="double credit", staff="finance", yes=True)
    assert wallet(client).balance == D("9.50")
    assert_ledger_consistent()


def test_a_credit_to_a_wallet_in_debt_pays_the_debt_first(staff):
    client = funded("10.00")
    wallet_charge(client=client, amount=D("25.00"), ref=("session", 1), key="t:charge")
    assert (wallet(client).balance, wallet(client).debt) == (0, D("15.00"))
    out = run("wallet_adjust", client.phone, "40", reason="goodwill", staff="finance", dry_run=True)
    assert "balance 0.00 → 25.00, debt 15.00 → 0.00" in out
    run("wallet_adjust", client.phone, "40", reason="goodwill", staff="finance", yes=True)
    assert (wallet(client).balance, wallet(client).debt) == (D("25.00"), 0)
    assert_ledger_consistent()


def test_adjustment_errors_exit_with_their_codes(staff, django_user_model):
    client = funded()
    django_user_model.objects.create_user("clerk", password="pw-0123456789")  # not staff
    before = ledger()
    cases = [
        (("+996999999999", "10"), {"staff": "finance"}, 3, "NOT_FOUND"),
        (("somebody", "10"), {"staff": "finance"}, 2, "INVALID_CLIENT"),
        ((client.phone, "10"), {"staff": "nobody"}, 3, "NOT_FOUND"),
        ((client.phone, "10"), {"staff": "clerk"}, 1, "NOT_STAFF"),
        ((client.phone, "10"), {"staff": "finance", "reason": "   "}, 1, "ADJUSTMENT_NOT_ALLOWED"),
        ((client.phone, "0"), {"staff": "finance"}, 1, "INVALID_AMOUNT"),
    ]
    for args, options, exit_code, code in cases:
        error = fails("wallet_adjust", *args, **{"reason": "x", "yes": True, **options})
        assert (error.returncode, error.code) == (exit_code, code), (args, options)
    with pytest.raises(CommandError, match="required: --reason"):
        run("wallet_adjust", client.phone, "10", staff="finance", yes=True)
    assert ledger() == before


# -- payment_recheck -------------------------------------------------------------------------


def test_a_recheck_credits_a_payment_paid_at_the_provider_once():
    pay = payment("100.00")
    FakeProvider.answers[pay.order_id] = PAID
    out = run("payment_recheck", pay.order_id, dry_run=True)
    assert "provider says paid 100.00: would credit it" in out
    assert fails("payment_recheck", str(pay.pk)).returncode == 4
    pay.refresh_from_db()
    assert pay.status == Status.PENDING and credits_of(pay) == 0

    out = run("payment_recheck", str(pay.pk), yes=True)
    pay.refresh_from_db()
    assert pay.status == Status.PAID and credits_of(pay) == 1
    assert wallet(pay.client).balance == D("100.00")
    assert f"payment {pay.pk} ({pay.order_id}): pending → paid, credited 100.00 KGS" in out
    asked = len(FakeProvider.asked)
    out = run("payment_recheck", pay.order_id, yes=True)
    assert "already paid: nothing to re-check" in out
    assert len(FakeProvider.asked) == asked and credits_of(pay) == 1
    assert_ledger_consistent()


def test_all_open_rechecks_each_one_and_reports_the_ones_it_could_not():
    paid, failed, pending, unreachable = (payment() for _ in range(4))
    done = payment_mark_paid(payment_id=payment().pk, amount=D("100.00"), source="test")
    FakeProvider.answers.update(
        {paid.order_id: PAID, failed.order_id: FAILED, unreachable.order_id: "down"}
    )
    out, bar = io.StringIO(), Terminal()  # stderr at a terminal: the progress bar shows
    call_command(
        "payment_recheck", all_open=True, dry_run=True, stdout=out, stderr=bar, stdin=io.StringIO()
    )
    assert "4 open payment(s)" in out.getvalue()
    assert "could not ask: PROVIDER_UNAVAILABLE" in out.getvalue()
    assert "asking:" in bar.getvalue() and "/4 [" in bar.getvalue()
    assert Payment.objects.filter(status=Status.PENDING).count() == 4

    error = fails("payment_recheck", all_open=True, yes=True)  # stderr not a terminal: no bar
    assert (error.returncode, error.code) == (5, "PARTIAL")
    assert "1 of 4 payment(s) could not be re-checked" in str(error)
    statuses = {p.pk: p.status for p in Payment.objects.all()}
    assert statuses == {
        paid.pk: Status.PAID,
        failed.pk: Status.CANCELLED,
        pending.pk: Status.PENDING,
        unreachable.pk: Status.PENDING,
        done.pk: Status.PAID,
    }
    assert credits_of(paid) == 1 and credits_of(done) == 1  # the paid one: not asked
    assert done.order_id not in FakeProvider.asked
    assert_ledger_consistent()


def test_recheck_arguments_and_unknown_payments():
    assert fails("payment_recheck", yes=True).returncode == 2
    assert fails("payment_recheck", "1", all_open=True, yes=True).returncode == 2
    error = fails("payment_recheck", "EVP-NOPE", yes=True)
    assert (error.returncode, error.code) == (3, "NOT_FOUND")


# -- reconcile_day ---------------------------------------------------------------------------


def test_reconcile_day_prints_the_issues_and_records_them_once():
    day = timezone.now().astimezone(UTC).date()
    start, _ = day_bounds(day)
    missing = payment("70.00")  # paid at the provider, not credited here
    FakeProvider.lines.append(
        StatementLine(
            provider_transaction_id="T-1",
            order_id=missing.order_id,
            amount=D("70.00"),
            state=PAID,
            at=start + timedelta(hours=1),
        )
    )
    out = run("reconcile_day", f"--day={day}")
    assert f"odengi {day}: 1 issue(s)" in out
    assert f"missing_credit payment {missing.pk} provider tx T-1 ours 70.00 / theirs 70.00" in out
    assert ReconciliationIssue.objects.count() == 1
    out = run("reconcile_day", f"--day={day}", "--provider=odengi")
    assert "1 issue(s)" in out and ReconciliationIssue.objects.count() == 1
    missing.refresh_from_db()
    assert missing.status == Status.PENDING and credits_of(missing) == 0  # nothing credited


def test_reconcile_day_defaults_to_yesterday_and_reports_a_failing_provider(settings):
    settings.PAYMENT_PROVIDERS = ["odengi", "obank"]
    yesterday = (timezone.now() - timedelta(days=1)).date()
    out = io.StringIO()
    err = io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("reconcile_day", stdout=out, stderr=err, no_color=True)
    assert (caught.value.returncode, caught.value.code) == (5, "PROVIDER_FAILED")
    assert f"odengi {yesterday}: 0 issue(s)" in out.getvalue()
    assert (
        f"obank {yesterday}: FAILED — ProviderUnavailable: statement service down" in err.getvalue()
    )


def test_reconcile_day_errors(settings):
    assert fails("reconcile_day", provider="payme").code == "PROVIDER_NOT_AVAILABLE"
    settings.PAYMENT_PROVIDERS = ["odengi", "obank"]
    error = fails("reconcile_day", provider="obank")
    assert (error.returncode, error.code) == (5, "PROVIDER_FAILED")
    with pytest.raises(CommandError, match="not a day"):
        run("reconcile_day", "--day=14.03.2026")
