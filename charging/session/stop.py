"""A driver's or an operator's stop: `session_stop_prepare` records it, RemoteStopTransaction
goes out, `session_stop_answered` applies the answer, with no lock held while the charger
thinks. The bill is made when the charger reports the stop (`settle.py`)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from charging import errors
from stations.charger_port import CommandResult, CommandStatus

from .charger import ask_charger
from .models import ChargingSession
from .settle import session_end_unbilled, session_lock

Status = ChargingSession.Status


def session_stop(*, session_id: int, requested_by: str, reason: str) -> ChargingSession:
    """Stop at the driver's or an operator's request. A session that has not started yet
    is cancelled at once; one already stopping or ended is returned as it is. Raises
    StopFailed / StationOffline when the charger would not take the stop."""
    session, transaction_id = session_stop_prepare(
        session_id=session_id, requested_by=requested_by, reason=reason
    )
    if transaction_id is None:
        return session
    result = ask_charger(
        session, "RemoteStopTransaction", {"transactionId": transaction_id}, requested_by
    )
    session = session_stop_answered(session_id=session_id, result=result)
    if not result.ok and session.status == Status.CHARGING:
        details = {
            "session": session.pk,
            "command": result.command_id,
            "charger_status": result.status,
        }
        if result.status == CommandStatus.OFFLINE:
            raise errors.StationOffline(details)
        if result.status == CommandStatus.UNREACHABLE:
            raise errors.StationUnreachable(details)
        raise errors.StopFailed(details)
    return session


@transaction.atomic
def session_stop_prepare(
    *, session_id: int, requested_by: str, reason: str
) -> tuple[ChargingSession, int | None]:
    """Record the stop request. Returns the transaction to send RemoteStop for, or None
    when there is nothing to send (not started: cancelled here; already stopping/ended)."""
    session = session_lock(session_id)
    if session.status == Status.PENDING:
        session.stop_requested_at, session.stop_requested_by = timezone.now(), requested_by
        session_end_unbilled(
            session,
            status=Status.CANCELLED,
            reason=reason,
            detail="stopped before the charger started",
        )
        return session, None
    if session.status != Status.CHARGING:
        return session, None
    # asked again (a driver after a limit stop the charger refused): the newest asker wins
    session.stop_requested_at = timezone.now()
    session.stop_requested_by, session.stop_reason = requested_by[:150], reason
    session.save(
        update_fields=["stop_requested_at", "stop_requested_by", "stop_reason", "updated_at"]
    )
    return session, session.transaction_id


@transaction.atomic
def session_stop_answered(*, session_id: int, result: CommandResult) -> ChargingSession:
    """Accepted → FINISHING until the charger's StopTransaction bills it. Refused → the
    session goes on charging; its limit/auto-stop can ask again."""
    session = session_lock(session_id)
    if session.status != Status.CHARGING:
        return session  # the StopTransaction came first (or another path ended it)
    if result.ok:
        session.status = Status.FINISHING
    else:
        session.stop_requested_at, session.stop_reason = None, ""
        session.failure_detail = (
            f"stop refused: {result.status} {result.error_description}".strip()
        )[:300]
    session.save(
        update_fields=["status", "stop_requested_at", "stop_reason", "failure_detail", "updated_at"]
    )
    return session
