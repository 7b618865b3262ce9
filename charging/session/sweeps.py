"""Sessions the clock ends (docs/product.md §4): run by Celery beat (charging/tasks.py), and by
operators from the admin. Each session is handled in its own transaction; a run that
overlaps another finds the session already ended and leaves it alone, and one session that
fails is logged and counted while the sweep goes on (evpower/batch.py).

- a start never plugged in within CHARGING_PLUG_IN_MINUTES → cancelled, hold released;
- charging longer than CHARGING_MAX_HOURS → RemoteStopTransaction; when the charger will
  not take it (offline, refusal), the session is closed from its last reading;
- a stop the charger accepted but never reported (CHARGING_UNREPORTED_STOP_MINUTES) →
  closed from its last reading.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from charging.session.models import ChargingSession
from charging.session.settle import session_end_unbilled, session_lock, session_settle
from charging.session.stop import session_stop
from charging.transaction_models import OcppTransaction
from evpower.batch import row_guard

log = logging.getLogger("charging")
Status = ChargingSession.Status
Reason = ChargingSession.StopReason


def sessions_cancel_unplugged(now: datetime | None = None) -> int:
    now = now or timezone.now()
    cutoff = now - timedelta(minutes=settings.CHARGING_PLUG_IN_MINUTES)
    done = 0
    for session_id in _ids(status=Status.PENDING, created_at__lt=cutoff):
        with row_guard("charging.sessions_cancel_unplugged", session_id), transaction.atomic():
            session = session_lock(session_id)
            if session.status == Status.PENDING:
                session_end_unbilled(
                    session,
                    status=Status.CANCELLED,
                    reason=Reason.NO_PLUG_IN,
                    detail="not plugged in in time",
                    now=now,
                )
                done += 1
    return done


def sessions_stop_overlong(now: datetime | None = None) -> int:
    now = now or timezone.now()
    cutoff = now - timedelta(hours=settings.CHARGING_MAX_HOURS)
    done = 0
    for session_id in _ids(status=Status.CHARGING, charging_started_at__lt=cutoff):
        with row_guard("charging.sessions_stop_overlong", session_id):
            try:
                session_stop(
                    session_id=session_id, requested_by="auto-stop", reason=Reason.MAX_DURATION
                )
            except Exception as exc:  # refused, offline, or the command service failed
                log.warning(
                    "session %s: the charger did not take the 12 h stop (%s): closing "
                    "it from its last reading",
                    session_id,
                    getattr(exc, "code", type(exc).__name__),
                )
                session_close_unreported(session_id=session_id, reason=Reason.MAX_DURATION, now=now)
            done += 1
    return done


def sessions_close_unreported(now: datetime | None = None) -> int:
    now = now or timezone.now()
    cutoff = now - timedelta(minutes=settings.CHARGING_UNREPORTED_STOP_MINUTES)
    done = 0
    for session_id in _ids(status=Status.FINISHING, stop_requested_at__lt=cutoff):
        with row_guard("charging.sessions_close_unreported", session_id):
            done += session_close_unreported(
                session_id=session_id, reason=Reason.NO_STOP_REPORTED, now=now
            )
    return done


def session_close_unreported(
    *, session_id: int, reason: str, now: datetime | None = None, requested_by: str = ""
) -> bool:
    """Bill a session from its last meter reading without the charger's StopTransaction
    (which, if it comes later, is parked when it disagrees). True when this call ended it."""
    now = now or timezone.now()
    with transaction.atomic():
        tx_id = (
            ChargingSession.objects.filter(pk=session_id)
            .values_list("transaction_id", flat=True)
            .get()
        )
        tx = OcppTransaction.objects.select_for_update().get(pk=tx_id) if tx_id else None
        session = session_lock(session_id)  # lock order: transaction, wallet, session
        if session.settled:
            return False
        if requested_by:
            session.stop_requested_by = requested_by[:150]
        if tx is None:
            session_end_unbilled(
                session,
                status=Status.CANCELLED,
                reason=reason,
                detail="closed before the charger started",
                now=now,
            )
            return True
        session.stop_reason = session.stop_reason or reason
        session_settle(
            session,
            meter_stop_wh=tx.last_meter_wh or tx.meter_start,
            stopped_at=tx.last_meter_at or tx.started_at,
            reason=reason,
            now=now,
        )
        return True


def _ids(**filters) -> list[int]:
    return list(
        ChargingSession.objects.filter(**filters).order_by("id").values_list("pk", flat=True)[:500]
    )
