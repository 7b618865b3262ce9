"""Daily reconciliation: each provider's statement against our payments and ledger.

`reconcile(provider, day)` fetches the provider's statement for one UTC day and records
every discrepancy as a `ReconciliationIssue` (finance sees them in the admin and as CSV):

- MISSING_CREDIT: the statement says paid; we have no payment for it, or ours is not
  credited (or is credited for another provider transaction of the same order).
- DOUBLE_CREDIT: the ledger holds more than one top-up credit for one payment
  (`payment_records.credits_of`), or two of our payments were credited for one provider transaction.
- AMOUNT_MISMATCH: the statement's amount is not ours.
- UNKNOWN_AT_PROVIDER: we credited a payment that day, and the statement does not list it
  as paid.
- STUCK_PENDING: an open payment more than `settings.RECONCILE_STUCK_AFTER_HOURS` past its
  expiry (the hourly expiry did not close it). This one is about now, not about the day:
  it is recorded under the day being reconciled, once while unresolved.

Nothing is credited here. A missing credit is recorded and waits for a person: the admin's
"Credit the payment" (`issue_credit`) goes through `payment_records.payment_mark_paid(...,
source="reconciliation")`, the one crediting path; anything else is closed with "Mark
resolved" and a note (`issue_resolve`). A statement is evidence to look at, not a command:
crediting from it silently would hide a provider's mistake (or a wrong statement parser)
inside the ledger.

Day bounds: a statement line belongs to the UTC day of its `at`; only those lines can raise
MISSING_CREDIT, AMOUNT_MISMATCH or a two-payment DOUBLE_CREDIT, so each line is judged on
exactly one day. The statement is fetched for the day widened by `MARGIN` on both sides:
those extra lines only vouch for our payments credited that day, whose provider time may
fall just before midnight (a provider times a payment when it started; we when we learned
it was paid — a retried callback, a status poll). Our side of a day: payments credited
(`paid_at`) and top-up credits posted within the day.

Idempotent: every issue is `get_or_create`d on the unique constraint
`uniq_reconciliation_issue` (provider, day, kind, payment, provider transaction id), so
running a day again finds the same rows. `reconcile_all(day)` runs every enabled provider;
one provider's failure is logged and reported without stopping the others.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from evpower.alerts import alert_reconciliation_issues
from evpower.spreadsheet import formula_safe

from . import payment_records
from .models import LedgerTransaction
from .money import money
from .payment_models import Payment, ReconciliationIssue
from .providers import enabled, provider_for
from .providers.base import PAID, StatementLine

log = logging.getLogger("payments")
Kind = ReconciliationIssue.Kind
Status = Payment.Status
CREDITED = (Status.PAID, Status.REFUNDED)

MARGIN = timedelta(hours=3)  # see the module docstring: lines that may vouch for our payments


class IssueNotCreditable(Exception):
    """The issue is not one that "Credit the payment" can settle (the message says why)."""


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


# -- reconcile ---------------------------------------------------------------------------


@dataclass
class _Found:
    """Issues of one run, in the order found; recorded together at the end."""

    provider: str
    day: date
    rows: list[dict] = field(default_factory=list)

    def add(
        self,
        kind: str,
        *,
        payment: Payment | None = None,
        ptid: str = "",
        our: Decimal | None = None,
        their: Decimal | None = None,
        detail: str = "",
    ) -> None:
        self.rows.append(
            {
                "kind": kind,
                "payment": payment,
                "provider_transaction_id": ptid[:64],
                "defaults": {"our_amount": our, "their_amount": their, "detail": detail[:300]},
            }
        )


def reconcile(provider: str, day: date) -> list[ReconciliationIssue]:
    """Compare one provider's statement of `day` (UTC) with our records; returns the issues
    found (new ones and those already recorded for this day)."""
    implementation = provider_for(provider)  # ProviderNotAvailable when not enabled
    start, end = day_bounds(day)
    lines = implementation.statement(start - MARGIN, end + MARGIN)  # network: no transaction
    found = _Found(provider, day)
    vouched = _compare_lines(found, [line for line in lines if line.state == PAID], start, end)
    _unknown_at_provider(found, vouched, start, end)
    _double_credits(found, start, end)
    issues = _record(found)
    issues += _stuck_pending(provider, day)
    if issues:
        log.warning(
            "reconciliation %s %s: %d issue(s): %s",
            provider,
            day,
            len(issues),
            ", ".join(sorted({i.kind for i in issues})),
        )
    else:
        log.info("reconciliation %s %s: %d statement line(s), no issues", provider, day, len(lines))
    return issues


def _compare_lines(
    found: _Found, paid: list[StatementLine], start: datetime, end: datetime
) -> set[int]:
    """Judge the day's paid lines; returns the ids of our payments any paid line vouches for
    (the margin's lines included)."""
    ours = Payment.objects.filter(provider=found.provider).filter(
        Q(order_id__in={line.order_id for line in paid if line.order_id})
        | Q(
            provider_transaction_id__in={
                line.provider_transaction_id for line in paid if line.provider_transaction_id
            }
        )
    )
    by_order, by_ptid = {}, {}
    for payment in ours:
        by_order[payment.order_id] = payment
        if payment.provider_transaction_id:
            by_ptid[payment.provider_transaction_id] = payment
    vouched: set[int] = set()
    for line in paid:
        ptid = line.provider_transaction_id
        of_tx = by_ptid.get(ptid) if ptid else None
        of_order = by_order.get(line.order_id) if line.order_id else None
        payment = of_tx or of_order
        vouched.update(p.pk for p in (of_tx, of_order) if p is not None)
        if not start <= line.at < end:
            continue  # another day's line; here it only vouches
        key = ptid or f"order:{line.order_id}"
        their = Decimal(line.amount)
        if payment is None:
            found.add(
                Kind.MISSING_CREDIT,
                ptid=key,
                their=money(their),
                detail=f"paid at the provider for order {line.order_id!r}, which we do not know",
            )
            continue
        if (
            of_tx
            and of_order
            and of_tx.pk != of_order.pk
            and of_tx.credit_id
            and of_order.credit_id
        ):
            found.add(
                Kind.DOUBLE_CREDIT,
                payment=of_order,
                ptid=key,
                our=of_order.amount,
                their=money(their),
                detail=f"provider transaction {ptid} credited to payments {of_tx.pk} "
                f"and {of_order.pk}",
            )
        if their != payment.amount:
            found.add(
                Kind.AMOUNT_MISMATCH,
                payment=payment,
                ptid=key,
                our=payment.amount,
                their=money(their),
                detail=f"statement {their} {payment.currency}, ours {payment.amount} "
                f"(payment {payment.status})",
            )
        elif payment.status not in CREDITED:
            found.add(
                Kind.MISSING_CREDIT,
                payment=payment,
                ptid=key,
                our=payment.amount,
                their=money(their),
                detail=f"paid at the provider; ours is {payment.status}",
            )
        elif payment.provider_transaction_id not in ("", ptid) and ptid:
            found.add(
                Kind.MISSING_CREDIT,
                payment=payment,
                ptid=key,
                our=payment.amount,
                their=money(their),
                detail=f"order credited for provider transaction "
                f"{payment.provider_transaction_id}; this one is not credited",
            )
    return vouched


def _unknown_at_provider(found: _Found, vouched: set[int], start: datetime, end: datetime) -> None:
    credited = (
        Payment.objects.filter(
            provider=found.provider, status=Status.PAID, paid_at__gte=start, paid_at__lt=end
        )
        .exclude(pk__in=vouched)
        .order_by("id")
    )
    for payment in credited:
        found.add(
            Kind.UNKNOWN_AT_PROVIDER,
            payment=payment,
            our=payment.amount,
            detail=f"credited {payment.paid_at:%Y-%m-%d %H:%M:%S} UTC; the statement "
            "does not list it as paid",
        )


def _double_credits(found: _Found, start: datetime, end: datetime) -> None:
    """Payments of this provider with a top-up credit posted that day and more than one
    credit in all (confirmed with `credits_of`, the one definition of a credit)."""
    topups_of = LedgerTransaction.objects.filter(
        kind=LedgerTransaction.Kind.TOPUP, ref_type="payment"
    )
    that_day = topups_of.filter(created_at__gte=start, created_at__lt=end).values("ref_id")
    suspects = [
        int(ref)
        for ref in topups_of.filter(ref_id__in=that_day)
        .exclude(key__endswith=":undone")
        .values("ref_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .values_list("ref_id", flat=True)
        if ref.isdigit()
    ]
    for payment in Payment.objects.filter(provider=found.provider, pk__in=suspects):
        credits = payment_records.credits_of(payment)
        if credits > 1:
            found.add(
                Kind.DOUBLE_CREDIT,
                payment=payment,
                our=payment.amount,
                detail=f"{credits} top-up credits in the ledger for one payment",
            )


def _stuck_pending(provider: str, day: date) -> list[ReconciliationIssue]:
    """Open payments long past expiry; one unresolved issue per payment whatever the day."""
    cutoff = timezone.now() - timedelta(hours=settings.RECONCILE_STUCK_AFTER_HOURS)
    stuck = list(
        Payment.objects.filter(
            provider=provider, status__in=Payment.OPEN_STATUSES, expires_at__lt=cutoff
        ).order_by("id")
    )
    open_issues = {
        issue.payment_id: issue
        for issue in ReconciliationIssue.objects.filter(
            kind=Kind.STUCK_PENDING, payment__in=stuck, resolved_at__isnull=True
        )
    }
    found = _Found(provider, day)
    issues = []
    for payment in stuck:
        if payment.pk in open_issues:
            issues.append(open_issues[payment.pk])
            continue
        found.add(
            Kind.STUCK_PENDING,
            payment=payment,
            our=payment.amount,
            detail=f"{payment.status} since {payment.created_at:%Y-%m-%d %H:%M} UTC, "
            f"expired {payment.expires_at:%Y-%m-%d %H:%M} UTC",
        )
    return issues + _record(found)


def _record(found: _Found) -> list[ReconciliationIssue]:
    issues, new = [], []
    with transaction.atomic():
        for row in found.rows:
            issue, created = ReconciliationIssue.objects.get_or_create(
                provider=found.provider, day=found.day, **row
            )
            issues.append(issue)
            new += [issue] if created else []
        alert_reconciliation_issues(found.provider, found.day, new)  # after the commit
    return issues


@dataclass(frozen=True)
class ProviderRun:
    provider: str
    issues: list[ReconciliationIssue]
    error: str = ""  # the provider could not be reconciled (statement failed, ...)


def reconcile_all(day: date) -> list[ProviderRun]:
    """Every enabled provider; a failing one is logged and reported, the others still run."""
    runs = []
    for provider in enabled():
        try:
            runs.append(ProviderRun(provider, reconcile(provider, day)))
        except Exception as exc:  # one provider must not stop the others
            log.exception("reconciliation %s %s failed", provider, day)
            runs.append(ProviderRun(provider, [], error=f"{type(exc).__name__}: {exc}"[:300]))
    return runs


# -- resolve (the admin's actions) -------------------------------------------------------


def issue_credit(*, issue_id: int, user) -> Payment:
    """Credit the payment of a MISSING_CREDIT issue through the one crediting path and mark
    the issue resolved, together. IssueNotCreditable when it is not that kind of issue;
    the crediting path's own errors (AmountMismatch, ProviderTransactionMismatch) pass."""
    with transaction.atomic():
        issue = ReconciliationIssue.objects.select_for_update().get(pk=issue_id)
        if issue.resolved_at is not None:
            raise IssueNotCreditable("already resolved")
        if issue.kind != Kind.MISSING_CREDIT or issue.payment_id is None:
            raise IssueNotCreditable(
                "only a missing credit of one of our payments can be "
                "credited; resolve the others by hand"
            )
        payment = Payment.objects.get(pk=issue.payment_id)
        ptid = (
            ""
            if issue.provider_transaction_id.startswith("order:")
            else issue.provider_transaction_id
        )
        if payment.status in CREDITED:
            if ptid and payment.provider_transaction_id not in ("", ptid):
                raise IssueNotCreditable(
                    f"the payment is credited for provider transaction "
                    f"{payment.provider_transaction_id}; {ptid} is another payment at the "
                    "provider (refund it there, or adjust the wallet), then mark resolved"
                )
            note = f"already credited (ledger transaction {payment.credit_id})"
        else:
            payment = payment_records.payment_mark_paid(
                payment_id=payment.pk,
                source="reconciliation",
                provider_transaction_id=ptid,
                amount=issue.their_amount if issue.their_amount is not None else payment.amount,
            )
            note = f"credited from the statement (ledger transaction {payment.credit_id})"
        _resolve(issue, user, note)
    log.info("reconciliation issue %s: %s by %s", issue.pk, note, user)
    return payment


def issue_resolve(*, issue_id: int, user, note: str) -> bool:
    """Close an issue with a note (mandatory); False when it was already resolved."""
    note = (note or "").strip()
    if not note:
        raise ValueError("a note is required")
    with transaction.atomic():
        issue = ReconciliationIssue.objects.select_for_update().get(pk=issue_id)
        if issue.resolved_at is not None:
            return False
        _resolve(issue, user, note)
    log.info("reconciliation issue %s resolved by %s: %s", issue_id, user, note)
    return True


def _resolve(issue: ReconciliationIssue, user, note: str) -> None:
    issue.resolved_at, issue.resolved_by, issue.resolution = timezone.now(), user, note[:300]
    issue.save(update_fields=["resolved_at", "resolved_by", "resolution"])


# -- CSV ---------------------------------------------------------------------------------

CSV_COLUMNS = (
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
)


def _cell(value) -> str:
    """A text cell a spreadsheet will not run as a formula (order ids and details come
    from outside)."""
    return "" if value is None else formula_safe(str(value))


def _when(at: datetime | None) -> str:
    return at.astimezone(UTC).isoformat(timespec="seconds") if at else ""


def issues_csv(queryset: Iterable[ReconciliationIssue]) -> str:
    """The issues as CSV (UTF-8 text, a header row; times in UTC)."""
    if hasattr(queryset, "select_related"):
        queryset = queryset.select_related("payment").order_by("day", "provider", "id")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for issue in queryset:
        payment = issue.payment
        writer.writerow(
            [
                issue.provider,
                issue.day.isoformat(),
                issue.kind,
                _cell(payment.order_id if payment else ""),
                _cell(
                    issue.provider_transaction_id
                    or (payment.provider_transaction_id if payment else "")
                ),
                "" if issue.our_amount is None else f"{issue.our_amount:.2f}",
                "" if issue.their_amount is None else f"{issue.their_amount:.2f}",
                _cell(issue.detail),
                _when(issue.found_at),
                _when(issue.resolved_at),
                _cell(issue.resolution),
            ]
        )
    return out.getvalue()
