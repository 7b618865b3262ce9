"""Daily reconciliation against a provider's statement (a fake provider registered for the
test), the CSV export and the Celery tasks that run it."""

from __future__ import annotations

import csv
import io
import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from payments import providers
from payments.errors import PaymentProviderError
from payments.models import LedgerTransaction, Payment, ReconciliationIssue
from payments.payment_records import credits_of, payment_mark_paid
from payments.providers.base import (
    FAILED,
    PAID,
    PaymentProvider,
    ProviderRefused,
    ProviderUnavailable,
    StatementLine,
)
from payments.reconciliation import MARGIN, day_bounds, issues_csv, reconcile, reconcile_all
from payments.tasks import payments_expire_task, reconcile_task
from payments.tests.support import assert_ledger_consistent, new_client
from payments.topups import new_order_id, payment_refund_to_provider
from payments.wallet import wallet_credit_topup

pytestmark = pytest.mark.django_db
Kind = ReconciliationIssue.Kind


# -- the fake providers ------------------------------------------------------------------


class FakeProvider(PaymentProvider):
    """Statement lines seeded by the test; refunds refused."""

    code = "odengi"
    currencies = ("KGS",)
    lines: list[StatementLine] = []
    asked: list[tuple[datetime, datetime]] = []

    def statement(self, since, until):
        FakeProvider.asked.append((since, until))
        return [line for line in FakeProvider.lines if since <= line.at < until]

    def refund(self, payment, amount):
        raise ProviderRefused("refunds are not allowed for this merchant", code=-1)


class BrokenProvider(PaymentProvider):
    code = "obank"
    currencies = ("KGS",)

    def statement(self, since, until):
        raise ProviderUnavailable("statement service down")


@pytest.fixture(autouse=True)
def fake_providers(monkeypatch, settings):
    monkeypatch.setitem(providers.IMPLEMENTATIONS, "odengi", f"{__name__}.FakeProvider")
    monkeypatch.setitem(providers.IMPLEMENTATIONS, "obank", f"{__name__}.BrokenProvider")
    settings.PAYMENT_PROVIDERS = ["odengi"]
    settings.RECONCILE_STUCK_AFTER_HOURS = 2
    FakeProvider.lines, FakeProvider.asked = [], []


# -- factories ---------------------------------------------------------------------------

TODAY = timezone.now().astimezone(UTC).date()
START, END = day_bounds(TODAY)


def payment(
    amount="100.00",
    *,
    status=Payment.Status.PENDING,
    expires_in=timedelta(minutes=30),
    provider="odengi",
    ptid="",
) -> Payment:
    return Payment.objects.create(
        client=new_client(),
        provider=provider,
        order_id=new_order_id(),
        amount=Decimal(amount),
        status=status,
        provider_transaction_id=ptid,
        expires_at=timezone.now() + expires_in,
    )


def paid(amount="100.00", *, ptid: str | None = None) -> Payment:
    p = payment(amount)
    return payment_mark_paid(
        payment_id=p.pk,
        amount=Decimal(amount),
        source="test",
        provider_transaction_id=f"T-{p.pk}" if ptid is None else ptid,
    )


def line(
    p: Payment | None = None,
    *,
    amount=None,
    ptid=None,
    order=None,
    state=PAID,
    at: datetime | None = None,
) -> StatementLine:
    made = StatementLine(
        provider_transaction_id=ptid
        if ptid is not None
        else p.provider_transaction_id or f"T-{p.pk}",
        order_id=order if order is not None else p.order_id,
        amount=Decimal(amount) if amount is not None else p.amount,
        state=state,
        at=at or START + timedelta(hours=1),
    )
    FakeProvider.lines.append(made)
    return made


def found(issues) -> set[tuple]:
    return {(i.kind, i.payment_id, i.provider_transaction_id) for i in issues}


def seed_clean() -> list[Payment]:
    """Paid and on the statement; a cancelled one the statement lists as failed; one
    credited just after midnight whose provider time is the evening before; a refund the
    provider refused (its undo is not a second credit)."""
    ok = paid()
    line(ok)
    cancelled = payment("40.00", status=Payment.Status.CANCELLED)
    line(cancelled, ptid="T-failed", state=FAILED)
    near_midnight = paid("70.00")
    line(near_midnight, at=START - timedelta(minutes=20))
    refused = paid("25.00")
    line(refused)
    with pytest.raises(PaymentProviderError):
        payment_refund_to_provider(payment_id=refused.pk, reason="test")
    assert credits_of(refused) == 1
    return [ok, cancelled, near_midnight, refused]


# -- reconcile ---------------------------------------------------------------------------


def test_clean_data_has_no_issues():
    seed_clean()

    assert reconcile("odengi", TODAY) == []

    assert not ReconciliationIssue.objects.exists()
    assert FakeProvider.asked == [(START - MARGIN, END + MARGIN)]


def test_every_discrepancy_is_found_exactly_once_and_nothing_is_credited():
    # given the clean ones
    seed_clean()
    # paid at the provider, still pending here
    pending = payment("50.00")
    line(pending, ptid="T-pending")
    # paid at the provider for an order we never issued
    line(ptid="T-stranger", order="EVPNOTOURS00000000", amount="30.00")
    # another day's stranger (in the margin) is not today's business
    line(
        ptid="T-yesterday",
        order="EVPNOTOURS00000001",
        amount="30.00",
        at=START - timedelta(hours=1),
    )
    # the amounts differ
    short = paid("100.00")
    line(short, amount="90.00")
    # credited here, unknown to the provider (and one the provider lists as failed)
    unknown = paid("60.00")
    reversed_there = paid("61.00")
    line(reversed_there, state=FAILED)
    # credited twice in the ledger
    twice = paid("80.00")
    line(twice)
    wallet_credit_topup(
        client=twice.client,
        amount=twice.amount,
        payment_ref=twice.pk,
        key=f"payment:{twice.pk}:credit:again",
    )
    # one provider transaction credited to two of our payments
    first = paid("45.00", ptid="T-shared")
    second = paid("45.00", ptid="")
    line(second, ptid="T-shared")
    # a second provider transaction for an order already credited
    again = paid("35.00")
    line(again)
    line(again, ptid="T-again-2")
    # open for long past its expiry
    stuck = payment("20.00", expires_in=-timedelta(hours=3))
    fresh = payment("20.00", expires_in=-timedelta(minutes=30))  # the hourly job's business

    # when
    issues = reconcile("odengi", TODAY)

    # then
    assert len(issues) == 9
    assert found(issues) == {
        (Kind.MISSING_CREDIT, pending.pk, "T-pending"),
        (Kind.MISSING_CREDIT, None, "T-stranger"),
        (Kind.MISSING_CREDIT, again.pk, "T-again-2"),
        (Kind.AMOUNT_MISMATCH, short.pk, short.provider_transaction_id),
        (Kind.UNKNOWN_AT_PROVIDER, unknown.pk, ""),
        (Kind.UNKNOWN_AT_PROVIDER, reversed_there.pk, ""),
        (Kind.DOUBLE_CREDIT, twice.pk, ""),
        (Kind.DOUBLE_CREDIT, second.pk, "T-shared"),
        (Kind.STUCK_PENDING, stuck.pk, ""),
    }
    assert ReconciliationIssue.objects.count() == 9
    assert {i.day for i in issues} == {TODAY} and {i.provider for i in issues} == {"odengi"}
    short_issue = next(i for i in issues if i.kind == Kind.AMOUNT_MISMATCH)
    assert (short_issue.our_amount, short_issue.their_amount) == (
        Decimal("100.00"),
        Decimal("90.00"),
    )
    assert str(first.pk) in next(
        i.detail for i in issues if i.kind == Kind.DOUBLE_CREDIT and i.payment_id == second.pk
    )
    # recorded, not credited: a person decides (the admin's "Credit the payment")
    pending.refresh_from_db()
    fresh.refresh_from_db()
    assert pending.status == Payment.Status.PENDING and pending.credit is None
    assert fresh.status == Payment.Status.PENDING
    assert_ledger_consistent()


def test_running_the_same_day_twice_records_no_duplicates():
    pending = payment("50.00")
    line(pending)
    line(ptid="T-stranger", order="EVPNOTOURS00000000", amount="30.00")
    paid("60.00")  # unknown at the provider
    payment("20.00", expires_in=-timedelta(hours=3))  # stuck

    first = reconcile("odengi", TODAY)
    second = reconcile("odengi", TODAY)

    assert len(first) == 4
    assert sorted(i.pk for i in second) == sorted(i.pk for i in first)
    assert ReconciliationIssue.objects.count() == 4


def test_a_stuck_payment_is_reported_once_while_unresolved():
    stuck = payment("20.00", expires_in=-timedelta(hours=3))

    today = reconcile("odengi", TODAY)
    tomorrow = reconcile("odengi", TODAY + timedelta(days=1))

    assert [i.pk for i in today] == [i.pk for i in tomorrow]
    assert ReconciliationIssue.objects.get().payment_id == stuck.pk


def test_reconcile_all_goes_on_after_a_provider_fails(settings, caplog):
    settings.PAYMENT_PROVIDERS = ["obank", "odengi"]  # obank's statement fails
    unknown = paid("60.00")

    with caplog.at_level(logging.ERROR, logger="payments"):
        runs = reconcile_all(TODAY)

    by_provider = {run.provider: run for run in runs}
    assert set(by_provider) == {"obank", "odengi"}
    assert "ProviderUnavailable" in by_provider["obank"].error
    assert by_provider["obank"].issues == []
    assert by_provider["odengi"].error == ""
    assert found(by_provider["odengi"].issues) == {(Kind.UNKNOWN_AT_PROVIDER, unknown.pk, "")}
    assert "reconciliation obank" in caplog.text


def test_the_daily_task_reconciles_yesterday_for_every_provider(settings):
    settings.PAYMENT_PROVIDERS = ["obank", "odengi"]
    yesterday = TODAY - timedelta(days=1)
    line(
        ptid="T-late",
        order="EVPNOTOURS00000009",
        amount="5.00",
        at=day_bounds(yesterday)[0] + timedelta(hours=5),
    )

    result = reconcile_task()

    assert result["day"] == yesterday.isoformat()
    assert result["providers"]["odengi"] == {"issues": 1}
    assert "ProviderUnavailable" in result["providers"]["obank"]["error"]
    assert ReconciliationIssue.objects.get().day == yesterday
    assert reconcile_task(day=yesterday.isoformat())["providers"]["odengi"] == {"issues": 1}
    assert ReconciliationIssue.objects.count() == 1


def test_beat_runs_expiry_hourly_and_reconciliation_daily_at_0230_utc():
    schedule = django_settings.CELERY_BEAT_SCHEDULE
    assert schedule["payments-expire"] == {"task": "payments.expire", "schedule": 3600.0}
    daily = schedule["payments-reconcile"]
    assert daily["task"] == "payments.reconcile"
    assert daily["schedule"].hour == {2} and daily["schedule"].minute == {30}
    assert django_settings.CELERY_TIMEZONE == "UTC"
    assert payments_expire_task.name == "payments.expire"
    assert reconcile_task.name == "payments.reconcile"


# -- CSV -----------------------------------------------------------------------------------


def test_issues_export_as_csv():
    short = paid("100.00")
    line(short, amount="90.00")
    line(ptid='=HYPERLINK("x")', order="EVPNOTOURS00000000", amount="30.50")
    reconcile("odengi", TODAY)
    stranger = ReconciliationIssue.objects.get(payment=None)
    stranger.resolved_at = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    stranger.resolution = "refunded at the provider"
    stranger.save()

    rows = list(csv.reader(io.StringIO(issues_csv(ReconciliationIssue.objects.all()))))

    assert rows[0] == [
        "provider",
        "day",
        "kind",
        "order_id",
        "provider_transaction_id",
        "our_amount",
        "their_amount",
        "detail",
        "found_at",
        "resolved_at",
        "resolution",
    ]
    body = {row[2]: row for row in rows[1:]}
    assert len(rows) == 3
    mismatch = body["amount_mismatch"]
    assert mismatch[:7] == [
        "odengi",
        TODAY.isoformat(),
        "amount_mismatch",
        short.order_id,
        short.provider_transaction_id,
        "100.00",
        "90.00",
    ]
    assert mismatch[8].endswith("+00:00") and mismatch[9:] == ["", ""]
    missing = body["missing_credit"]
    assert missing[3:7] == ["", '\'=HYPERLINK("x")', "", "30.50"]  # no formula for Excel
    assert missing[9:] == ["2030-01-02T03:04:05+00:00", "refunded at the provider"]


def test_ledger_topups_of_other_refs_do_not_confuse_the_double_credit_check():
    ok = paid()
    line(ok)
    client = new_client()
    for n in range(2):  # a legacy top-up reference that is not a payment id
        wallet_credit_topup(client=client, amount="5.00", payment_ref="legacy-7", key=f"legacy:{n}")

    assert reconcile("odengi", TODAY) == []
    assert LedgerTransaction.objects.filter(ref_id="legacy-7").count() == 2
