"""Click SHOP API: Click calls us, Prepare (action 0) then Complete (action 1).

Each request is a form-encoded POST signed with
`md5(click_trans_id + service_id + SECRET_KEY + merchant_trans_id [+ merchant_prepare_id on
Complete] + amount + action + sign_time)` over the raw received strings. We answer JSON with
Click's fields and one of Click's codes (`Code`). `merchant_trans_id` is our
`Payment.order_id`; `merchant_prepare_id` is our payment id; `click_trans_id` becomes the
payment's `provider_transaction_id` at Prepare (one Click transaction per top-up).

Order of checks: -8 missing fields, -1 signature (nothing written but the audit line and a
security event), -3 action, -8 malformed values, then under the payment's row lock:

Prepare: -5 unknown order, -2 amount, -4 already paid, -9 closed (cancelled by Click, or
  cancelled / expired here) or held by another Click transaction, else 0 (binds
  click_trans_id; a repeated Prepare of the same transaction answers 0 again).
Complete: -5 unknown order, -6 prepare id or click_trans_id not ours, -2 amount, then Click's
  own `error < 0` → cancel (`payment_mark_failed`) and -9 (checked before "already paid", so
  a Click cancel of a confirmed payment answers -9 and leaves the credit as it is), -4 already
  paid (no second credit), -9 cancelled by Click before, else credit through
  `payments.payment_records.payment_mark_paid` (the one crediting path; a payment we expired or the
  driver cancelled after Click's Prepare is credited late: Click has taken the money, and an
  error answer would only leave the payment hanging at Click) and 0.
Anything unexpected after verification answers -7 (Click retries; every effect is idempotent).

`sign_time` is not checked for freshness: its time zone and Click's retry behaviour are not
documented, and a replayed message cannot do anything twice (decisions are keyed on the
payment's state and click_trans_id).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from decimal import Decimal
from enum import IntEnum
from urllib.parse import parse_qsl

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from evpower.security_events import security_event_record
from payments.payment_records import event_record, payment_mark_failed, payment_mark_paid

from ...money import decimal_from_text
from ...payment_models import Payment, PaymentEvent, Provider

log = logging.getLogger("payments.click")

PREPARE, COMPLETE = 0, 1
KIND = {PREPARE: "prepare", COMPLETE: "complete"}


class Code(IntEnum):
    OK = 0
    SIGN_CHECK_FAILED = -1
    WRONG_AMOUNT = -2
    ACTION_NOT_FOUND = -3
    ALREADY_PAID = -4
    ORDER_NOT_FOUND = -5
    TRANSACTION_NOT_FOUND = -6
    FAILED_TO_UPDATE = -7
    BAD_REQUEST = -8
    CANCELLED = -9


NOTES = {
    Code.OK: "Success",
    Code.SIGN_CHECK_FAILED: "SIGN CHECK FAILED!",
    Code.WRONG_AMOUNT: "Incorrect parameter amount",
    Code.ACTION_NOT_FOUND: "Action not found",
    Code.ALREADY_PAID: "Already paid",
    Code.ORDER_NOT_FOUND: "User does not exist",
    Code.TRANSACTION_NOT_FOUND: "Transaction does not exist",
    Code.FAILED_TO_UPDATE: "Failed to update user",
    Code.BAD_REQUEST: "Error in request from click",
    Code.CANCELLED: "Transaction cancelled",
}

FIELDS = (
    "click_trans_id",
    "service_id",
    "click_paydoc_id",
    "merchant_trans_id",
    "amount",
    "action",
    "error",
    "error_note",
    "sign_time",
    "sign_string",
)
MAY_BE_EMPTY = {"error_note"}
SECRET_FIELDS = {"sign_string"}  # md5 over data + our key: kept out of the audit log

# provider_state keys
STATE_TRANS_ID, STATE_PAYDOC_ID = "click_trans_id", "click_paydoc_id"
STATE_SIGN_TIME, STATE_PREPARED_AT = "click_sign_time", "click_prepared_at"
STATE_CANCELLED = "click_cancelled"  # Click's own error code when it cancelled the payment


class _Rejected(Exception):  # noqa: N818 - a control-flow signal, not an error
    def __init__(self, code: Code):
        self.code = code


def expected_sign(fields: dict[str, str], action: int, secret_key: str) -> str:
    """Click's sign_string for these raw fields (prepare id only on Complete)."""
    parts = [
        fields["click_trans_id"],
        fields["service_id"],
        secret_key,
        fields["merchant_trans_id"],
    ]
    if action == COMPLETE:
        parts.append(fields["merchant_prepare_id"])
    parts += [fields["amount"], fields["action"], fields["sign_time"]]
    return hashlib.md5("".join(parts).encode(), usedforsecurity=False).hexdigest()


def shop_request_handle(*, action: int, body: bytes, remote_addr: str = "") -> dict:
    """Verify and apply one Prepare (action 0) or Complete (action 1) request body; return
    the answer for Click. Every request leaves one PaymentEvent."""
    kind = KIND[action]
    fields = _parse(body, action)
    if fields is None:
        answer = _answer(action, {}, Code.BAD_REQUEST)
        event_record(
            provider=Provider.CLICK,
            direction=PaymentEvent.Direction.IN,
            kind=kind,
            verified=False,
            payload=_masked_raw(body),
            answer=answer,
            remote_addr=remote_addr,
        )
        return answer
    if not _sign_ok(fields, action):
        answer = _answer(action, fields, Code.SIGN_CHECK_FAILED)
        event_record(
            provider=Provider.CLICK,
            direction=PaymentEvent.Direction.IN,
            kind=kind,
            verified=False,
            payload=_masked(fields),
            answer=answer,
            remote_addr=remote_addr,
        )
        _security_event(kind, fields, remote_addr)
        return answer
    try:
        return _apply(action, fields, remote_addr)
    except Exception:
        log.exception("click %s: could not apply %s", kind, fields.get("click_trans_id"))
        answer = _answer(action, fields, Code.FAILED_TO_UPDATE)
        try:
            event_record(
                provider=Provider.CLICK,
                direction=PaymentEvent.Direction.IN,
                kind=kind,
                verified=True,
                payload=_masked(fields),
                answer=answer,
                remote_addr=remote_addr,
            )
        except Exception:  # the database itself may be what failed
            log.exception("click %s: could not record the event either", kind)
        return answer


# -- parsing and verification ---------------------------------------------------------------


def _parse(body: bytes, action: int) -> dict[str, str] | None:
    """The form fields as received (strings), or None when the request is unusable:
    not form data, a field repeated, or a required field missing / empty (-8)."""
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        return None
    fields = dict(pairs)
    if len(fields) != len(pairs) or any("\x00" in k + v for k, v in pairs):
        return None  # repeated fields are ambiguous; NUL cannot be stored (nor is sent)
    required = FIELDS + (("merchant_prepare_id",) if action == COMPLETE else ())
    for name in required:
        if name not in fields or (fields[name] == "" and name not in MAY_BE_EMPTY):
            return None
    return fields


def _sign_ok(fields: dict[str, str], action: int) -> bool:
    secret_key = settings.CLICK.get("secret_key") or ""
    if not secret_key:  # never accept anything signed with an empty key
        return False
    expected = expected_sign(fields, action, secret_key)
    return hmac.compare_digest(expected.encode(), fields["sign_string"].lower().encode())


def _masked(fields: dict[str, str]) -> dict[str, str]:
    return {k: ("***" if k in SECRET_FIELDS else v[:300]) for k, v in fields.items()}


def _masked_raw(body: bytes) -> dict:
    """What an unusable request carried, for the audit log (JSON-safe, NUL-free)."""
    text = body.decode("utf-8", "replace").replace("\x00", "\ufffd")
    try:
        pairs = parse_qsl(text[:4000], keep_blank_values=True)
    except ValueError:
        pairs = []
    clean = [
        [
            k[:64].replace("\x00", "\ufffd"),
            "***" if k in SECRET_FIELDS else v[:300].replace("\x00", "\ufffd"),
        ]
        for k, v in pairs
    ]
    if clean:
        return {"fields": clean, "length": len(body)}
    return {"raw": text[:500], "length": len(body)}


def _security_event(kind: str, fields: dict[str, str], remote_addr: str) -> None:

    security_event_record(
        station_id=None,
        identity="click",
        kind="PaymentAuthFailed",
        remote_addr=remote_addr,
        tech_info=f"click {kind}: sign_string does not match (click_trans_id="
        f"{fields['click_trans_id'][:32]}, merchant_trans_id="
        f"{fields['merchant_trans_id'][:40]}, service_id={fields['service_id'][:20]})",
    )


def _answer(
    action: int,
    fields: dict[str, str],
    code: Code,
    *,
    payment: Payment | None = None,
) -> dict:
    answer = {
        "click_trans_id": _as_int(fields.get("click_trans_id")),
        "merchant_trans_id": fields.get("merchant_trans_id"),
        "error": int(code),
        "error_note": NOTES[code],
    }
    if action == COMPLETE:
        answer["merchant_confirm_id"] = payment.credit_id if payment is not None else None
    else:
        answer["merchant_prepare_id"] = payment.pk if payment is not None else None
    return answer


def _digits(value: str, *, signed: bool = False) -> bool:
    """ASCII digits only (str.isdigit also accepts "²" and other scripts' digits)."""
    if signed and value.startswith("-"):
        value = value[1:]
    return value.isascii() and value.isdigit()


def _as_int(value: str | None):
    return int(value) if value is not None and _digits(value) else value


def _amount(raw: str) -> Decimal | None:
    try:
        return decimal_from_text(raw)
    except ValueError:
        return None


# -- applying a verified request ----------------------------------------------------------


def _apply(action: int, fields: dict[str, str], remote_addr: str) -> dict:
    kind = KIND[action]
    payment = None
    try:
        _check_shape(action, fields)
        with transaction.atomic():
            payment = (
                Payment.objects.select_for_update()
                .filter(provider=Provider.CLICK, order_id=fields["merchant_trans_id"])
                .first()
            )
            try:
                if payment is None:
                    raise _Rejected(Code.ORDER_NOT_FOUND)
                if action == PREPARE:
                    payment = _prepare(payment, fields)
                else:
                    payment = _complete(payment, fields)
                code = Code.OK
            except _Rejected as rejected:
                code = rejected.code
            answer = _answer(action, fields, code, payment=payment)
            event_record(
                provider=Provider.CLICK,
                direction=PaymentEvent.Direction.IN,
                kind=kind,
                verified=True,
                payload=_masked(fields),
                answer=answer,
                payment=payment,
                remote_addr=remote_addr,
            )
            return answer
    except _Rejected as rejected:  # before the payment was looked up
        answer = _answer(action, fields, rejected.code)
        event_record(
            provider=Provider.CLICK,
            direction=PaymentEvent.Direction.IN,
            kind=kind,
            verified=True,
            payload=_masked(fields),
            answer=answer,
            remote_addr=remote_addr,
        )
        return answer


def _check_shape(action: int, fields: dict[str, str]) -> None:
    if fields["action"] != str(action):
        raise _Rejected(Code.ACTION_NOT_FOUND)
    if not (
        _digits(fields["click_trans_id"])
        and len(fields["click_trans_id"]) <= 30
        and _digits(fields["service_id"])
        and _digits(fields["click_paydoc_id"])
        and _digits(fields["error"], signed=True)
        and len(fields["error"]) <= 10
        and _amount(fields["amount"]) is not None
    ):
        raise _Rejected(Code.BAD_REQUEST)
    if fields["service_id"] != str(settings.CLICK.get("service_id") or ""):
        raise _Rejected(Code.BAD_REQUEST)  # signed with our key for another service


def _prepare(payment: Payment, fields: dict[str, str]) -> Payment:
    click_trans_id = fields["click_trans_id"]
    if _amount(fields["amount"]) != payment.amount:
        raise _Rejected(Code.WRONG_AMOUNT)
    if payment.status in (Payment.Status.PAID, Payment.Status.REFUNDED):
        raise _Rejected(Code.ALREADY_PAID)
    if STATE_CANCELLED in payment.provider_state or payment.status not in Payment.OPEN_STATUSES:
        raise _Rejected(Code.CANCELLED)
    if payment.provider_transaction_id == click_trans_id:
        return payment  # Click repeating its Prepare
    if payment.provider_transaction_id:
        # another Click transaction holds this top-up: refuse this one before Click takes
        # any money for it (the first one is completed or cancelled by Click)
        log.warning(
            "click prepare: payment %s already held by click_trans_id %s, refused %s",
            payment.pk,
            payment.provider_transaction_id,
            click_trans_id,
        )
        raise _Rejected(Code.CANCELLED)
    payment.provider_transaction_id = click_trans_id
    payment.provider_state = {
        **payment.provider_state,
        STATE_TRANS_ID: click_trans_id,
        STATE_PAYDOC_ID: fields["click_paydoc_id"],
        STATE_SIGN_TIME: fields["sign_time"][:40],
        STATE_PREPARED_AT: timezone.now().isoformat(),
    }
    try:
        with transaction.atomic():
            payment.save(update_fields=["provider_transaction_id", "provider_state", "updated_at"])
    except IntegrityError:  # this click_trans_id is already another payment's
        log.error(
            "click prepare: click_trans_id %s is already used by another payment", click_trans_id
        )
        payment.refresh_from_db()
        raise _Rejected(Code.FAILED_TO_UPDATE) from None
    return payment


def _complete(payment: Payment, fields: dict[str, str]) -> Payment:
    click_trans_id = fields["click_trans_id"]
    if (
        fields["merchant_prepare_id"] != str(payment.pk)
        or payment.provider_transaction_id != click_trans_id
    ):
        raise _Rejected(Code.TRANSACTION_NOT_FOUND)
    amount = _amount(fields["amount"])
    if amount != payment.amount:
        raise _Rejected(Code.WRONG_AMOUNT)
    click_error = int(fields["error"])
    if click_error < 0:
        _cancelled_by_click(payment, click_error, fields["error_note"])
        raise _Rejected(Code.CANCELLED)
    if payment.status in (Payment.Status.PAID, Payment.Status.REFUNDED):
        raise _Rejected(Code.ALREADY_PAID)
    if STATE_CANCELLED in payment.provider_state:
        raise _Rejected(Code.CANCELLED)
    return payment_mark_paid(
        payment_id=payment.pk,
        amount=payment.amount,
        provider_transaction_id=click_trans_id,
        source="click complete",
        state={STATE_PAYDOC_ID: fields["click_paydoc_id"]},
    )


def _cancelled_by_click(payment: Payment, click_error: int, note: str) -> None:
    state = {STATE_CANCELLED: click_error}
    if payment.status in Payment.OPEN_STATUSES:
        payment_mark_failed(
            payment_id=payment.pk, state=state, reason=f"cancelled by Click: {click_error} {note}"
        )
        payment.refresh_from_db()
        return
    if payment.status in (Payment.Status.PAID, Payment.Status.REFUNDED):
        # A confirmed payment stays confirmed: Click takes money back only through its
        # reversal API (refund), so the credit is left for finance to look at.
        log.error(
            "click: payment %s (paid) cancelled by Click with error %s (%s); the credit "
            "is left as it is",
            payment.pk,
            click_error,
            note,
        )
    if STATE_CANCELLED not in payment.provider_state:
        payment.provider_state = {**payment.provider_state, **state}
        payment.save(update_fields=["provider_state", "updated_at"])
