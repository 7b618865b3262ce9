"""Web Push (RFC 8030) with VAPID (RFC 8292), through pywebpush: the payload is encrypted
for the subscription's keys (aes128gcm, RFC 8291) and POSTed to its endpoint.

- 404 / 410 from the push service: the subscription is gone → `TokenGone`;
- 429, 5xx, network errors → `TransientPushError`;
- anything else (400, 401/403 from a bad VAPID key, 413) → `PushError`.
"""

from __future__ import annotations

import base64
import binascii
import json

import requests
from django.conf import settings
from pywebpush import WebPushException, webpush

from evpower.metrics.registry import outbound_call

from . import PushError, TokenGone, TransientPushError, retry_after_seconds
from . import webpush_configured as configured  # noqa: F401 - the sender's own check

TTL_SECONDS = 12 * 3600
TIMEOUT = 10.0


def send(endpoint: str, keys: dict, title: str, body: str, data: dict[str, str]) -> int:
    """Send one push to the subscription `endpoint` (with its p256dh / auth `keys`);
    returns the push service's status code, or raises (see the module docstring)."""
    with outbound_call("webpush", rejected=(TokenGone,)):
        return _send(endpoint, keys, title, body, data)


def _send(endpoint: str, keys: dict, title: str, body: str, data: dict[str, str]) -> int:
    if not _valid_keys(keys):
        raise TokenGone("web push subscription without valid keys (p256dh, auth)")
    payload = json.dumps({"title": title, "body": body, "data": data}, ensure_ascii=False)
    try:
        response = webpush(
            subscription_info={
                "endpoint": endpoint,
                "keys": {"p256dh": keys["p256dh"], "auth": keys["auth"]},
            },
            data=payload,
            vapid_private_key=settings.WEBPUSH["vapid_private_key"],
            vapid_claims={"sub": settings.WEBPUSH.get("vapid_subject") or "mailto:ops@evpower.kg"},
            ttl=TTL_SECONDS,
            timeout=TIMEOUT,
            headers={"Urgency": "high"},
        )
    except WebPushException as exc:
        raise _error(exc) from None
    except requests.RequestException as exc:
        raise TransientPushError(f"push service unreachable: {type(exc).__name__}") from None
    return response.status_code


def _valid_keys(keys: dict | None) -> bool:
    """A P-256 public key (65 bytes, uncompressed) and a 16-byte auth secret, base64url:
    checked here so that only the subscription, never our own configuration (a bad VAPID
    key), can get a device deleted."""
    try:
        p256dh = base64.urlsafe_b64decode(keys["p256dh"] + "=" * (-len(keys["p256dh"]) % 4))
        auth = base64.urlsafe_b64decode(keys["auth"] + "=" * (-len(keys["auth"]) % 4))
    except (KeyError, TypeError, ValueError, binascii.Error):
        return False
    return len(p256dh) == 65 and p256dh[0] == 4 and len(auth) == 16


def _error(exc: WebPushException) -> PushError:
    status = exc.status_code
    text = f"web push {status}: {exc.message}"[:300]
    if status in (404, 410):
        return TokenGone(text)
    if status is not None and (status == 429 or status >= 500):
        return TransientPushError(text, retry_after_seconds(exc.retry_after))
    return PushError(text)
