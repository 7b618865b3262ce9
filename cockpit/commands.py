"""The live station view's command buttons: which OCPP call each one sends, and how the
charger's answer reads to an operator.

Each button names a `Command`; `run` sends it through the one command service
(`ocpp_bridge.commands.send_command`), except "Stop the charge", which goes through the
session's own stop (`charging.session.start.session_stop`) when the connector's charge has a
session, so the session records who stopped it and waits for the charger's
StopTransaction to bill it. A charger transaction nobody is billed for is stopped with a
plain RemoteStopTransaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from charging.errors import ChargingError
from charging.session.models import ChargingSession
from charging.session.stop import session_stop
from cockpit.selectors import CurrentCharge
from ocpp_bridge.commands import send_command
from ocpp_bridge.models import CommandRecord
from stations.charger_port import CommandResult
from stations.models import Station

Status = CommandRecord.Status
SEND_PERMISSION = "ocpp_bridge.add_commandrecord"  # as the "Send OCPP command" page
STOP_PERMISSION = "charging.stop_chargingsession"


@dataclass(frozen=True)
class Command:
    key: str
    label: str
    per_connector: bool
    action: str  # the OCPP call
    payload: Callable[[int], dict]  # from the connector number (0: the whole station)
    confirm: str = ""  # asked before sending: it interrupts a charge or a driver
    permissions: tuple[str, ...] = (SEND_PERMISSION,)


def _trigger(connector: int) -> dict:
    payload = {"requestedMessage": "StatusNotification"}
    return {**payload, "connectorId": connector} if connector else payload


COMMANDS: dict[str, Command] = {
    c.key: c
    for c in (
        Command(
            "soft_reset",
            gettext_lazy("Soft reset"),
            False,
            "Reset",
            lambda n: {"type": "Soft"},
            gettext_lazy("Soft reset the station? Charges in progress are stopped."),
        ),
        Command(
            "hard_reset",
            gettext_lazy("Hard reset"),
            False,
            "Reset",
            lambda n: {"type": "Hard"},
            gettext_lazy("Hard reset (reboot) the station? Charges in progress are stopped."),
        ),
        Command(
            "trigger_status", gettext_lazy("Ask for statuses"), False, "TriggerMessage", _trigger
        ),
        Command(
            "connector_trigger_status",
            gettext_lazy("Ask for status"),
            True,
            "TriggerMessage",
            _trigger,
        ),
        Command(
            "unlock",
            gettext_lazy("Unlock"),
            True,
            "UnlockConnector",
            lambda n: {"connectorId": n},
            gettext_lazy("Unlock the connector? A charge on it is stopped."),
        ),
        Command(
            "inoperative",
            gettext_lazy("Make unavailable"),
            True,
            "ChangeAvailability",
            lambda n: {"connectorId": n, "type": "Inoperative"},
            gettext_lazy("Take the connector out of service?"),
        ),
        Command(
            "operative",
            gettext_lazy("Make available"),
            True,
            "ChangeAvailability",
            lambda n: {"connectorId": n, "type": "Operative"},
        ),
        Command(
            "stop",
            gettext_lazy("Stop the charge"),
            True,
            "RemoteStopTransaction",
            lambda n: {},
            gettext_lazy("Stop the charge on this connector?"),
            (SEND_PERMISSION, STOP_PERMISSION),
        ),
    )
}


def commands_for(user) -> list[Command]:
    return [c for c in COMMANDS.values() if user.has_perms(c.permissions)]


@dataclass(frozen=True)
class Answer:
    status: str  # a CommandRecord status, or "nothing" when nothing had to be sent
    answer: str  # what the charger said (its `status`), if it answered
    text: str  # one line for the operator, in their language
    command_id: int | None = None

    @property
    def ok(self) -> bool:
        return self.status in (Status.ACCEPTED, "nothing")

    def as_json(self) -> dict:
        return {
            "ok": self.ok,
            "status": self.status,
            "answer": self.answer,
            "text": self.text,
            "command_id": self.command_id,
        }


def run(
    *,
    station: Station,
    command: Command,
    connector: int,
    charge: CurrentCharge | None,
    requested_by: str,
) -> Answer:
    if command.key == "stop":
        return _stop(station, charge, requested_by)
    return answer_of(
        send_command(
            station=station,
            action=command.action,
            payload=command.payload(connector),
            requested_by=requested_by,
        )
    )


def _stop(station: Station, charge: CurrentCharge | None, requested_by: str) -> Answer:
    if charge is None:
        return Answer("nothing", "", _("Nothing is charging on this connector."))
    if charge.session_id is None:
        return answer_of(
            send_command(
                station=station,
                action="RemoteStopTransaction",
                payload={"transactionId": charge.transaction_id},
                requested_by=requested_by,
            )
        )
    try:
        session = session_stop(
            session_id=charge.session_id,
            requested_by=requested_by,
            reason=ChargingSession.StopReason.OPERATOR,
        )
    except ChargingError as exc:  # the charger would not take the stop
        record = CommandRecord.objects.filter(pk=exc.details.get("command")).first()
        if record is None:
            return Answer(Status.INVALID, "", _("Not stopped: %(code)s") % {"code": exc.code})
        return answer_of(
            CommandResult(
                command_id=record.pk,
                status=record.status,
                response=record.response,
                error_code=record.error_code,
                error_description=record.error_description,
            )
        )
    if session.status == ChargingSession.Status.FINISHING:
        return Answer(
            Status.ACCEPTED, "Accepted", _("Accepted: the charge is stopping; the bill follows.")
        )
    if session.status == ChargingSession.Status.CANCELLED:
        return Answer("nothing", "", _("Cancelled before the charger started."))
    return Answer(
        "nothing",
        "",
        _("Already stopping or ended (%(status)s); nothing sent.")
        % {"status": session.get_status_display()},
    )


def answer_of(result: CommandResult) -> Answer:
    """The charger's answer as the operator reads it (always naming what it said)."""
    answer = (result.response or {}).get("status", "")
    error = " ".join(filter(None, (result.error_code, result.error_description)))
    texts = {
        Status.ACCEPTED: answer or _("Accepted"),
        Status.REJECTED: _("Refused by the charger: %(answer)s") % {"answer": answer},
        Status.CALL_ERROR: _("The charger answered with an error: %(error)s") % {"error": error},
        Status.OFFLINE: _("Offline: not sent"),
        Status.UNREACHABLE: _("Not sent: the charger's connection cannot be reached from here"),
        Status.BUSY: _("Busy with other commands; try again shortly"),
        Status.TIMEOUT: _("No answer in time"),
        Status.INVALID: _("Not sent, invalid request: %(error)s") % {"error": error},
    }
    return Answer(result.status, answer, texts.get(result.status, result.status), result.command_id)
