"""Top-up services: the one path by which a provider's money reaches a wallet.

- `topup_create`: a driver asks to top up; the provider is asked for a QR / link / page.
- `payment_mark_paid` / `payment_mark_failed` (payment_records.py): THE crediting path and
  its refusal, shared by callbacks, RPCs, status polls and reconciliation.
- `payment_sync`: ask the provider and apply what it says (status polling).
- `payments_expire`: open payments past their expiry are re-checked first, then
  cancelled (at the provider too where it can).
- `payment_refund_to_provider`: give a paid top-up back through the provider, debiting the
  wallet first (never below zero).

Lock order: payment → wallet (the wallet services lock it).
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Client
from evpower.batch import each_row

from . import errors
from .models import LedgerTransaction
from .money import exact_amount
from .payment_models import Payment
from .payment_records import payment_lock, payment_mark_failed, payment_mark_paid
from .providers import provider_for
from .providers.base import (
    FAILED,
    PAID,
    NotSupported,
    ProviderError,
    ProviderRefused,
    ProviderUnavailable,
)
from .wallet import wallet_credit_topup, wallet_get_or_create, wallet_lock, wallet_reverse_topup

log = logging.getLogger("payments")
Status = Payment.Status


def new_order_id() -> str:
    """Ours, unique, short enough for every provider's order field, not guessable."""
    return "EVP" + secrets.token_hex(8).upper()


# -- create ------------------------------------------------------------------------------


def topup_create(*, client: Client, provider: str, amount) -> Payment:
    """A pending payment with what the app shows, or a PaymentError (nothing left pending)."""
    client = Client.objects.get(pk=client.pk)
    if client.status == Client.Status.PENDING_DELETION:
        raise errors.TopupRefused("ACCOUNT_PENDING_DELETION")
    if client.status != Client.Status.ACTIVE:
        raise errors.TopupRefused("CLIENT_BLOCKED")
    implementation = provider_for(provider)  # ProviderNotAvailable when not configured
    amount = exact_amount(amount)
    limits = settings.TOPUP_LIMITS
    low, high = Decimal(limits["min"]), Decimal(limits["max"])
    if not low <= amount <= high:
        raise errors.TopupAmountOutOfRange(minimum=low, maximum=high)
    currency = wallet_get_or_create(client=client).currency
    if currency not in implementation.currencies:
        raise errors.ProviderNotAvailable(provider, f"does not take {currency}")
    payment = Payment.objects.create(
        client=client,
        provider=provider,
        order_id=new_order_id(),
        amount=amount,
        currency=currency,
        expires_at=timezone.now() + timedelta(minutes=settings.TOPUP_EXPIRY_MINUTES),
    )
    try:
        checkout = implementation.create(payment)
    except ProviderError as exc:
        _fail(payment, f"provider error at creation: {exc}")
        log.warning("%s: could not create payment %s: %s", provider, payment.pk, exc)
        raise errors.PaymentProviderError(provider) from None
    Payment.objects.filter(pk=payment.pk, status=Status.CREATED).update(
        status=Status.PENDING,
        checkout=checkout.as_dict(),
        provider_state={**payment.provider_state, **checkout.state},
        provider_transaction_id=checkout.provider_transaction_id or "",
        updated_at=timezone.now(),
    )
    payment.refresh_from_db()
    return payment


def _fail(payment: Payment, reason: str) -> None:
    Payment.objects.filter(pk=payment.pk, status=Status.CREATED).update(
        status=Status.CANCELLED,
        cancelled_at=timezone.now(),
        failure_reason=reason[:300],
        updated_at=timezone.now(),
    )


# -- credit / fail (the shared path) -----------------------------------------------------


def payment_sync(*, payment_id: int) -> Payment:
    """Ask the provider about an open payment and apply the answer (the polling path)."""
    payment = Payment.objects.get(pk=payment_id)
    if payment.status in (Status.PAID, Status.REFUNDED):
        return payment  # closed ones are asked too: a late payment is credited
    remote = provider_for(payment.provider).status(payment)
    if remote.state == PAID:
        return payment_mark_paid(
            payment_id=payment.pk,
            source="status",
            amount=remote.amount if remote.amount is not None else payment.amount,
            provider_transaction_id=remote.provider_transaction_id,
        )
    if remote.state == FAILED:
        return payment_mark_failed(
            payment_id=payment.pk, reason=f"provider: {remote.detail or 'failed'}"
        )
    return payment


def topup_cancel(*, client: Client, payment_id: int) -> Payment:
    """The driver gives up on an open top-up. Cancelled at the provider where it can; a
    payment that turns out paid is credited instead."""
    payment = Payment.objects.filter(pk=payment_id, client=client).first()
    if payment is None:
        raise errors.PaymentNotFound(payment_id)
    if payment.status not in Payment.OPEN_STATUSES:
        raise errors.PaymentNotOpen(payment.status)
    return _close(payment, reason="cancelled by the client", expired=False)


def _close(payment: Payment, *, reason: str, expired: bool) -> Payment:
    provider = provider_for(payment.provider, required=False)
    if provider is not None:
        try:
            synced = payment_sync(payment_id=payment.pk)
            if synced.status not in Payment.OPEN_STATUSES:
                return synced
            provider.cancel(payment)
        except NotSupported:
            pass
        except ProviderUnavailable as exc:
            log.warning("payment %s: provider unreachable while closing (%s)", payment.pk, exc)
        except ProviderRefused as exc:
            log.warning("payment %s: provider refused the cancel (%s)", payment.pk, exc)
    return payment_mark_failed(payment_id=payment.pk, reason=reason, expired=expired)


def payments_expire(now: datetime | None = None) -> int:
    """Hourly: open payments past their expiry are re-checked with the provider (a late
    payment is credited, never lost), then cancelled there and marked expired."""
    now = now or timezone.now()
    due = Payment.objects.filter(status__in=Payment.OPEN_STATUSES, expires_at__lt=now).order_by(
        "id"
    )[:500]
    # one payment the provider answers nonsense about must not keep the rest open
    closed, _ = each_row(
        due, lambda payment: _close(payment, reason="expired", expired=True), job="payments.expire"
    )
    return sum(payment.status == Status.EXPIRED for payment in closed)


# -- refunds -----------------------------------------------------------------------------


def payment_refund_to_provider(*, payment_id: int, author=None, reason: str = "") -> Payment:
    """Give a paid top-up back through its provider: the wallet is debited first (never
    below zero: InsufficientBalance), then the provider refunds; if the provider refuses,
    the debit is reversed by a credit with the same reference. If its answer is lost, the
    debit stays and the payment is held for staff (see below)."""
    with transaction.atomic():
        payment = payment_lock(payment_id)
        if payment.status != Status.PAID:
            raise errors.PaymentNotRefundable(payment.status)
        if _refund_in_flight(payment):  # debited by another attempt still at the provider
            raise errors.PaymentNotRefundable("refunding")
        wallet_lock(client_id=payment.client_id)
        attempt = f"payment:{payment.pk}:refund:{secrets.token_hex(6)}"  # one per attempt
        debit = wallet_reverse_topup(
            client=payment.client,
            amount=payment.amount,
            payment_ref=payment.pk,
            author=author,
            reason=reason,
            key=attempt,
        )
    try:
        provider_for(payment.provider).refund(payment, payment.amount)
    except ProviderUnavailable as exc:
        # the request may have reached the provider and its answer been lost: undoing the
        # debit could pay the driver twice. The debit stays, further attempts are refused
        # (_refund_in_flight) until staff check with the provider.
        log.error(
            "payment %s: refund outcome unknown (%s); debit %s kept", payment.pk, exc, debit.pk
        )
        raise errors.PaymentProviderError(
            payment.provider, detail="refund outcome unknown: check with the provider"
        ) from None
    except ProviderError as exc:  # a definite refusal: give the money back to the wallet
        wallet_credit_topup(
            client=payment.client,
            amount=payment.amount,
            payment_ref=payment.pk,
            key=f"{attempt}:undone",
        )
        raise errors.PaymentProviderError(payment.provider, detail=str(exc)) from None
    Payment.objects.filter(pk=payment.pk).update(
        status=Status.REFUNDED, refunded_at=timezone.now(), updated_at=timezone.now()
    )
    log.info("payment %s refunded through %s (ledger %s)", payment.pk, payment.provider, debit.pk)
    payment.refresh_from_db()
    return payment


def _refund_in_flight(payment: Payment) -> bool:
    """A refund debit not undone while the payment is still PAID: another attempt is
    waiting for the provider (or died there; staff look before trying again)."""
    ours = LedgerTransaction.objects.filter(ref_type="payment", ref_id=str(payment.pk))
    debits = ours.filter(kind=LedgerTransaction.Kind.TOPUP_REVERSAL).count()
    undone = ours.filter(kind=LedgerTransaction.Kind.TOPUP, key__endswith=":undone").count()
    return debits > undone
