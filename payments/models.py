"""Wallets and the double-entry ledger.

Every money movement is one `LedgerTransaction` (an operation: top-up, hold, capture, ...)
made of `LedgerPosting`s whose amounts sum to zero. Sign convention: a positive amount is
a CREDIT, a negative one a DEBIT. Accounts:

| account           | wallet | kind      | normal side | meaning                              |
|-------------------|--------|-----------|-------------|--------------------------------------|
| client_available  | yes    | liability | credit (+)  | what the client can spend            |
| client_held       | yes    | liability | credit (+)  | reserved by holds (running sessions) |
| client_debt       | yes    | asset     | debit (−)   | receivable: overrun beyond balance   |
| provider_clearing | no     | asset     | debit (−)   | money due from / held by providers   |
| platform_revenue  | no     | income    | credit (+)  | captured charges                     |
| refunds           | no     | contra    | debit (−)   | charges given back                   |
| adjustments       | no     | equity    | either      | manual staff corrections             |

`Wallet` caches the client-side accounts for locking and constraints (all Decimal(12,2)):
- `balance` = client_available + client_held: the client's money, `held` INCLUDED;
- `held`    = client_held (part of balance; `available` = balance − held);
- `debt`    = −client_debt: what the client still owes (never a negative balance instead).
The database enforces balance ≥ 0, 0 ≤ held ≤ balance, debt ≥ 0 and "debt only when nothing
is available" (credits settle debt first). `selectors.ledger_invariant_violations()` checks
the caches against the postings with one query.

The ledger is append-only: nothing updates or deletes a transaction or posting (a PostgreSQL
trigger refuses it); a mistake is corrected by a new, opposite transaction.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from evpower.display_names import display_names

from .models_idempotency import IdempotencyKey  # noqa: F401 - HTTP Idempotency-Key answers
from .money import CURRENCY_CHOICES, DEFAULT_CURRENCY, ZERO
from .payment_models import (  # noqa: F401 - top-ups through providers
    Payment,
    PaymentEvent,
    Provider,
    ReconciliationIssue,
)

MONEY = {"max_digits": 12, "decimal_places": 2}


class Account(models.TextChoices):
    CLIENT_AVAILABLE = "client_available", _("Client Available")
    CLIENT_HELD = "client_held", _("Client Held")
    CLIENT_DEBT = "client_debt", _("Client Debt")
    PROVIDER_CLEARING = "provider_clearing", _("Provider Clearing")
    PLATFORM_REVENUE = "platform_revenue", _("Platform Revenue")
    REFUNDS = "refunds", _("Refunds")
    ADJUSTMENTS = "adjustments", _("Adjustments")


CLIENT_ACCOUNTS = (Account.CLIENT_AVAILABLE, Account.CLIENT_HELD, Account.CLIENT_DEBT)
BALANCE_ACCOUNTS = (Account.CLIENT_AVAILABLE, Account.CLIENT_HELD)


class Wallet(models.Model):
    client = models.OneToOneField(
        "accounts.Client", on_delete=models.PROTECT, related_name="wallet"
    )
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES, default=DEFAULT_CURRENCY)
    balance = models.DecimalField(**MONEY, default=ZERO, help_text=_("held included"))
    held = models.DecimalField(**MONEY, default=ZERO)
    debt = models.DecimalField(**MONEY, default=ZERO)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        permissions = [("adjust_wallet", "Can adjust a wallet balance (with a reason)")]
        constraints = [
            models.CheckConstraint(name="wallet_balance_non_negative", condition=Q(balance__gte=0)),
            models.CheckConstraint(name="wallet_held_non_negative", condition=Q(held__gte=0)),
            models.CheckConstraint(
                name="wallet_held_within_balance", condition=Q(held__lte=F("balance"))
            ),
            models.CheckConstraint(name="wallet_debt_non_negative", condition=Q(debt__gte=0)),
            models.CheckConstraint(
                name="wallet_debt_only_when_nothing_available",
                condition=Q(debt=0) | Q(balance=F("held")),
            ),
        ]

    def __str__(self) -> str:
        return f"wallet of client {self.client_id}"

    @property
    def available(self) -> Decimal:
        return self.balance - self.held


class Hold(models.Model):
    """Funds reserved for something not billed yet (a charging session). Captured once,
    then released (the rest goes back to available)."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        # captured, the rest (if any) still held until released
        CAPTURED = "captured", _("Captured")
        RELEASED = "released", _("Released")  # closed: nothing held any more

    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="holds")
    amount = models.DecimalField(**MONEY)
    captured = models.DecimalField(**MONEY, default=ZERO, help_text=_("taken from the hold"))
    released = models.DecimalField(**MONEY, default=ZERO)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    ref_type = models.CharField(max_length=32, blank=True)
    ref_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["ref_type", "ref_id"]),
            models.Index(fields=["wallet", "status"]),
        ]
        constraints = [
            models.CheckConstraint(name="hold_amount_positive", condition=Q(amount__gt=0)),
            models.CheckConstraint(
                name="hold_parts_non_negative", condition=Q(captured__gte=0, released__gte=0)
            ),
            models.CheckConstraint(
                name="hold_parts_within_amount",
                condition=Q(amount__gte=F("captured") + F("released")),
            ),
            models.CheckConstraint(
                name="hold_released_is_empty",
                condition=~Q(status="released") | Q(amount=F("captured") + F("released")),
            ),
        ]

    def __str__(self) -> str:
        return f"hold {self.pk} of {self.amount} ({self.status})"

    @property
    def remaining(self) -> Decimal:
        return self.amount - self.captured - self.released


class LedgerTransaction(models.Model):
    """One money operation. `key` makes it idempotent: a retried call with the same key
    finds this row and returns its result instead of posting again."""

    class Kind(models.TextChoices):
        TOPUP = "topup", pgettext_lazy("ledger kind", "Topup")
        # a top-up given back through its provider
        TOPUP_REVERSAL = "topup_reversal", pgettext_lazy("ledger kind", "Topup Reversal")
        HOLD = "hold", pgettext_lazy("ledger kind", "Hold")
        CAPTURE = "capture", pgettext_lazy("ledger kind", "Capture")
        # a capture without a hold (a charge started with an id tag)
        CHARGE = "charge", pgettext_lazy("ledger kind", "Charge")
        RELEASE = "release", pgettext_lazy("ledger kind", "Release")
        REFUND = "refund", pgettext_lazy("ledger kind", "Refund")
        DEBT_SETTLEMENT = "debt_settlement", pgettext_lazy("ledger kind", "Debt Settlement")
        ADJUSTMENT = "adjustment", pgettext_lazy("ledger kind", "Adjustment")

    key = models.CharField(max_length=255, unique=True)  # callers use ≤ 200 (+ suffixes)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="transactions")
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    amount = models.DecimalField(**MONEY, help_text=_("what was asked (adjustments: signed)"))
    ref_type = models.CharField(max_length=32, blank=True)  # "payment", "session", ...
    ref_id = models.CharField(max_length=64, blank=True)
    hold = models.ForeignKey(
        Hold, on_delete=models.PROTECT, null=True, blank=True, related_name="transactions"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reason = models.TextField(blank=True)
    # the wallet right after this transaction (a statement needs no running sum)
    balance_after = models.DecimalField(**MONEY)
    held_after = models.DecimalField(**MONEY)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["wallet", "-id"]),
            models.Index(fields=["ref_type", "ref_id"]),
        ]
        constraints = [
            models.CheckConstraint(
                name="ledger_adjustment_has_reason_and_author",
                condition=~Q(kind="adjustment") | (~Q(reason="") & Q(author__isnull=False)),
            ),
            models.CheckConstraint(
                name="ledger_hold_ops_name_hold",
                condition=~Q(kind__in=["hold", "capture", "release"]) | Q(hold__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} ({self.key})"


class LedgerPosting(models.Model):
    """One line of a transaction: `amount` (credit +, debit −) on one account."""

    transaction = models.ForeignKey(
        LedgerTransaction, on_delete=models.PROTECT, related_name="postings"
    )
    account = models.CharField(max_length=20, choices=Account.choices)
    wallet = models.ForeignKey(
        Wallet, on_delete=models.PROTECT, null=True, blank=True, related_name="postings"
    )
    amount = models.DecimalField(**MONEY)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["wallet", "account"])]
        constraints = [
            models.CheckConstraint(name="posting_amount_non_zero", condition=~Q(amount=0)),
            models.CheckConstraint(
                name="posting_client_account_names_wallet",
                condition=(Q(account__in=CLIENT_ACCOUNTS) & Q(wallet__isnull=False))
                | (~Q(account__in=CLIENT_ACCOUNTS) & Q(wallet__isnull=True)),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account} {self.amount:+}"


class Debt(models.Model):
    """What a capture could not take (hold and available balance exhausted). Settled,
    oldest first, by the next credits to the wallet; forgiven by a refund of its ref."""

    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="debts")
    transaction = models.ForeignKey(
        LedgerTransaction, on_delete=models.PROTECT, related_name="debts"
    )
    amount = models.DecimalField(**MONEY)
    settled = models.DecimalField(**MONEY, default=ZERO, help_text=_("paid or forgiven"))
    ref_type = models.CharField(max_length=32, blank=True)
    ref_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["ref_type", "ref_id"])]
        constraints = [
            models.CheckConstraint(name="debt_amount_positive", condition=Q(amount__gt=0)),
            models.CheckConstraint(
                name="debt_settled_within_amount",
                condition=Q(settled__gte=0) & Q(settled__lte=F("amount")),
            ),
        ]

    def __str__(self) -> str:
        return f"debt {self.amount} ({self.settled} settled)"

    @property
    def outstanding(self) -> Decimal:
        return self.amount - self.settled


display_names(
    Wallet,
    _("wallet"),
    _("wallets"),
    {
        "client": _("client"),
        "currency": _("currency"),
        "balance": _("balance"),
        "held": _("held"),
        "debt": _("debt"),
        "created_at": _("created at"),
        "updated_at": _("updated at"),
    },
)

display_names(
    Hold,
    _("hold"),
    _("holds"),
    {
        "wallet": _("wallet"),
        "amount": _("amount"),
        "captured": _("captured"),
        "released": _("released"),
        "status": _("status"),
        "ref_type": _("reference type"),
        "ref_id": _("reference ID"),
        "created_at": _("created at"),
        "closed_at": _("closed at"),
    },
)

display_names(
    LedgerTransaction,
    _("ledger transaction"),
    _("ledger transactions"),
    {
        "key": _("key"),
        "kind": _("kind"),
        "wallet": _("wallet"),
        "currency": _("currency"),
        "amount": _("amount"),
        "ref_type": _("reference type"),
        "ref_id": _("reference ID"),
        "hold": _("hold"),
        "author": _("author"),
        "reason": _("reason"),
        "balance_after": _("balance after"),
        "held_after": _("held after"),
        "created_at": _("created at"),
    },
)

display_names(
    LedgerPosting,
    _("ledger posting"),
    _("ledger postings"),
    {
        "transaction": _("transaction"),
        "account": _("account"),
        "wallet": _("wallet"),
        "amount": _("amount"),
    },
)

display_names(
    Debt,
    _("debt"),
    _("debts"),
    {
        "wallet": _("wallet"),
        "transaction": _("transaction"),
        "amount": _("amount"),
        "settled": pgettext_lazy("debt", "settled"),
        "ref_type": _("reference type"),
        "ref_id": _("reference ID"),
        "created_at": _("created at"),
        "settled_at": _("settled at"),
    },
)
