"""Top-ups through payment providers (O!Dengi, OBANK, Payme, Click).

A `Payment` is one top-up: our `order_id` is what providers quote back to us; their own
transaction id is unique per provider once known. It is credited to the wallet at most
once (`credit`, ledger key "payment:<id>:credit") by `payments.payment_records.payment_mark_paid`,
whichever path learns it was paid first (callback, RPC, status poll, reconciliation).

`PaymentEvent` is the append-only audit of everything a provider said to us or we to it,
secrets masked (a PostgreSQL trigger refuses UPDATE and DELETE, as for the ledger).
`ReconciliationIssue` is a discrepancy between our records and a provider's statement.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from evpower.display_names import display_names

from .money import CURRENCY_CHOICES, DEFAULT_CURRENCY

MONEY = {"max_digits": 12, "decimal_places": 2}


class Provider(models.TextChoices):
    ODENGI = "odengi", "O!Dengi"
    OBANK = "obank", "OBANK"
    PAYME = "payme", "Payme"
    CLICK = "click", "Click"


class Payment(models.Model):
    class Status(models.TextChoices):
        CREATED = "created", _("Created")  # ours only: the provider has not been asked yet
        PENDING = "pending", _("Pending")  # the provider knows it; waiting for the driver to pay
        PAID = "paid", _("Paid")  # credited to the wallet
        CANCELLED = "cancelled", _("Cancelled")
        EXPIRED = "expired", _("Expired")
        REFUNDED = "refunded", _("Refunded")  # paid, then given back through the provider

    OPEN_STATUSES = (Status.CREATED, Status.PENDING)

    client = models.ForeignKey("accounts.Client", on_delete=models.PROTECT, related_name="payments")
    provider = models.CharField(max_length=10, choices=Provider.choices)
    order_id = models.CharField(max_length=32, unique=True, help_text=_("ours, quoted back to us"))
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES, default=DEFAULT_CURRENCY)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.CREATED)
    provider_transaction_id = models.CharField(max_length=64, blank=True)
    provider_state = models.JSONField(
        default=dict, blank=True, help_text=_("provider-specific state (times, codes)")
    )
    checkout = models.JSONField(
        default=dict, blank=True, help_text=_("what the app shows: QR, deep link, payment page")
    )
    expires_at = models.DateTimeField()
    paid_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)
    failure_reason = models.CharField(max_length=300, blank=True)
    credit = models.OneToOneField(
        "payments.LedgerTransaction",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="payment",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        permissions = [("refund_payment", "Can refund a top-up through its provider")]
        indexes = [
            models.Index(fields=["client", "-id"]),
            models.Index(fields=["status", "expires_at"]),
            models.Index(fields=["provider", "created_at"]),
            # the admin list's date drill-down across providers
            models.Index(fields=["created_at"], name="payment_created_at"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "provider_transaction_id"],
                condition=~Q(provider_transaction_id=""),
                name="uniq_provider_transaction",
            ),
            models.CheckConstraint(name="payment_amount_positive", condition=Q(amount__gt=0)),
            models.CheckConstraint(
                name="payment_paid_is_credited",
                condition=~Q(status__in=["paid", "refunded"]) | Q(credit__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_provider_display()} {self.order_id} {self.amount} ({self.status})"


class PaymentEvent(models.Model):
    class Direction(models.TextChoices):
        IN = "in", _("provider → us")
        OUT = "out", _("us → provider")

    payment = models.ForeignKey(
        Payment, on_delete=models.PROTECT, null=True, blank=True, related_name="events"
    )
    provider = models.CharField(max_length=10, choices=Provider.choices)
    direction = models.CharField(max_length=3, choices=Direction.choices)
    kind = models.CharField(
        max_length=40, help_text=_("e.g. callback, CreateTransaction, createInvoice, statusPayment")
    )
    verified = models.BooleanField(help_text=_("signature / auth checked and good"))
    payload = models.JSONField(help_text=_("as received or sent, secrets masked"))
    answer = models.JSONField(null=True, blank=True)
    remote_addr = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["provider", "-id"])]

    def __str__(self) -> str:
        return f"{self.provider} {self.direction} {self.kind}"


class ReconciliationIssue(models.Model):
    class Kind(models.TextChoices):
        MISSING_CREDIT = "missing_credit", _("paid at the provider, not credited here")
        DOUBLE_CREDIT = "double_credit", _("credited more than once")
        AMOUNT_MISMATCH = "amount_mismatch", _("amounts differ")
        UNKNOWN_AT_PROVIDER = "unknown_at_provider", _("credited here, unknown to the provider")
        STUCK_PENDING = "stuck_pending", _("pending long past its expiry")

    provider = models.CharField(max_length=10, choices=Provider.choices)
    day = models.DateField(help_text=_("the statement day compared"))
    kind = models.CharField(max_length=20, choices=Kind.choices)
    payment = models.ForeignKey(
        Payment,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reconciliation_issues",
    )
    provider_transaction_id = models.CharField(max_length=64, blank=True)
    our_amount = models.DecimalField(**MONEY, null=True, blank=True)
    their_amount = models.DecimalField(**MONEY, null=True, blank=True)
    detail = models.CharField(max_length=300, blank=True)
    found_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolution = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["resolved_at", "-found_at"]
        permissions = [
            (
                "resolve_reconciliationissue",
                "Can resolve a reconciliation issue (credit, or mark resolved)",
            )
        ]
        constraints = [
            # running the same day again finds the same issue, not a second row
            models.UniqueConstraint(
                fields=["provider", "day", "kind", "payment", "provider_transaction_id"],
                name="uniq_reconciliation_issue",
                nulls_distinct=False,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.day} {self.kind}"


display_names(
    Payment,
    _("payment"),
    _("payments"),
    {
        "client": _("client"),
        "provider": _("provider"),
        "order_id": _("order ID"),
        "amount": _("amount"),
        "currency": _("currency"),
        "status": _("status"),
        "provider_transaction_id": _("provider transaction ID"),
        "provider_state": _("provider state"),
        "checkout": _("checkout"),
        "expires_at": _("expires at"),
        "paid_at": _("paid at"),
        "cancelled_at": _("cancelled at"),
        "refunded_at": _("refunded at"),
        "failure_reason": _("failure reason"),
        "credit": _("credit"),
        "created_at": _("created at"),
        "updated_at": _("updated at"),
    },
)

display_names(
    PaymentEvent,
    _("payment event"),
    _("payment events"),
    {
        "payment": _("payment"),
        "provider": _("provider"),
        "direction": _("direction"),
        "kind": _("kind"),
        "verified": _("verified"),
        "payload": _("payload"),
        "answer": _("answer"),
        "remote_addr": _("remote address"),
        "created_at": _("created at"),
    },
)

display_names(
    ReconciliationIssue,
    _("reconciliation issue"),
    _("reconciliation issues"),
    {
        "provider": _("provider"),
        "day": _("day"),
        "kind": _("kind"),
        "payment": _("payment"),
        "provider_transaction_id": _("provider transaction ID"),
        "our_amount": _("our amount"),
        "their_amount": _("their amount"),
        "detail": _("detail"),
        "found_at": _("found at"),
        "resolved_at": _("resolved at"),
        "resolved_by": _("resolved by"),
        "resolution": _("resolution"),
    },
)
