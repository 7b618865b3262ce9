"""Asking the session's charger for something (RemoteStart, RemoteStop) through the command
port, for `start.py` and `stop.py`."""

from __future__ import annotations

import logging

from stations.charger_port import CommandResult, CommandStatus, send_command

from .models import ChargingSession

log = logging.getLogger("charging")


def ask_charger(
    session: ChargingSession, action: str, payload: dict, requested_by: str
) -> CommandResult:
    """send_command, with a failure of the command path itself reported as "unreachable":
    the session must still be failed and its hold released, not left pending until the
    clockwork finds it."""
    try:
        return send_command(
            station=session.station, action=action, payload=payload, requested_by=requested_by
        )
    except Exception as exc:
        log.exception("%s for session %s could not be sent", action, session.pk)
        return CommandResult(
            command_id=0,
            status=CommandStatus.UNREACHABLE,
            error_description=f"command not sent: {type(exc).__name__}",
        )
