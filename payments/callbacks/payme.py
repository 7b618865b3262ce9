"""POST /api/v1/payments/payme: the Payme Merchant API endpoint (JSON-RPC 2.0).

Always HTTP 200 with a JSON-RPC answer. Order of checks: POST (-32300), then HTTP Basic
`Paycom:<PAYME key>` compared in constant time (-32504: only a masked audit line
(verified=False) and a security event are written), then the JSON (-32700), the envelope
(-32600), the method (-32601); the method itself runs in `rpc.py`; anything unexpected is
-32400 (logged). Every authenticated message is recorded with `event_record`, linked to
its payment when there is one.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from drf_spectacular.utils import extend_schema
from rest_framework.throttling import BaseThrottle

from evpower.security_events import security_event_record
from payments.callbacks.endpoint import ProviderEndpoint
from payments.payment_records import event_record
from payments.providers.payme import rpc

log = logging.getLogger("payments")

SECRET_FIELDS = {"password", "key", "token", "secret", "authorization"}
AUDIT_MAX_CHARS = 16_000


def authorized(header: str) -> bool:
    """HTTP Basic with login `Paycom` and the cash desk key (never when no key is set)."""
    key = settings.PAYME.get("key", "")
    scheme, _, credentials = header.partition(" ")
    if not key or scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(decoded, f"Paycom:{key}".encode())


def _masked(value, depth: int = 0):
    if depth > 8:
        return "…"
    if isinstance(value, dict):
        return {
            str(k): "***" if str(k).lower() in SECRET_FIELDS else _masked(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_masked(v, depth + 1) for v in value[:100]]
    return value


def _audit(value):
    """What the audit log keeps of a message: masked, and bounded in size."""
    masked = _masked(value)
    dumped = json.dumps(masked, ensure_ascii=False)
    if len(dumped) > AUDIT_MAX_CHARS:
        return {"truncated": True, "head": dumped[:2000]}
    return masked


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _parse(raw: bytes):
    return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)


def _answer(request_id, *, result=None, error: rpc.PaymeError | None = None) -> JsonResponse:
    body = {"jsonrpc": "2.0", "id": request_id}
    if error is not None:
        body["error"] = error.as_dict()
    else:
        body["result"] = result
    return JsonResponse(body, json_dumps_params={"ensure_ascii": False})


def _record(**kwargs) -> None:
    """The audit line; its failure is logged and never changes the answer."""
    try:
        event_record(provider=rpc.PAYME, direction="in", **kwargs)
    except Exception:
        log.exception("payme: could not record the audit line")


class PaymeMerchantApiView(ProviderEndpoint):
    def http_method_not_allowed(self, request, *args, **kwargs):
        return _answer(None, error=rpc.PaymeError(rpc.NOT_POST))

    @extend_schema(exclude=True)  # the provider's protocol, not the driver API
    def post(self, request):
        remote_addr = BaseThrottle().get_ident(request) or ""
        try:
            raw = request.body
        except RequestDataTooBig:
            raw = None
        if not authorized(request.META.get("HTTP_AUTHORIZATION", "")):
            return self._unauthorized(raw, remote_addr)
        try:
            if raw is None:
                raise ValueError("too big")
            message = _parse(raw)
        except ValueError:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            head = (raw or b"")[:2000].decode("utf-8", "replace")
            answer = _answer(None, error=rpc.PaymeError(rpc.PARSE_ERROR))
            _record(
                kind="parse-error",
                verified=True,
                payload={"unparsed": head},
                answer=json.loads(answer.content),
                remote_addr=remote_addr,
            )
            return answer
        request_id = message.get("id") if isinstance(message, dict) else None
        payment, kind = None, "invalid-request"
        try:
            if (
                not isinstance(message, dict)
                or not isinstance(message.get("method"), str)
                or not isinstance(message.get("params"), dict)
            ):
                raise rpc.PaymeError(rpc.INVALID_REQUEST)
            kind = message["method"]
            result, payment = rpc.call(kind, message["params"])
            answer = _answer(request_id, result=result)
        except rpc.PaymeError as exc:
            payment = exc.payment
            answer = _answer(request_id, error=exc)
        except Exception:
            log.exception("payme: %s failed", kind)
            answer = _answer(request_id, error=rpc.PaymeError(rpc.SYSTEM_ERROR))
        body = json.loads(answer.content)
        if kind == "GetStatement" and "result" in body:  # the statement itself is our data
            body = {**body, "result": {"transactions": len(body["result"]["transactions"])}}
        _record(
            kind=kind,
            verified=True,
            payload=_audit(message),
            answer=body,
            payment=payment,
            remote_addr=remote_addr,
        )
        return answer

    def _unauthorized(self, raw: bytes | None, remote_addr: str) -> JsonResponse:
        try:
            message = _parse(raw) if raw is not None else None
        except ValueError:
            message = None
        if isinstance(message, dict):
            request_id, method = message.get("id"), message.get("method")
            payload = _audit(message)
        else:
            request_id, method = None, None
            payload = {"unparsed": (raw or b"")[:2000].decode("utf-8", "replace")}
        method = method if isinstance(method, str) else "unknown"
        answer = _answer(
            request_id if isinstance(request_id, int | str) else None,
            error=rpc.PaymeError(rpc.UNAUTHORIZED),
        )
        _record(
            kind=method,
            verified=False,
            payload=payload,
            answer=json.loads(answer.content),
            remote_addr=remote_addr,
        )
        try:
            security_event_record(
                station_id=None,
                identity="payme",
                kind="PaymentAuthFailed",
                tech_info=f"Payme Merchant API: bad or missing Basic auth ({method[:60]})",
                remote_addr=remote_addr,
            )
        except Exception:
            log.exception("payme: could not record the security event")
        return answer
