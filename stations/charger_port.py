"""The command port: how the domain asks a charger to do something without importing the
charger edge. Reservations, local lists, charging profiles and a driver's start call
`send_command` here; the charger edge (ocpp_bridge) installs the one implementation when
Django starts (`OcppBridgeConfig.ready`), which records the command, routes it to the
process holding the charger's socket and waits for the answer. A second protocol version
lands behind the same call.

    result = send_command(station=station, action="ReserveNow", payload={...})
    if result.ok: ...
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import models
from django.db.models import Model
from django.utils.translation import gettext_lazy as _


class CommandStatus(models.TextChoices):
    """How a command to a charger ended (the command log stores these)."""

    PENDING = "pending", _("Pending")
    ACCEPTED = "accepted", _("Accepted")  # answered, and the answer is not a refusal
    # answered with a refusal status (Rejected, NotSupported...)
    REJECTED = "rejected", _("Rejected")
    CALL_ERROR = "call_error", _("Call Error")  # answered with a CALLERROR
    TIMEOUT = "timeout", _("Timeout")
    OFFLINE = "offline", _("Offline")
    # connected, but this process cannot reach the one holding its socket
    UNREACHABLE = "unreachable", _("Unreachable")
    BUSY = "busy", _("Busy")  # the station's command queue was full
    INVALID = "invalid", _("Invalid")  # our payload failed the schema; never sent


@dataclass(frozen=True)
class CommandResult:
    command_id: int
    status: str
    response: dict | None = None
    error_code: str = ""
    error_description: str = ""
    duration_ms: int | None = None

    @property
    def ok(self) -> bool:
        return self.status == CommandStatus.ACCEPTED


Sender = Callable[..., CommandResult]
_sender: Sender | None = None


def install_sender(sender: Sender) -> None:
    """Called once by the charger edge at start-up."""
    global _sender
    _sender = sender


def send_command(
    *,
    station: Model,  # the stations.Station to address
    action: str,
    payload: dict | None = None,
    timeout: float | None = None,
    requested_by: str = "",
) -> CommandResult:
    """Send `action` to the station's charger and wait for its answer (at most `timeout`
    seconds, the OCPP call timeout by default). Never raises for a charger that is
    offline, silent or refusing: the result's status says which."""
    if _sender is None:
        raise RuntimeError("no charger edge installed: is ocpp_bridge in INSTALLED_APPS?")
    return _sender(
        station=station,
        action=action,
        payload=payload,
        timeout=timeout,
        requested_by=requested_by,
    )


def format_timestamp(moment: datetime) -> str:
    """A date-time as OCPP payloads carry it: UTC, milliseconds, `Z` (the protocol layer
    has its own copy: it imports nothing of Django's apps)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
