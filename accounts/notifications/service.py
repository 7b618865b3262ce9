"""What the rest of the code calls to tell a driver something (docs/product.md §6).

Every function here returns quickly and NEVER raises: a push is queued to Celery after the
caller's transaction commits (`transaction.on_commit(..., robust=True)`), so a push service
or broker that is down can neither block nor roll back charging or payment, and nothing is
pushed about a change that was rolled back. Outside a transaction the push is queued at
once. Nothing is queued when no push channel is configured or the client has no device.

The hooks (one line each in the charging / payment services):
- `notify_session_started(session)`       charging.session.follow._link
- `notify_session_ended(session)`         charging.session.settle (both enders)
- `notify_payment_confirmed(payment)`     payments.payment_records.payment_mark_paid
- `notify_charger_status(...)`            stations.services.station_record_status
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

from django.conf import settings
from django.db import transaction

from accounts.models import Device
from accounts.notifications import configured_kinds, messages
from accounts.notifications.tasks import push_notify
from evpower.alerts import alerts_configured

log = logging.getLogger("accounts")

LIMIT_REASONS = ("energy_limit", "amount_limit", "funds_limit")
FAULTED = "Faulted"


def notify_client(*, client_id: int, event: str, params: dict | None = None) -> bool:
    """Queue `event` for the client's devices now. True when a push task was queued."""
    try:
        kinds = configured_kinds()
        if not kinds or not Device.objects.filter(client_id=client_id, kind__in=kinds).exists():
            return False
        push_notify.delay(client_id, event, params or {})
        return True
    except Exception:
        log.exception("push: could not queue %s for client %s", event, client_id)
        return False


def notify_client_after_commit(*, client_id: int, event: str, params: dict | None = None) -> None:
    """`notify_client` once the current transaction commits (at once outside one)."""
    try:
        transaction.on_commit(
            partial(notify_client, client_id=client_id, event=event, params=params), robust=True
        )
    except Exception:
        log.exception("push: could not schedule %s for client %s", event, client_id)


# -- the events ---------------------------------------------------------------------------


def notify_session_started(session) -> None:
    notify_client_after_commit(
        client_id=session.client_id,
        event=messages.SESSION_STARTED,
        params={
            "session": session.pk,
            "station": session.station_id,
            "connector": session.connector_number,
        },
    )


def session_ended_event(session) -> str | None:
    """Which message an ended session gets (None: nothing to tell — a start that failed
    was answered in the app, a driver's own cancel needs no push)."""
    reason = session.stop_reason
    if session.status == "completed":
        if reason in LIMIT_REASONS:
            return messages.SESSION_STOPPED_LIMIT
        if reason == "max_duration":
            return messages.SESSION_STOPPED_MAX_DURATION
        return messages.SESSION_COMPLETED
    if session.status == "cancelled" and reason == "no_plug_in":
        return messages.SESSION_CANCELLED_NO_PLUG_IN
    if session.status == "cancelled" and reason == "max_duration":
        return messages.SESSION_STOPPED_MAX_DURATION
    return None


def notify_session_ended(session) -> None:
    """The session was just settled (completed with its cost, or ended unbilled)."""
    try:
        event = session_ended_event(session)
        if event is None:
            return
        notify_client_after_commit(
            client_id=session.client_id,
            event=event,
            params={
                "session": session.pk,
                "station": session.station_id,
                "connector": session.connector_number,
                "cost": str(session.final_cost if session.final_cost is not None else session.cost),
                "currency": session.currency,
                "energy_wh": session.energy_wh,
                "hours": settings.CHARGING_MAX_HOURS,
                "minutes": settings.CHARGING_PLUG_IN_MINUTES,
            },
        )
    except Exception:
        log.exception("push: session %s not notified", getattr(session, "pk", None))


def notify_payment_confirmed(payment) -> None:
    notify_client_after_commit(
        client_id=payment.client_id,
        event=messages.PAYMENT_CONFIRMED,
        params={"payment": payment.pk, "amount": str(payment.amount), "currency": payment.currency},
    )


def notify_charger_status(
    *, station_id: int, connector_id: int, status: str, error_code: str = "", info: str = ""
) -> None:
    """A StatusNotification was applied. Faulted: the drivers charging there are told and
    operators alerted (charging.notices.charger_fault, after commit). Anything else: nothing, at
    no cost (this is on the charger's hot path)."""
    if status != FAULTED:
        return
    try:
        if not configured_kinds() and not alerts_configured():
            return
        transaction.on_commit(
            partial(_queue_charger_fault, station_id, connector_id, error_code, info), robust=True
        )
    except Exception:
        log.exception("charger fault at station %s not handled", station_id)


# What a Faulted charger means for the drivers charging there is charging's business: it
# installs the handler (charging/apps.py; it queues charging.notices.charger_fault).
_charger_fault_handler: Callable[[int, int, str, str], object] | None = None


def install_charger_fault_handler(handler: Callable[[int, int, str, str], object]) -> None:
    global _charger_fault_handler
    _charger_fault_handler = handler


def _queue_charger_fault(station_id: int, connector_id: int, error_code: str, info: str) -> None:
    try:
        if _charger_fault_handler is not None:
            _charger_fault_handler(station_id, connector_id, error_code, info)
    except Exception:
        log.exception("charger fault at station %s: could not queue", station_id)
