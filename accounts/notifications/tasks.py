"""Celery side of push notifications. Tasks take ids (and small plain values).

- `accounts.push_notify(client_id, event, params)`: renders the event in the client's
  language and queues one `accounts.push_device` per device;
- `accounts.push_device(device_id, title, body, data)`: one push, retried with exponential
  backoff (tenacity, honouring Retry-After) on 429 / 5xx / network errors; a token the
  push service calls invalid deletes the device. At most once per device: the task is not
  `acks_late` (a worker dying mid-send loses that push rather than sending it twice);
- `accounts.low_balance_notices`: daily (CELERY_BEAT_SCHEDULE), see `low_balance_notices`.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.db.models import F
from django.utils import timezone
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from evpower import alerts  # noqa: F401 - registers evpower.alert_send with the workers
from evpower.batch import row_guard

from . import PushError, TokenGone, TransientPushError, configured_kinds, messages

log = logging.getLogger("accounts")

# retries of one push: 5 attempts, waiting 1, 2, 4, 8 s (or what Retry-After asks, ≤ 60 s)
RETRY_ATTEMPTS = 5
RETRY_WAIT = wait_exponential(multiplier=1, min=1, max=30)
RETRY_AFTER_CAP = 60.0

CACHE_PREFIX = "notify:"  # the once-per-interval records below live in the cache
LOW_BALANCE_ACTIVE_HOURS = 24  # see low_balance_notices
LOW_BALANCE_ONCE_PER = timedelta(hours=20)  # the record: a cache key that lives this long


def _wait(state) -> float:
    backoff = RETRY_WAIT(state)
    exc = state.outcome.exception() if state.outcome else None
    asked = getattr(exc, "retry_after", None)
    return max(backoff, min(asked, RETRY_AFTER_CAP)) if asked else backoff


# -- fan-out ----------------------------------------------------------------------------


@shared_task(name="accounts.push_notify", acks_late=False)
def push_notify(client_id: int, event: str, params: dict | None = None) -> int:
    """Render `event` for the client and queue a push to each of its devices. Returns how
    many pushes were queued."""
    from accounts.models import Client, Device

    client = Client.objects.filter(pk=client_id).only("language", "status").first()
    if client is None or client.status == Client.Status.DELETED:
        return 0
    params = _with_place(dict(params or {}))
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
    kinds = configured_kinds()
    queued = 0
    for device_id in Device.objects.filter(client_id=client_id, kind__in=kinds).values_list(
        "pk", flat=True
    ):
        push_device.delay(device_id, title, body, data)
        queued += 1
    return queued


def _with_place(params: dict) -> dict:
    """Where the station is, for the text ("Bishkek Park, CP-7"), from its id."""
    if "station" in params and "place" not in params:
        from stations.models import Station

        station = (
            Station.objects.filter(pk=params["station"])
            .select_related("location")
            .only("identity", "location__name")
            .first()
        )
        if station is not None:
            params["place"] = (
                f"{station.location.name}, {station.identity}"
                if station.location_id
                else station.identity
            )
    return params


# -- one push ---------------------------------------------------------------------------


@shared_task(name="accounts.push_device", acks_late=False)
def push_device(device_id: int, title: str, body: str, data: dict | None = None) -> str:
    """Send one push to one device: "sent", "removed" (invalid token, device deleted),
    "failed" (given up; logged) or "skipped" (device gone or its kind not configured)."""
    from accounts.models import Device

    device = Device.objects.filter(pk=device_id).first()
    if device is None or device.kind not in configured_kinds():
        return "skipped"
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


# -- charger faults -------------------------------------------------------------------

FAULT_PUSH_INTERVAL = 600  # seconds: one "charger error" push per session in this time


@shared_task(name="accounts.charger_fault")
def charger_fault(station_id: int, connector_id: int, error_code: str = "", info: str = "") -> int:
    """A charger reported Faulted (connector 0: the whole station). The drivers of the
    sessions running there are told (once per FAULT_PUSH_INTERVAL per session); operators
    get an alert (rate limited per station and connector). Returns the pushes queued."""
    from charging.session_models import ChargingSession
    from stations.models import Station

    from .service import notify_client

    station = Station.objects.filter(pk=station_id).only("identity").first()
    if station is None:
        return 0
    sessions = ChargingSession.objects.filter(
        station_id=station_id,
        status__in=(ChargingSession.Status.CHARGING, ChargingSession.Status.FINISHING),
    )
    if connector_id:
        sessions = sessions.filter(connector_number=connector_id)
    error = error_code if error_code and error_code != "NoError" else (info or "Faulted")
    queued = 0
    running = list(sessions.values_list("pk", "client_id", "connector_number"))
    for session_id, client_id, connector in running:
        if not cache.add(f"{CACHE_PREFIX}fault:{session_id}", 1, FAULT_PUSH_INTERVAL):
            continue
        queued += notify_client(
            client_id=client_id,
            event=messages.CHARGER_ERROR,
            params={
                "session": session_id,
                "station": station_id,
                "connector": connector,
                "error": error,
            },
        )
    where = f"connector {connector_id}" if connector_id else "the whole station"
    alerts.operator_alert(
        key=f"station-faulted:{station_id}:{connector_id}",
        subject=f"Station {station.identity} faulted ({where}): {error}",
        text=f"Station {station.identity} reported Faulted on {where}: error code "
        f"{error_code or '-'}, info {info or '-'}. Charging sessions affected: "
        f"{', '.join(str(s[0]) for s in running) or 'none'}.",
    )
    return queued


# -- low balance ------------------------------------------------------------------------


def low_balance_key(client_id: int) -> str:
    return f"{CACHE_PREFIX}low-balance:{client_id}"


@shared_task(name="accounts.low_balance_notices")
def low_balance_notices() -> int:
    """Daily: tell drivers whose available balance is below LOW_BALANCE_THRESHOLD — those
    whose wallet moved in the last LOW_BALANCE_ACTIVE_HOURS (a driver who stopped using
    the service is not reminded every day forever) and who have a device. At most once
    per client per day: the record is a cache key (`low_balance_key`, kept
    LOW_BALANCE_ONCE_PER) claimed with cache.add, which also makes overlapping or re-run
    tasks send each notice once. Returns how many notices were queued."""
    from payments.models import Wallet

    from .service import notify_client

    threshold = Decimal(settings.LOW_BALANCE_THRESHOLD)
    since = timezone.now() - timedelta(hours=LOW_BALANCE_ACTIVE_HOURS)
    wallets = (
        Wallet.objects.annotate(available=F("balance") - F("held"))
        .filter(
            available__lt=threshold,
            updated_at__gte=since,
            client__status="active",
            client__devices__isnull=False,
        )
        .distinct()
        .order_by("pk")
        .values_list("client_id", "available", "currency")
    )
    sent = 0
    for client_id, available, currency in wallets.iterator(chunk_size=500):
        with row_guard("accounts.low_balance_notices", client_id):
            if not cache.add(
                low_balance_key(client_id), 1, int(LOW_BALANCE_ONCE_PER.total_seconds())
            ):
                continue
            if notify_client(
                client_id=client_id,
                event=messages.LOW_BALANCE,
                params={"balance": str(available), "currency": currency},
            ):
                sent += 1
            else:
                cache.delete(low_balance_key(client_id))  # not queued: may try again
    return sent
