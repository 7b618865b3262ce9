"""POST /api/v1/payments/odengi/callback — O!Dengi's notification to result_url.

Fields (JSON object or form-encoded, both accepted): trans_id, status_pay, site_id,
order_id, amount (tyiyn), currency, mktime, test, hash; hash = HMAC-MD5(password,
"trans_id:::status_pay:::site_id:::order_id:::amount:::currency:::mktime:::test") over the
received strings (JSON numbers are taken as written), compared in constant time; site_id
must be our sid.

The meaning of `status_pay` is not confirmed, so a verified callback only TRIGGERS
`payment_sync` (statusPayment): the wallet is credited only when statusPayment says paid,
through `payment_mark_paid` (once, whatever the number of deliveries). mktime is not
checked for age: a replayed callback can only cause a status query.

Answers (O!Dengi documents none we could confirm; JSON, conservative):
    200 {"status": "ok"}                           processed (a repeat too)
    400 {"status": "error", "message": …}          unreadable, fields missing, unknown order,
                                                   amount or currency not the invoice's
                                                   (amount in tyiyn; som is accepted too)
    403 {"status": "error", "message": …}          bad hash or another site_id
    409 {"status": "error", "message": <code>}     O!Dengi's status conflicts with our record
                                                   (AMOUNT_MISMATCH…): needs a human
    503 {"status": "error", "message": "retry later"}  O!Dengi's status could not be read
Every request is audited (PaymentEvent kind "callback"); one that fails verification gets
only that line (verified=False) and a security event.
"""

from __future__ import annotations

import hmac
import json
import logging
from decimal import Decimal, InvalidOperation
from urllib.parse import parse_qsl

from django.conf import settings
from django.http import JsonResponse
from drf_spectacular.utils import extend_schema

from evpower.security_events import security_event_record
from payments import errors, payment_records, topups
from payments.callbacks.endpoint import ProviderEndpoint
from payments.money import to_minor
from payments.payment_models import Payment, PaymentEvent
from payments.providers.base import ProviderError
from payments.providers.odengi import signing
from payments.providers.odengi.client import CODE, masked

log = logging.getLogger("payments.odengi")

REQUIRED = ("trans_id", "site_id", "order_id", "amount", "currency")


class ODengiCallbackView(ProviderEndpoint):
    @extend_schema(exclude=True)  # the provider's protocol, not the driver API
    def post(self, request):
        raw = request.body  # before anything parses it
        remote = request.META.get("REMOTE_ADDR", "")
        fields = _fields(raw, request.content_type or "", request._request)
        if fields is None:
            return _refuse(
                remote, {"unreadable": raw[:300].decode(errors="replace")}, "unreadable body", 400
            )
        conf = settings.ODENGI
        if not signing.callback_hash_ok(conf.get("password") or "", fields, fields.get("hash", "")):
            return _refuse(remote, fields, "bad hash", 403)
        sid = conf.get("sid") or ""
        if not sid or not hmac.compare_digest(fields.get("site_id", "").encode(), sid.encode()):
            return _refuse(remote, fields, "wrong site_id", 403)
        return _apply(fields, remote)


def _apply(fields: dict[str, str], remote: str) -> JsonResponse:
    """A verified callback: check it against our payment, then ask O!Dengi."""
    payment = None
    try:
        if any(not fields.get(name) for name in REQUIRED):
            status, answer = 400, _error("fields missing")
            return JsonResponse(answer, status=status)
        payment = Payment.objects.filter(provider=CODE, order_id=fields["order_id"]).first()
        if payment is None:
            status, answer = 400, _error("unknown order")
        elif fields["currency"] != payment.currency or not _same_amount(fields["amount"], payment):
            log.warning(
                "odengi callback for %s: amount %s %s, ours %s %s",
                payment.order_id,
                fields["amount"],
                fields["currency"],
                payment.amount,
                payment.currency,
            )
            status, answer = 400, _error("amount or currency differs")
        else:
            status, answer = _sync(payment)
        return JsonResponse(answer, status=status)
    except Exception:
        status, answer = 500, _error("internal error")
        raise
    finally:
        payment_records.event_record(
            provider=CODE,
            direction=PaymentEvent.Direction.IN,
            kind="callback",
            verified=True,
            payload=masked(fields),
            payment=payment,
            answer={"http_status": status, **answer},
            remote_addr=remote,
        )


def _sync(payment: Payment) -> tuple[int, dict]:
    try:
        topups.payment_sync(payment_id=payment.pk)
    except ProviderError as exc:
        log.warning("odengi callback for %s: status not read (%s)", payment.order_id, exc)
        return 503, _error("retry later")
    except (errors.AmountMismatch, errors.ProviderTransactionMismatch) as exc:
        log.error("odengi callback for %s: %s %s", payment.order_id, exc.code, exc.details)
        return 409, _error(exc.code)
    return 200, {"status": "ok"}


def _refuse(remote: str, payload: dict, reason: str, status: int) -> JsonResponse:
    """Failed verification: one unverified audit line and a security event, nothing else."""
    answer = _error(reason)
    payment_records.event_record(
        provider=CODE,
        direction=PaymentEvent.Direction.IN,
        kind="callback",
        verified=False,
        payload=masked(_clipped(payload)),
        answer={"http_status": status, **answer},
        remote_addr=remote,
    )
    order_id = str(payload.get("order_id", ""))[:40]
    security_event_record(
        station_id=None,
        identity=CODE,
        kind="PaymentAuthFailed",
        tech_info=f"O!Dengi callback refused: {reason}; order_id={order_id!r}",
        remote_addr=remote,
    )
    return JsonResponse(answer, status=status)


def _same_amount(text: str, payment: Payment) -> bool:
    """The callback's amount is the invoice's: in tyiyn (as we sent it), or in som should
    O!Dengi write it so (the unit of this field is not confirmed; the callback is only a
    trigger and the credited amount is checked again on statusPayment's answer)."""
    try:
        value = Decimal(text)
    except (InvalidOperation, ValueError):
        return False
    return value.is_finite() and value in (
        Decimal(to_minor(payment.amount, payment.currency)),
        payment.amount,
    )


def _error(message: str) -> dict:
    return {"status": "error", "message": message}


def _clipped(payload: dict) -> dict:
    """Unverified input is stored, but not without bounds."""
    return {str(k)[:40]: str(v)[:200] for k, v in list(payload.items())[:30]}


def _fields(raw: bytes, content_type: str, django_request) -> dict[str, str] | None:
    """The callback's fields as the strings that were signed; None when unreadable."""
    try:
        if raw.lstrip().startswith(b"{"):
            parsed = json.loads(raw, parse_int=str, parse_float=str, parse_constant=str)
            if not isinstance(parsed, dict):
                return None
            return {str(k): _text(v) for k, v in parsed.items()}
        if content_type.startswith("multipart/form-data"):
            form = django_request.POST
            return {k: form.get(k, "") for k in form}
        return dict(parse_qsl(raw.decode(), keep_blank_values=True))
    except (ValueError, UnicodeDecodeError):
        return None


def _text(value) -> str:
    """A JSON value as PHP would have put it into the signed string."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else ""
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)
