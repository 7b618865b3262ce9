"""A payment's own records and transitions, below the providers (which call them from
their callbacks and RPCs) and the top-up operations (topups.py, which call the providers):

- `event_record`: the payment audit log;
- `payment_lock`: the payment row, locked (lock order: payment → wallet);
- `payment_mark_paid`: THE crediting path, shared by callbacks, RPCs, status polls and
  reconciliation. Locks the payment row, credits at most once (ledger key
  "payment:<id>:credit"), and credits a payment paid late (after we expired or cancelled
  it) rather than lose the money;
- `payment_mark_failed`: the provider says it will not be paid;
- `credits_of`: how many credits the ledger holds for a payment.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from accounts.notifications.service import notify_payment_confirmed

from . import errors
from .models import LedgerTransaction
from .money import exact_amount
from .payment_models import Payment, PaymentEvent
from .wallet import wallet_credit_topup

log = logging.getLogger("payments")
Status = Payment.Status


Status = Payment.Status
log = logging.getLogger("payments")


def event_record(
    *,
    provider: str,
    direction: str,
    kind: str,
    verified: bool,
    payload,
    payment: Payment | None = None,
    answer=None,
    remote_addr: str = "",
) -> None:
    """Append to the payment audit log (callers mask secrets first)."""
    PaymentEvent.objects.create(
        provider=provider,
        direction=direction,
        kind=kind[:40],
        verified=verified,
        payload=payload,
        answer=answer,
        payment=payment,
        remote_addr=remote_addr[:64],
    )


def payment_lock(payment_id: int) -> Payment:
    # of=self: the payment row only; the joined client row too would close a lock cycle with
    # charging's session_lock (wallet → session + client) against payment → wallet here
    return (
        Payment.objects.select_for_update(of=("self",)).select_related("client").get(pk=payment_id)
    )


@transaction.atomic
def payment_mark_paid(
    *,
    payment_id: int,
    amount: Decimal,
    provider_transaction_id: str = "",
    source: str,
    state: dict | None = None,
) -> Payment:
    """Credit the payment once. `amount` is what the provider says was paid (major units);
    a different amount raises AmountMismatch and credits nothing. Idempotent: a paid
    payment is returned as it is."""
    payment = payment_lock(payment_id)
    if payment.status in (Status.PAID, Status.REFUNDED):
        return payment
    if exact_amount(amount) != payment.amount:
        raise errors.AmountMismatch(expected=payment.amount, got=exact_amount(amount))
    if provider_transaction_id and payment.provider_transaction_id not in (
        "",
        provider_transaction_id,
    ):
        raise errors.ProviderTransactionMismatch(
            payment.provider_transaction_id, provider_transaction_id
        )
    late = payment.status in (Status.CANCELLED, Status.EXPIRED)
    payment.credit = wallet_credit_topup(
        client=payment.client,
        amount=payment.amount,
        payment_ref=payment.pk,
        key=f"payment:{payment.pk}:credit",
    )
    payment.status, payment.paid_at = Status.PAID, timezone.now()
    if provider_transaction_id:
        payment.provider_transaction_id = provider_transaction_id
    if state:
        payment.provider_state = {**payment.provider_state, **state}
    if late:
        payment.failure_reason = f"paid after it was closed; credited via {source}"[:300]
        log.warning("payment %s paid late (via %s): credited", payment.pk, source)
    payment.save()
    notify_payment_confirmed(payment)  # pushed after the commit
    return payment


@transaction.atomic
def payment_mark_failed(
    *, payment_id: int, reason: str, state: dict | None = None, expired: bool = False
) -> Payment:
    """Close an open payment without credit. A paid one is left as it is (a refund is a
    separate, explicit operation)."""
    payment = payment_lock(payment_id)
    if payment.status not in Payment.OPEN_STATUSES:
        return payment
    payment.status = Status.EXPIRED if expired else Status.CANCELLED
    payment.cancelled_at = timezone.now()
    payment.failure_reason = reason[:300]
    if state:
        payment.provider_state = {**payment.provider_state, **state}
    payment.save()
    return payment


def credits_of(payment: Payment) -> int:
    """How many credits the ledger holds for this payment (reconciliation: must be 1)."""
    return (
        LedgerTransaction.objects.filter(
            ref_type="payment",
            ref_id=str(payment.pk),
            kind=LedgerTransaction.Kind.TOPUP,
        )
        .exclude(key__endswith=":undone")
        .count()
    )  # a refused refund's undo is not a credit
