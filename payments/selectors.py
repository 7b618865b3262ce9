"""Reads of wallets and the ledger (no writes here)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import DecimalField, F, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from .models import (
    BALANCE_ACCOUNTS,
    Account,
    Hold,
    LedgerPosting,
    LedgerTransaction,
    Payment,
    Wallet,
)
from .money import DEFAULT_CURRENCY, ZERO

_MONEY = DecimalField(max_digits=14, decimal_places=2)


@dataclass(frozen=True)
class WalletSummary:
    balance: Decimal  # held included
    held: Decimal
    available: Decimal
    debt: Decimal
    currency: str


def wallet_summary(*, client) -> WalletSummary:
    """The client's wallet; zeros when none exists yet (it is created on first money move)."""
    wallet = Wallet.objects.filter(client_id=client.pk).first()
    if wallet is None:
        return WalletSummary(ZERO, ZERO, ZERO, ZERO, DEFAULT_CURRENCY)
    return WalletSummary(
        balance=wallet.balance,
        held=wallet.held,
        available=wallet.available,
        debt=wallet.debt,
        currency=wallet.currency,
    )


def wallet_balance(*, client) -> Decimal:
    return wallet_summary(client=client).balance


def wallet_held(*, client) -> Decimal:
    return wallet_summary(client=client).held


def wallet_available(*, client) -> Decimal:
    return wallet_summary(client=client).available


def _posted(*accounts: str, on: str = "wallet") -> Subquery:
    """Sum of this wallet's postings on `accounts` (0 when none), as a subquery."""
    rows = (
        LedgerPosting.objects.filter(**{on: OuterRef("pk")}, account__in=accounts)
        .order_by()
        .values(on)
        .annotate(total=Sum("amount"))
        .values("total")
    )
    return Coalesce(Subquery(rows, output_field=_MONEY), Value(ZERO, output_field=_MONEY))


def ledger_history(*, client) -> QuerySet[LedgerTransaction]:
    """The client's ledger, newest first, each with what it changed on the balance
    (`balance_change`, held included) and on the available part (`available_change`)."""
    return (
        LedgerTransaction.objects.filter(wallet__client_id=client.pk)
        .order_by("-id")
        .annotate(
            balance_change=_posted(*BALANCE_ACCOUNTS, on="transaction"),
            available_change=_posted(Account.CLIENT_AVAILABLE, on="transaction"),
        )
    )


def refundable_for(*, client, ref: tuple[str, object]) -> Decimal:
    """What `wallet_refund` still accepts for `ref` (e.g. ("session", 42)) on the client's
    wallet: captured or charged for it, less earlier refunds (0 when there is no wallet).
    The service checks it again under the wallet's lock; this is for forms and pages."""
    ref_type, ref_id = str(ref[0]), "" if ref[1] is None else str(ref[1])
    totals = dict(
        LedgerTransaction.objects.filter(
            wallet__client_id=client.pk,
            ref_type=ref_type,
            ref_id=ref_id,
            kind__in=[
                LedgerTransaction.Kind.CAPTURE,
                LedgerTransaction.Kind.CHARGE,
                LedgerTransaction.Kind.REFUND,
            ],
        )
        .order_by()
        .values_list("kind")
        .annotate(total=Sum("amount"))
    )
    return (
        (totals.get(LedgerTransaction.Kind.CAPTURE) or ZERO)
        + (totals.get(LedgerTransaction.Kind.CHARGE) or ZERO)
        - (totals.get(LedgerTransaction.Kind.REFUND) or ZERO)
    )


def wallets_with_posted_sums() -> QuerySet[Wallet]:
    """Wallets with the sums their postings give, and what their open holds still hold."""
    open_holds = (
        Hold.objects.filter(wallet=OuterRef("pk"))
        .exclude(status=Hold.Status.RELEASED)
        .order_by()
        .values("wallet")
        .annotate(total=Sum(F("amount") - F("captured") - F("released")))
        .values("total")
    )
    return Wallet.objects.annotate(
        posted_balance=_posted(*BALANCE_ACCOUNTS),
        posted_held=_posted(Account.CLIENT_HELD),
        posted_debt=-_posted(Account.CLIENT_DEBT),
        open_holds=Coalesce(
            Subquery(open_holds, output_field=_MONEY), Value(ZERO, output_field=_MONEY)
        ),
    )


def ledger_invariant_violations() -> QuerySet[Wallet]:
    """Wallets whose cached balance / held / debt differ from the sum of their postings, or
    whose held amount differs from what their open holds still hold (annotated with
    posted_balance, posted_held, posted_debt, open_holds). Empty when all is well."""
    return (
        wallets_with_posted_sums()
        .filter(
            ~Q(balance=F("posted_balance"))
            | ~Q(held=F("posted_held"))
            | ~Q(debt=F("posted_debt"))
            | ~Q(held=F("open_holds"))
        )
        .order_by("pk")
    )


def unbalanced_transactions() -> QuerySet[LedgerTransaction]:
    """Transactions whose postings do not sum to zero (should always be empty)."""
    return (
        LedgerTransaction.objects.annotate(total=_posted(*Account.values, on="transaction"))
        .exclude(total=0)
        .order_by("pk")
    )


def trial_balance(currency: str = DEFAULT_CURRENCY) -> dict[str, Decimal]:
    """Sum per account over the whole ledger in one currency; the values sum to zero."""
    rows = (
        LedgerPosting.objects.filter(transaction__currency=currency)
        .order_by()
        .values_list("account")
        .annotate(total=Sum("amount"))
    )
    return {account: total for account, total in rows}


def payments_of(*, client) -> QuerySet[Payment]:
    return Payment.objects.filter(client=client).order_by("-id")


def payment_of(*, client, payment_id: int) -> Payment | None:
    """The client's own payment (None for anyone else's)."""
    return Payment.objects.filter(client=client, pk=payment_id).first()
