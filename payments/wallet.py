"""Wallet services: the only code that moves money. See `models.py` for the ledger design.

Every service:
- runs in `transaction.atomic` (a savepoint when the caller already has a transaction, so a
  failure leaves nothing behind even if the caller catches it);
- locks the client's wallet row FIRST (`select_for_update`), then the hold / debt rows of that
  wallet. Locks are taken in a fixed order — client wallet before session before connector
  (charging), and within payments: wallet before hold before debts — and each service touches
  exactly one wallet, so two services can't deadlock on each other;
- is idempotent by `key` (globally unique, chosen by the caller, e.g. "payment:17:credit",
  "session:42:capture"): a second call with the same key returns the first result and posts
  nothing; the same key with a different operation raises `IdempotencyConflict`. Failures
  (e.g. insufficient balance) are not recorded: a retry is evaluated afresh;
- writes one balanced `LedgerTransaction` (postings sum to zero) and updates the wallet's
  cached balance/held/debt in the same transaction; the database checks keep the balance
  non-negative whatever happens.

Credits (top-up, refund, positive adjustment, release) settle outstanding debt first, in a
separate `debt_settlement` transaction keyed "<key>:debt-settlement".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from .errors import (
    AdjustmentNotAllowed,
    HoldClosed,
    IdempotencyConflict,
    InsufficientBalance,
    InvalidAmount,
    RefundExceedsCharge,
)
from .models import Account, Debt, Hold, LedgerPosting, LedgerTransaction, Wallet
from .money import ZERO, exact_amount

Kind = LedgerTransaction.Kind
Ref = tuple[str, Any]  # ("session", 42), ("payment", "odengi-123")


@dataclass(frozen=True)
class Capture:
    """The outcome of a capture: `amount` = from_hold + from_balance + debt."""

    transaction: LedgerTransaction
    hold: Hold | None  # None for `wallet_charge`
    amount: Decimal
    from_hold: Decimal
    from_balance: Decimal
    debt: Decimal


# -- public services ---------------------------------------------------------------------


def wallet_credit_topup(
    *, client, amount: Decimal | int | str, payment_ref: Any, key: str
) -> LedgerTransaction:
    """A paid top-up: provider clearing → client available (then any debt is settled)."""
    amount = _positive(amount)
    ref = _ref(("payment", payment_ref))
    with transaction.atomic():
        wallet = _lock_wallet(client_id=client.pk)
        if txn := _replay(key, kind=Kind.TOPUP, wallet=wallet, amount=amount, ref=ref):
            return txn
        txn = _post(
            wallet,
            kind=Kind.TOPUP,
            key=key,
            amount=amount,
            ref=ref,
            lines=[(Account.CLIENT_AVAILABLE, amount), (Account.PROVIDER_CLEARING, -amount)],
        )
        _finish(wallet, settle_key=key, ref=ref)
        return txn


def wallet_reverse_topup(
    *,
    client,
    amount: Decimal | int | str,
    payment_ref: Any,
    key: str,
    author=None,
    reason: str = "",
) -> LedgerTransaction:
    """A top-up given back through its provider: client available → provider clearing.
    Never below zero (InsufficientBalance): what was spent of it cannot be given back."""
    amount = _positive(amount)
    ref = _ref(("payment", payment_ref))
    with transaction.atomic():
        wallet = _lock_wallet(client_id=client.pk)
        if txn := _replay(key, kind=Kind.TOPUP_REVERSAL, wallet=wallet, amount=amount, ref=ref):
            return txn
        if wallet.available < amount:
            raise InsufficientBalance(
                required=amount, available=wallet.available, currency=wallet.currency
            )
        txn = _post(
            wallet,
            kind=Kind.TOPUP_REVERSAL,
            key=key,
            amount=amount,
            ref=ref,
            author=author,
            reason=reason.strip(),
            lines=[(Account.CLIENT_AVAILABLE, -amount), (Account.PROVIDER_CLEARING, amount)],
        )
        _finish(wallet)
        return txn


def wallet_hold(*, client, amount: Decimal | int | str, ref: Ref, key: str) -> Hold:
    """Reserve `amount` of the available balance; InsufficientBalance if it is not there."""
    amount = _positive(amount)
    ref = _ref(ref)
    with transaction.atomic():
        wallet = _lock_wallet(client_id=client.pk)
        if txn := _replay(key, kind=Kind.HOLD, wallet=wallet, amount=amount, ref=ref):
            return txn.hold
        if wallet.available < amount:
            raise InsufficientBalance(
                required=amount, available=wallet.available, currency=wallet.currency
            )
        hold = Hold.objects.create(wallet=wallet, amount=amount, ref_type=ref[0], ref_id=ref[1])
        _post(
            wallet,
            kind=Kind.HOLD,
            key=key,
            amount=amount,
            ref=ref,
            hold=hold,
            lines=[(Account.CLIENT_AVAILABLE, -amount), (Account.CLIENT_HELD, amount)],
        )
        _finish(wallet)
        return hold


def wallet_capture(*, hold: Hold, amount: Decimal | int | str, key: str) -> Capture:
    """Charge `amount` (≥ 0) against a hold, once. Up to the hold comes from it; an overrun
    comes from the available balance down to zero and the remainder becomes a `Debt`.
    The rest of the hold stays held until `wallet_release`."""
    amount = _non_negative(amount)
    with transaction.atomic():
        wallet = _lock_wallet(wallet_id=hold.wallet_id)
        hold = Hold.objects.select_for_update().get(pk=hold.pk)
        if txn := _replay(key, kind=Kind.CAPTURE, wallet=wallet, amount=amount, hold=hold):
            return _capture_of(txn)
        if hold.status != Hold.Status.ACTIVE:
            raise HoldClosed(hold.pk, hold.status)
        from_hold = min(amount, hold.remaining)
        from_balance = min(amount - from_hold, wallet.available)
        debt = amount - from_hold - from_balance
        ref = (hold.ref_type, hold.ref_id)
        txn = _post(
            wallet,
            kind=Kind.CAPTURE,
            key=key,
            amount=amount,
            ref=ref,
            hold=hold,
            lines=[
                (Account.CLIENT_HELD, -from_hold),
                (Account.CLIENT_AVAILABLE, -from_balance),
                (Account.CLIENT_DEBT, -debt),
                (Account.PLATFORM_REVENUE, amount),
            ],
        )
        _finish(wallet)
        hold.captured = from_hold
        hold.status = Hold.Status.CAPTURED
        hold.save(update_fields=["captured", "status"])
        if debt:
            Debt.objects.create(
                wallet=wallet, transaction=txn, amount=debt, ref_type=ref[0], ref_id=ref[1]
            )
        return Capture(
            transaction=txn,
            hold=hold,
            amount=amount,
            from_hold=from_hold,
            from_balance=from_balance,
            debt=debt,
        )


def wallet_charge(*, client, amount: Decimal | int | str, ref: Ref, key: str) -> Capture:
    """Charge `amount` (> 0) with no hold behind it (a charge started at the charger with
    an id tag): from the available balance down to zero, the remainder becomes a `Debt`."""
    amount = _positive(amount)
    ref = _ref(ref)
    with transaction.atomic():
        wallet = _lock_wallet(client_id=client.pk)
        if txn := _replay(key, kind=Kind.CHARGE, wallet=wallet, amount=amount, ref=ref):
            return _capture_of(txn)
        from_balance = min(amount, wallet.available)
        debt = amount - from_balance
        txn = _post(
            wallet,
            kind=Kind.CHARGE,
            key=key,
            amount=amount,
            ref=ref,
            lines=[
                (Account.CLIENT_AVAILABLE, -from_balance),
                (Account.CLIENT_DEBT, -debt),
                (Account.PLATFORM_REVENUE, amount),
            ],
        )
        _finish(wallet)
        if debt:
            Debt.objects.create(
                wallet=wallet, transaction=txn, amount=debt, ref_type=ref[0], ref_id=ref[1]
            )
        return Capture(
            transaction=txn,
            hold=None,
            amount=amount,
            from_hold=ZERO,
            from_balance=from_balance,
            debt=debt,
        )


def wallet_release(*, hold: Hold, key: str) -> LedgerTransaction:
    """Give what is still held back to available and close the hold. Releasing a hold that
    is already released returns that release (whatever the key): nothing is posted twice."""
    with transaction.atomic():
        wallet = _lock_wallet(wallet_id=hold.wallet_id)
        hold = Hold.objects.select_for_update().get(pk=hold.pk)
        if txn := _replay(key, kind=Kind.RELEASE, wallet=wallet, hold=hold):
            return txn
        if hold.status == Hold.Status.RELEASED:
            return hold.transactions.get(kind=Kind.RELEASE)
        rest = hold.remaining
        ref = (hold.ref_type, hold.ref_id)
        txn = _post(
            wallet,
            kind=Kind.RELEASE,
            key=key,
            amount=rest,
            ref=ref,
            hold=hold,
            lines=[(Account.CLIENT_HELD, -rest), (Account.CLIENT_AVAILABLE, rest)],
        )
        hold.released = rest
        hold.status = Hold.Status.RELEASED
        hold.closed_at = timezone.now()
        hold.save(update_fields=["released", "status", "closed_at"])
        _finish(wallet, settle_key=key, ref=ref)
        return txn


def wallet_refund(
    *, client, amount: Decimal | int | str, ref: Ref, key: str, author=None, reason: str = ""
) -> LedgerTransaction:
    """Give back (part of) what was captured for `ref` (e.g. ("session", 42)); at most what
    was charged for it less earlier refunds. Unpaid debt of that ref is forgiven first, the
    rest is credited to the available balance. `author`: the staff user, None for the system;
    `reason` is kept on the ledger transaction."""
    amount = _positive(amount)
    ref = _ref(ref)
    with transaction.atomic():
        wallet = _lock_wallet(client_id=client.pk)
        if txn := _replay(key, kind=Kind.REFUND, wallet=wallet, amount=amount, ref=ref):
            return txn
        refundable = _refundable(wallet, ref)
        if amount > refundable:
            raise RefundExceedsCharge(requested=amount, refundable=refundable)
        debts = list(
            Debt.objects.select_for_update()
            .filter(wallet=wallet, ref_type=ref[0], ref_id=ref[1])
            .order_by("id")
        )
        forgiven = _pay_debts(debts, min(amount, sum((d.outstanding for d in debts), ZERO)))
        txn = _post(
            wallet,
            kind=Kind.REFUND,
            key=key,
            amount=amount,
            ref=ref,
            author=author,
            reason=reason.strip(),
            lines=[
                (Account.CLIENT_DEBT, forgiven),
                (Account.CLIENT_AVAILABLE, amount - forgiven),
                (Account.REFUNDS, -amount),
            ],
        )
        _finish(wallet, settle_key=key, ref=ref)
        return txn


def wallet_adjust(
    *, client, amount: Decimal | int | str, reason: str, author, key: str
) -> LedgerTransaction:
    """A staff correction: `amount` > 0 credits, < 0 debits the available balance (never
    below zero). A reason and a staff author are mandatory."""
    amount = exact_amount(amount)
    if not amount:
        raise InvalidAmount("an adjustment is not zero")
    reason = (reason or "").strip()
    if not reason:
        raise AdjustmentNotAllowed("a reason is required")
    if author is None or not getattr(author, "is_staff", False):
        raise AdjustmentNotAllowed("the author must be a staff user")
    with transaction.atomic():
        wallet = _lock_wallet(client_id=client.pk)
        if txn := _replay(key, kind=Kind.ADJUSTMENT, wallet=wallet, amount=amount):
            return txn
        if amount < 0 and wallet.available < -amount:
            raise InsufficientBalance(
                required=-amount, available=wallet.available, currency=wallet.currency
            )
        txn = _post(
            wallet,
            kind=Kind.ADJUSTMENT,
            key=key,
            amount=amount,
            author=author,
            reason=reason,
            lines=[(Account.CLIENT_AVAILABLE, amount), (Account.ADJUSTMENTS, -amount)],
        )
        _finish(wallet, settle_key=key if amount > 0 else None)
        return txn


def wallet_lock(*, client_id: int) -> Wallet:
    """Lock the client's wallet for the rest of the caller's transaction. For services of
    other apps whose own rows come after the wallet in the lock order (a charging session:
    wallet → session → hold), so that they can then call the services here."""
    return _lock_wallet(client_id=client_id)


def wallet_get_or_create(*, client) -> Wallet:
    wallet, _ = Wallet.objects.get_or_create(client_id=client.pk)
    return wallet


# -- internals ---------------------------------------------------------------------------


def _positive(amount) -> Decimal:
    value = _exact(amount)
    if value <= 0:
        raise InvalidAmount("the amount must be positive")
    return value


def _non_negative(amount) -> Decimal:
    value = _exact(amount)
    if value < 0:
        raise InvalidAmount("the amount must not be negative")
    return value


def _exact(amount) -> Decimal:
    try:
        return exact_amount(amount)
    except (TypeError, ValueError) as exc:
        raise InvalidAmount(str(exc)) from None


def _ref(ref: Ref | None) -> tuple[str, str]:
    if not ref:
        return "", ""
    ref_type, ref_id = ref
    return str(ref_type), "" if ref_id is None else str(ref_id)


def _lock_wallet(*, client_id: int | None = None, wallet_id: int | None = None) -> Wallet:
    """THE first lock of every service. A wallet is created on first use."""
    if wallet_id is not None:
        return Wallet.objects.select_for_update().get(pk=wallet_id)
    Wallet.objects.get_or_create(client_id=client_id)  # a concurrent create: unique + retry
    return Wallet.objects.select_for_update().get(client_id=client_id)


def _replay(
    key: str,
    *,
    kind: str,
    wallet: Wallet,
    amount: Decimal | None = None,
    ref: tuple[str, str] | None = None,
    hold: Hold | None = None,
) -> LedgerTransaction | None:
    """The earlier transaction with this key, if any (checked against the new call).
    Called with the wallet locked, so an earlier call on the same wallet has committed."""
    if not key or len(key) > 200:
        raise ValueError("an idempotency key of 1..200 characters is required")
    txn = LedgerTransaction.objects.select_related("hold").filter(key=key).first()
    if txn is None:
        return None
    same = (
        txn.kind == kind
        and txn.wallet_id == wallet.pk
        and (amount is None or txn.amount == amount)
        and (ref is None or (txn.ref_type, txn.ref_id) == ref)
        and (hold is None or txn.hold_id == hold.pk)
    )
    if not same:
        raise IdempotencyConflict(key)
    return txn


def _post(
    wallet: Wallet,
    *,
    kind: str,
    key: str,
    amount: Decimal,
    lines: Iterable[tuple[str, Decimal]],
    ref: tuple[str, str] = ("", ""),
    hold: Hold | None = None,
    author=None,
    reason: str = "",
) -> LedgerTransaction:
    """Write one balanced transaction and apply it to the (locked) wallet in memory;
    `_finish` saves the wallet (the database checks apply to the final state)."""
    lines = [(account, value) for account, value in lines if value]
    if sum((value for _, value in lines), ZERO) != 0:
        raise AssertionError(f"unbalanced ledger transaction {kind}: {lines}")
    change = {account: sum((v for a, v in lines if a == account), ZERO) for account in Account}
    wallet.balance += change[Account.CLIENT_AVAILABLE] + change[Account.CLIENT_HELD]
    wallet.held += change[Account.CLIENT_HELD]
    wallet.debt -= change[Account.CLIENT_DEBT]
    try:
        with transaction.atomic():
            txn = LedgerTransaction.objects.create(
                key=key,
                kind=kind,
                wallet=wallet,
                currency=wallet.currency,
                amount=amount,
                ref_type=ref[0],
                ref_id=ref[1],
                hold=hold,
                author=author,
                reason=reason,
                balance_after=wallet.balance,
                held_after=wallet.held,
            )
    except IntegrityError:
        # the wallet is locked, so an earlier use of this key was on ANOTHER wallet
        if LedgerTransaction.objects.filter(key=key).exists():
            raise IdempotencyConflict(key) from None
        raise
    client_side = {Account.CLIENT_AVAILABLE, Account.CLIENT_HELD, Account.CLIENT_DEBT}
    LedgerPosting.objects.bulk_create(
        [
            LedgerPosting(
                transaction=txn,
                account=account,
                amount=value,
                wallet=wallet if account in client_side else None,
            )
            for account, value in lines
        ]
    )
    return txn


def _pay_debts(debts: list[Debt], amount: Decimal) -> Decimal:
    """Mark `amount` of these (locked) debts settled, oldest first; returns what was used."""
    left = amount
    now = timezone.now()
    for debt in debts:
        if left <= 0:
            break
        part = min(left, debt.outstanding)
        if part <= 0:
            continue
        debt.settled += part
        if debt.outstanding == 0:
            debt.settled_at = now
        debt.save(update_fields=["settled", "settled_at"])
        left -= part
    return amount - left


def _finish(
    wallet: Wallet, *, settle_key: str | None = None, ref: tuple[str, str] = ("", "")
) -> None:
    """End of every service: after a credit (`settle_key` given) pay outstanding debt from
    the available balance, then save the wallet. Its CHECK constraints (never negative, debt
    only when nothing is available) hold for the final state or the whole service fails."""
    if settle_key is not None and wallet.debt > 0 and wallet.available > 0:
        _settle_debts(wallet, key=settle_key, ref=ref)
    wallet.save(update_fields=["balance", "held", "debt", "updated_at"])


def _settle_debts(wallet: Wallet, *, key: str, ref: tuple[str, str]) -> None:
    debts = list(Debt.objects.select_for_update().filter(wallet=wallet).order_by("id"))
    paid = _pay_debts([d for d in debts if d.outstanding > 0], min(wallet.debt, wallet.available))
    _post(
        wallet,
        kind=Kind.DEBT_SETTLEMENT,
        key=f"{key}:debt-settlement",
        amount=paid,
        ref=ref,
        lines=[(Account.CLIENT_AVAILABLE, -paid), (Account.CLIENT_DEBT, paid)],
    )


def _refundable(wallet: Wallet, ref: tuple[str, str]) -> Decimal:
    """Captured for `ref` on this wallet less what was refunded for it."""
    totals = dict(
        LedgerTransaction.objects.filter(
            wallet=wallet,
            ref_type=ref[0],
            ref_id=ref[1],
            kind__in=[Kind.CAPTURE, Kind.CHARGE, Kind.REFUND],
        )
        .values_list("kind")
        .annotate(total=Sum("amount"))
    )
    return (
        (totals.get(Kind.CAPTURE) or ZERO)
        + (totals.get(Kind.CHARGE) or ZERO)
        - (totals.get(Kind.REFUND) or ZERO)
    )


def _capture_of(txn: LedgerTransaction) -> Capture:
    parts = dict(txn.postings.order_by().values_list("account").annotate(total=Sum("amount")))
    return Capture(
        transaction=txn,
        hold=txn.hold,
        amount=txn.amount,
        from_hold=-(parts.get(Account.CLIENT_HELD) or ZERO),
        from_balance=-(parts.get(Account.CLIENT_AVAILABLE) or ZERO),
        debt=-(parts.get(Account.CLIENT_DEBT) or ZERO),
    )
