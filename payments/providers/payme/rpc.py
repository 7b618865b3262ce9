"""The Payme Merchant API methods as services (the view in `views.py` only authenticates,
parses the JSON-RPC envelope and renders what these return or raise).

One `Payment` is one Payme "one-time account" (одноразовый счёт): `account.order_id` is our
`Payment.order_id`, and the payment holds at most one Payme transaction:
- `Payment.provider_transaction_id`: Payme's transaction id (24 chars);
- `Payment.provider_state`: `time` (Payme's creation time, ms), `amount` (tiyin),
  `create_time`, `perform_time`, `cancel_time` (ours, ms; 0 = not yet), `state`
  (1, 2, -1, -2), `reason` (cancel reason or None) and `fiscal` (SetFiscalData, by type).
  Replays answer from these, so a repeated Create/Perform/Cancel gets the same times.

Every change runs in one transaction with the payment row locked (`payment_lock`), so
concurrent deliveries of the same call serialise and the later ones replay. Perform credits
through `payments.payment_records.payment_mark_paid` (the one crediting path); Cancel of a performed
transaction gives the top-up back with `wallet_reverse_topup` (never below zero: -31007).

Decisions where Payme's documentation leaves room (PROTOCOLS.md "Payme"):
- An order that already has another Payme transaction in state 1 or 2 answers -31008 to
  CheckPerformTransaction and CreateTransaction (the sandbox's "account awaiting payment"
  case; Payme's PHP template uses -31008 in CheckPerformTransaction as well). An unknown
  order, one of another provider, and one that can no longer be paid (paid, cancelled,
  expired, refunded, or its Payme transaction was cancelled) answer -31050 with a localised
  message and `data` = "order_id". A wrong amount answers -31001 (checked before the state).
- Create reserves the order until Payme's timeout: `expires_at` is moved to Payme's `time`
  + 12 h, so our hourly expiry does not close a payment Payme may still perform.
- Perform on a payment we closed meanwhile (the driver cancelled it in the app) answers
  -31008 and credits nothing: Payme then cancels its transaction and the payer keeps the
  money (better than a late credit the driver no longer expects).
- The 12-hour timeout counts from Payme's `time`; a state-1 transaction past it is cancelled
  with reason 4 (payment EXPIRED) by the Create or Perform that finds it, which answer -31008.
  A new Create with an old `time` is accepted (the timeout applies to it on Perform).
- ChangePassword is not offered (-32601): the key comes from the environment.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.db.models import BigIntegerField, QuerySet
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.utils import timezone

from payments.payment_records import payment_lock, payment_mark_failed, payment_mark_paid

from ...errors import InsufficientBalance
from ...money import from_minor, to_minor
from ...payment_models import Payment, Provider
from ...wallet import wallet_reverse_topup

PAYME = Provider.PAYME
CURRENCY = "UZS"
Status = Payment.Status

# transaction states and the timeout
CREATED, PERFORMED, CANCELLED, CANCELLED_AFTER_PERFORM = 1, 2, -1, -2
REASON_TIMEOUT = 4
TIMEOUT_MS = 43_200_000  # 12 h after Payme's `time`

# error codes
WRONG_AMOUNT = -31001
TRANSACTION_NOT_FOUND = -31003
CANNOT_CANCEL = -31007
CANNOT_PERFORM = -31008
ORDER_NOT_FOUND = -31050  # -31050..-31099: account errors (localised message, data = field)
NOT_POST = -32300
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
UNAUTHORIZED = -32504
SYSTEM_ERROR = -32400

MESSAGES = {
    WRONG_AMOUNT: {"ru": "Неверная сумма", "uz": "Noto'g'ri summa", "en": "Wrong amount"},
    TRANSACTION_NOT_FOUND: {
        "ru": "Транзакция не найдена",
        "uz": "Tranzaksiya topilmadi",
        "en": "Transaction not found",
    },
    CANNOT_CANCEL: {
        "ru": "Невозможно отменить транзакцию: средства уже использованы",
        "uz": "Tranzaksiyani bekor qilib bo'lmaydi: mablag' ishlatilgan",
        "en": "The transaction cannot be cancelled: the money has been used",
    },
    CANNOT_PERFORM: {
        "ru": "Невозможно выполнить операцию",
        "uz": "Amalni bajarib bo'lmaydi",
        "en": "The operation cannot be performed",
    },
    ORDER_NOT_FOUND: {"ru": "Заказ не найден", "uz": "Buyurtma topilmadi", "en": "Order not found"},
    NOT_POST: {
        "ru": "Метод запроса должен быть POST",
        "uz": "So'rov usuli POST bo'lishi kerak",
        "en": "The request method must be POST",
    },
    PARSE_ERROR: {
        "ru": "Ошибка разбора JSON",
        "uz": "JSON tahlil xatosi",
        "en": "JSON parse error",
    },
    INVALID_REQUEST: {
        "ru": "Неверный RPC-запрос",
        "uz": "Noto'g'ri RPC so'rovi",
        "en": "Invalid RPC request",
    },
    METHOD_NOT_FOUND: {"ru": "Метод не найден", "uz": "Metod topilmadi", "en": "Method not found"},
    UNAUTHORIZED: {
        "ru": "Недостаточно привилегий для выполнения метода",
        "uz": "Metodni bajarish uchun huquq yetarli emas",
        "en": "Insufficient privileges to perform the method",
    },
    SYSTEM_ERROR: {"ru": "Системная ошибка", "uz": "Tizim xatosi", "en": "System error"},
}
ORDER_NOT_PAYABLE = {
    "ru": "Заказ нельзя оплатить: он оплачен, отменён или просрочен",
    "uz": "Buyurtmani to'lab bo'lmaydi: u to'langan, bekor qilingan yoki muddati o'tgan",
    "en": "The order cannot be paid: it is paid, cancelled or expired",
}
ORDER_BUSY = {
    "ru": "У заказа уже есть другая транзакция",
    "uz": "Buyurtmaning boshqa tranzaksiyasi mavjud",
    "en": "The order already has another transaction",
}


class PaymeError(Exception):
    """An answer with `error`: code, localised message, optional data; `payment` links the
    audit line when the call concerned one."""

    def __init__(
        self, code: int, *, data=None, message: dict | None = None, payment: Payment | None = None
    ):
        super().__init__(code)
        self.code, self.data, self.payment = code, data, payment
        self.message = message or MESSAGES[code]

    def as_dict(self) -> dict:
        error = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


# -- time --------------------------------------------------------------------------------

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def to_ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def from_ms(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


def timed_out(state: dict) -> bool:
    """A created (state 1) transaction past 12 h after Payme's `time`."""
    return state.get("state") == CREATED and now_ms() - state["time"] > TIMEOUT_MS


# -- parameters --------------------------------------------------------------------------


def _int(params: dict, name: str) -> int:
    value = params.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise PaymeError(INVALID_REQUEST, data=name)
    return value


def _txn_id(params: dict) -> str:
    value = params.get("id")
    if not isinstance(value, str) or not 0 < len(value) <= 64:
        raise PaymeError(INVALID_REQUEST, data="id")
    return value


def _amount(params: dict) -> int:
    if "amount" not in params:
        raise PaymeError(INVALID_REQUEST, data="amount")
    value = params["amount"]
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise PaymeError(WRONG_AMOUNT, data="amount")
    return value


def _order_id(params: dict) -> str:
    account = params.get("account")
    value = account.get("order_id") if isinstance(account, dict) else None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not 0 < len(value) <= 32:
        raise PaymeError(ORDER_NOT_FOUND, data="order_id")
    return value


# -- lookups -----------------------------------------------------------------------------


def _order(order_id: str) -> Payment:
    payment = Payment.objects.filter(provider=PAYME, order_id=order_id).first()
    if payment is None or payment.currency != CURRENCY:
        raise PaymeError(ORDER_NOT_FOUND, data="order_id")
    return payment


def _transaction(txn_id: str) -> Payment:
    payment = Payment.objects.filter(provider=PAYME, provider_transaction_id=txn_id).first()
    if payment is None:
        raise PaymeError(TRANSACTION_NOT_FOUND)
    return payment


def _check_payable(payment: Payment, amount: int) -> None:
    """May a new Payme transaction be created for this order with this amount?"""
    if amount != to_minor(payment.amount, CURRENCY):
        raise PaymeError(WRONG_AMOUNT, data="amount", payment=payment)
    if payment.provider_transaction_id and payment.provider_state.get("state") in (
        CREATED,
        PERFORMED,
    ):
        raise PaymeError(CANNOT_PERFORM, message=ORDER_BUSY, payment=payment)
    if (
        payment.provider_transaction_id
        or payment.status not in Payment.OPEN_STATUSES
        or payment.expires_at <= timezone.now()
    ):
        raise PaymeError(
            ORDER_NOT_FOUND, data="order_id", message=ORDER_NOT_PAYABLE, payment=payment
        )


def _save_state(payment: Payment, *fields: str, **changes) -> Payment:
    payment.provider_state = {**payment.provider_state, **changes}
    payment.save(update_fields=["provider_state", "updated_at", *fields])
    return payment


def _cancel_timed_out(payment: Payment) -> Payment:
    closed = payment_mark_failed(
        payment_id=payment.pk, expired=True, reason="Payme transaction timed out (12 h)"
    )
    return _save_state(closed, state=CANCELLED, cancel_time=now_ms(), reason=REASON_TIMEOUT)


# -- answers -----------------------------------------------------------------------------


def _created(payment: Payment) -> dict:
    state = payment.provider_state
    return {
        "create_time": state["create_time"],
        "transaction": str(payment.pk),
        "state": state["state"],
    }


def _performed(payment: Payment) -> dict:
    state = payment.provider_state
    return {
        "transaction": str(payment.pk),
        "perform_time": state["perform_time"],
        "state": state["state"],
    }


def _cancelled(payment: Payment) -> dict:
    state = payment.provider_state
    return {
        "transaction": str(payment.pk),
        "cancel_time": state["cancel_time"],
        "state": state["state"],
    }


def _checked(payment: Payment) -> dict:
    state = payment.provider_state
    return {
        "create_time": state["create_time"],
        "perform_time": state["perform_time"],
        "cancel_time": state["cancel_time"],
        "transaction": str(payment.pk),
        "state": state["state"],
        "reason": state["reason"],
    }


def _statement_entry(payment: Payment) -> dict:
    state = payment.provider_state
    return {
        "id": payment.provider_transaction_id,
        "time": state["time"],
        "amount": state["amount"],
        "account": {"order_id": payment.order_id},
        **_checked(payment),
        "receivers": None,
    }


# -- the methods -------------------------------------------------------------------------

Answer = tuple[dict, Payment | None]


def check_perform_transaction(params: dict) -> Answer:
    amount, order_id = _amount(params), _order_id(params)
    payment = _order(order_id)
    _check_payable(payment, amount)
    return {"allow": True}, payment


def create_transaction(params: dict) -> Answer:
    txn_id, payme_time = _txn_id(params), _int(params, "time")
    amount, order_id = _amount(params), _order_id(params)
    known = Payment.objects.filter(provider=PAYME, provider_transaction_id=txn_id).first()
    payment_id = known.pk if known else _order(order_id).pk
    with transaction.atomic():
        payment = payment_lock(payment_id)
        if payment.provider_transaction_id != txn_id:
            _check_payable(payment, amount)
            created = now_ms()
            payment.provider_transaction_id = txn_id
            payment.expires_at = max(payment.expires_at, from_ms(payme_time + TIMEOUT_MS))
            _save_state(
                payment,
                "provider_transaction_id",
                "expires_at",
                time=payme_time,
                amount=amount,
                create_time=created,
                perform_time=0,
                cancel_time=0,
                state=CREATED,
                reason=None,
            )
            return _created(payment), payment
        if payment.order_id != order_id:
            raise PaymeError(ORDER_NOT_FOUND, data="order_id", payment=payment)
        if payment.provider_state["state"] != CREATED:
            raise PaymeError(CANNOT_PERFORM, payment=payment)
        if not timed_out(payment.provider_state):
            return _created(payment), payment  # a replay: the stored answer
        payment = _cancel_timed_out(payment)
    raise PaymeError(CANNOT_PERFORM, payment=payment)  # after the cancel is committed


def perform_transaction(params: dict) -> Answer:
    payment = _transaction(_txn_id(params))
    with transaction.atomic():
        payment = payment_lock(payment.pk)
        state = payment.provider_state
        if state["state"] == PERFORMED:
            return _performed(payment), payment  # a replay
        if state["state"] != CREATED:
            raise PaymeError(CANNOT_PERFORM, payment=payment)
        if not timed_out(state):
            if payment.status not in Payment.OPEN_STATUSES:  # closed here meanwhile
                raise PaymeError(CANNOT_PERFORM, payment=payment)
            performed = now_ms()
            paid = payment_mark_paid(
                payment_id=payment.pk,
                source="payme PerformTransaction",
                amount=from_minor(state["amount"], CURRENCY),
                provider_transaction_id=payment.provider_transaction_id,
            )
            _save_state(paid, state=PERFORMED, perform_time=performed)
            return _performed(paid), paid
        payment = _cancel_timed_out(payment)
    raise PaymeError(CANNOT_PERFORM, payment=payment)  # after the cancel is committed


def cancel_transaction(params: dict) -> Answer:
    txn_id, reason = _txn_id(params), _int(params, "reason")
    payment = _transaction(txn_id)
    with transaction.atomic():
        payment = payment_lock(payment.pk)
        state = payment.provider_state["state"]
        if state in (CANCELLED, CANCELLED_AFTER_PERFORM):
            return _cancelled(payment), payment  # a replay
        cancelled = now_ms()
        if state == CREATED:
            closed = payment_mark_failed(
                payment_id=payment.pk, reason=f"cancelled by Payme (reason {reason})"
            )
            _save_state(closed, state=CANCELLED, cancel_time=cancelled, reason=reason)
            return _cancelled(closed), closed
        if payment.status != Status.PAID:
            raise PaymeError(CANNOT_CANCEL, payment=payment)
        try:  # performed: give the top-up back, if the wallet still has it
            wallet_reverse_topup(
                client=payment.client,
                amount=payment.amount,
                payment_ref=payment.pk,
                key=f"payment:{payment.pk}:payme-cancel",
                reason=f"Payme CancelTransaction (reason {reason})",
            )
        except InsufficientBalance:
            raise PaymeError(CANNOT_CANCEL, payment=payment) from None
        payment.status, payment.refunded_at = Status.REFUNDED, timezone.now()
        _save_state(
            payment,
            "status",
            "refunded_at",
            state=CANCELLED_AFTER_PERFORM,
            cancel_time=cancelled,
            reason=reason,
        )
        return _cancelled(payment), payment


def check_transaction(params: dict) -> Answer:
    payment = _transaction(_txn_id(params))
    return _checked(payment), payment


def transactions_between(from_ms_: int, to_ms_: int) -> QuerySet[Payment]:
    """Payments holding a Payme transaction whose Payme `time` is in [from, to], ascending;
    each annotated with `payme_time`."""
    return (
        Payment.objects.filter(provider=PAYME)
        .exclude(provider_transaction_id="")
        .annotate(payme_time=Cast(KeyTextTransform("time", "provider_state"), BigIntegerField()))
        .filter(payme_time__gte=from_ms_, payme_time__lte=to_ms_)
        .order_by("payme_time", "id")
    )


def get_statement(params: dict) -> Answer:
    start, end = _int(params, "from"), _int(params, "to")
    return {"transactions": [_statement_entry(p) for p in transactions_between(start, end)]}, None


def set_fiscal_data(params: dict) -> Answer:
    txn_id, kind, data = _txn_id(params), params.get("type"), params.get("fiscal_data")
    if kind not in ("PERFORM", "CANCEL"):
        raise PaymeError(INVALID_REQUEST, data="type")
    if not isinstance(data, dict):
        raise PaymeError(INVALID_REQUEST, data="fiscal_data")
    payment = _transaction(txn_id)
    with transaction.atomic():
        payment = payment_lock(payment.pk)
        fiscal = {**payment.provider_state.get("fiscal", {}), kind: data}
        _save_state(payment, fiscal=fiscal)
    return {"success": True}, payment


METHODS = {
    "CheckPerformTransaction": check_perform_transaction,
    "CreateTransaction": create_transaction,
    "PerformTransaction": perform_transaction,
    "CancelTransaction": cancel_transaction,
    "CheckTransaction": check_transaction,
    "GetStatement": get_statement,
    "SetFiscalData": set_fiscal_data,
}


def call(method: str, params: dict) -> Answer:
    """Run one Merchant API method: (result, payment) or PaymeError."""
    handler = METHODS.get(method)
    if handler is None:
        raise PaymeError(METHOD_NOT_FOUND, data=method)
    return handler(params)
