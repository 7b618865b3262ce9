"""Celery side of push notifications. Tasks take ids (and small plain values).

- `accounts.push_notify(client_id, event, params)`: renders the event in the client's
  language and queues one `accounts.push_device` per device;
- `accounts.push_device(device_id, title, body, data)`: one push, retried with exponential
  backoff (tenacity, honouring Retry-After) on 429 / 5xx / network errors; a token the
  push service calls invalid deletes the device. At most once per device: the task is not
  `acks_late` (a worker dying mid-send loses that push rather than sending it twice);
The notices about sessions, faults and wallets are their apps' (charging/notices.py,
payments/notices.py).
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from accounts.models import Client, Device
from evpower import alerts  # noqa: F401 - registers evpower.alert_send with the workers

from . import PushError, TokenGone, TransientPushError, configured_kinds, fill_params, messages

log = logging.getLogger("accounts")

# retries of one push: 5 attempts, waiting 1, 2, 4, 8 s (or what Retry-After asks, ≤ 60 s)
RETRY_ATTEMPTS = 5
RETRY_WAIT = wait_exponential(multiplier=1, min=1, max=30)
RETRY_AFTER_CAP = 60.0

# the once-per-interval records of the notices (charging/notices.py, payments/notices.py)
# live in the cache under this prefix
CACHE_PREFIX = "notify:"


def _wait(state) -> float:
    backoff = RETRY_WAIT(state)
    exc = state.outcome.exception() if state.outcome else None
    asked = getattr(exc, "retry_after", None)
    return max(backoff, min(asked, RETRY_AFTER_CAP)) if asked else backoff


# -- fan-out ----------------------------------------------------------------------------

APP_SCHEME = "evpower://"


def deep_link(event: str, params: dict) -> str:
    """Where the app opens when the driver taps the push: the session, the payment or the
    station it is about, the wallet for a low balance; "" for nothing in particular."""
    for key, place in (("session", "sessions"), ("payment", "payments"), ("station", "stations")):
        if params.get(key) is not None:
            return f"{APP_SCHEME}{place}/{params[key]}"
    if event == "low_balance":
        return f"{APP_SCHEME}wallet"
    return ""


@shared_task(name="accounts.push_notify", acks_late=False)
def push_notify(client_id: int, event: str, params: dict | None = None) -> int:
    """Render `event` for the client and queue a push to each of its devices. Returns how
    many pushes were queued."""

    client = Client.objects.filter(pk=client_id).only("language", "status").first()
    if client is None or client.status == Client.Status.DELETED:
        return 0
    params = fill_params(dict(params or {}))
    title, body = messages.render(
        event, client.language or settings.CLIENT_DEFAULT_LANGUAGE, **params
    )
    data = {
        "event": event,
        **{
            k: str(v)
            for k, v in params.items()
            if k in ("session", "payment", "station", "connector")
        },
    }
    link = deep_link(event, params)
    if link:
        data["link"] = link
    kinds = configured_kinds()
    queued = 0
    for device_id in Device.objects.filter(client_id=client_id, kind__in=kinds).values_list(
        "pk", flat=True
    ):
        push_device.delay(device_id, title, body, data)
        queued += 1
    return queued


# -- one push ---------------------------------------------------------------------------


@shared_task(name="accounts.push_device", acks_late=False)
def push_device(device_id: int, title: str, body: str, data: dict | None = None) -> str:
    """Send one push to one device: "sent", "removed" (invalid token, device deleted),
    "failed" (given up; logged) or "skipped" (device gone or its kind not configured)."""

    device = Device.objects.filter(pk=device_id).first()
    if device is None or device.kind not in configured_kinds():
        return "skipped"
    # the senders are imported when first used: google-auth and pywebpush are heavy, and
    # only workers send
    if device.kind == Device.Kind.FCM:
        from . import fcm

        def send() -> None:
            fcm.send(device.token, title, body, data or {})
    else:
        from . import webpush

        def send() -> None:
            webpush.send(
                device.token, (device.subscription or {}).get("keys") or {}, title, body, data or {}
            )

    try:
        for attempt in Retrying(
            stop=stop_after_attempt(RETRY_ATTEMPTS),
            wait=_wait,
            retry=retry_if_exception_type(TransientPushError),
            reraise=True,
        ):
            with attempt:
                send()
    except TokenGone as exc:
        # the same token still: a re-registration meanwhile (same row updated) stays
        Device.objects.filter(pk=device.pk, token=device.token).delete()
        log.info(
            "push: %s device %s of client %s removed: %s",
            device.kind,
            device.pk,
            device.client_id,
            exc,
        )
        return "removed"
    except PushError as exc:
        log.warning(
            "push: %s device %s of client %s not delivered: %s",
            device.kind,
            device.pk,
            device.client_id,
            exc,
        )
        return "failed"
    except Exception:
        log.exception("push: %s device %s failed", device.kind, device.pk)
        return "failed"
    return "sent"
