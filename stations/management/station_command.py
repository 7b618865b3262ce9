"""The shared second half of the station support commands (station_reset, station_unlock):
say what will be sent, stop at a dry run, confirm, send, report the charger's answer."""

from __future__ import annotations

from evpower.management_support import (
    SupportCommand,
    SupportError,
    charger_answer,
    charger_exit_code,
    support_actor,
)
from stations.charger_port import send_command
from stations.station_models import Station


def send_to_station(
    command: SupportCommand,
    *,
    station: Station,
    action: str,
    payload: dict,
    online: bool,
    timeout: float | None,
    question: str,
    done: str,
) -> None:
    command.say(
        f"{'would send' if command.dry_run else 'send'}: {action} {payload}"
        + ("" if online else " (it would fail: the station is offline)")
    )
    if command.dry_run:
        command.dry_run_note()
        return
    command.confirm(question)
    result = send_command(
        station=station,
        action=action,
        payload=payload,
        timeout=timeout,
        requested_by=support_actor(),
    )
    command.say(charger_answer(result))
    code = charger_exit_code(result.status)
    if code:
        raise SupportError(
            f"{action} not accepted by {station.identity}",
            code=result.status.upper(),
            returncode=code,
        )
    command.done(done)
