"""Station admin actions that call chargers and show each charger's answer.

Every action is an edge: it reads the selected stations (and, through a form from
`admin_action_forms`, what the operator typed), calls `send_command` (or another command
service) once per station, and reports each station's outcome as a message. Actions that
need input use Django's intermediate-page pattern: the first POST renders the form with
the selection in hidden `_selected_action` inputs, the POST with `apply` validates again
and sends. Bad input is a form error and nothing is sent.

Only users allowed to send commands (`SEND_PERMISSION`, as on the "Send OCPP command"
page) see these actions; for others Django drops them from the list and refuses them.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from django.contrib import messages
from django.contrib.admin import action, helpers
from django.db import connections
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from ocpp_bridge.commands import rotate_charger_password, send_command
from stations.charger_port import CommandResult
from stations.local_list import local_list_sync

from . import admin_action_forms as f
from .admin_commands import SEND_PERMISSION
from .models import CommandRecord

Status = CommandRecord.Status
FORM_TEMPLATE = "admin/ocpp_bridge/station_command_form.html"
MAX_PARALLEL = 8  # stations called at once; each may wait up to OCPP_CALL_TIMEOUT

LEVELS = {
    Status.ACCEPTED: messages.SUCCESS,
    Status.REJECTED: messages.WARNING,
    Status.OFFLINE: messages.WARNING,
    Status.BUSY: messages.WARNING,
    Status.TIMEOUT: messages.WARNING,
    Status.UNREACHABLE: messages.ERROR,
    Status.CALL_ERROR: messages.ERROR,
    Status.INVALID: messages.ERROR,
}


def outcome_text(result: CommandResult) -> str:
    """One line an operator understands, always naming what the charger answered."""
    answer = (result.response or {}).get("status")
    error = " ".join(filter(None, (result.error_code, result.error_description)))
    match result.status:
        case Status.ACCEPTED:
            return (
                _("accepted (charger: %(answer)s)") % {"answer": answer}
                if answer
                else _("accepted")
            )
        case Status.REJECTED:
            return _("refused by the charger (%(answer)s)") % {"answer": answer}
        case Status.CALL_ERROR:
            return _("the charger answered with an error: %(error)s") % {"error": error}
        case Status.OFFLINE:
            return _("offline, not sent (%(reason)s)") % {
                "reason": result.error_description or _("no connection")
            }
        case Status.UNREACHABLE:
            return _(
                "not sent: this process cannot reach the charger's connection (%(reason)s)"
            ) % {"reason": result.error_description}
        case Status.BUSY:
            return _("the station is busy with other commands; try again shortly")
        case Status.TIMEOUT:
            return _("no answer in time (%(reason)s)") % {"reason": result.error_description}
        case Status.INVALID:
            return _("not sent, invalid request: %(error)s") % {"error": error}
    return result.status


def _scheduled(result: CommandResult) -> str:
    if (result.response or {}).get("status") == "Scheduled":
        return _("scheduled: will apply when the current transaction ends")
    return ""


def _configuration_read(result: CommandResult) -> str:
    response = result.response or {}
    known, unknown = len(response.get("configurationKey", [])), response.get("unknownKey", [])
    text = _("%(known)s key(s) read and stored on the station") % {"known": known}
    if unknown:
        text += "; " + _("%(count)s unknown") % {"count": len(unknown)}
    return text


def _diagnostics_file(result: CommandResult) -> str:
    name = (result.response or {}).get("fileName")
    return (
        _("the charger will upload %(file)s") % {"file": name}
        if name
        else _("the charger has no file to upload")
    )


def _firmware_accepted(result: CommandResult) -> str:
    return _("the charger reports progress with FirmwareStatusNotification (see Jobs)")


def _local_list_sent(result) -> str:
    """`result` is a stations.local_list.LocalListResult: a CommandResult saying what
    was sent."""
    sent = ngettext(
        "%(type)s update to list version %(version)s, %(count)s entry",
        "%(type)s update to list version %(version)s, %(count)s entries",
        result.entries,
    ) % {"type": result.update_type, "version": result.list_version, "count": result.entries}
    return "; ".join(filter(None, (sent, result.note)))


def _each_station(stations: list, call: Callable):
    """`call(station)` for every station, a few at once, so that N slow chargers cost
    the operator one timeout rather than N. Results come back in the stations' order."""
    if len(stations) < 2:
        return [call(station) for station in stations]

    def run(station):
        try:
            return call(station)
        finally:
            connections.close_all()  # the worker thread's own connections

    with ThreadPoolExecutor(min(MAX_PARALLEL, len(stations))) as pool:
        return list(pool.map(run, stations))


def _requested_by(request) -> str:
    return f"admin:{request.user.get_username()}"


class StationCommandActions:
    """Mixin for StationAdmin: OCPP commands to the selected stations."""

    command_actions = (
        "soft_reset",
        "hard_reset",
        "unlock_connector",
        "change_availability",
        "remote_start",
        "remote_stop",
        "trigger_message",
        "get_configuration",
        "change_configuration",
        "update_firmware",
        "get_diagnostics",
        "clear_cache",
        "rotate_charger_key",
        "sync_local_list",
    )

    def has_send_command_permission(self, request) -> bool:
        return request.user.has_perm(SEND_PERMISSION)

    # --- plumbing -----------------------------------------------------------------

    def _report(
        self,
        request,
        station,
        label,
        result: CommandResult,
        detail: Callable[[CommandResult], str] | None = None,
    ) -> None:
        text = outcome_text(result)
        extra = detail(result) if detail and result.ok else ""
        self.message_user(
            request,
            f"{station.identity} · {label}: {text}" + (f" — {extra}" if extra else ""),
            LEVELS.get(result.status, messages.INFO),
        )

    def _send_all(
        self, request, stations: list, *, label, ocpp_action: str, payload: dict, detail=None
    ) -> None:
        by = _requested_by(request)
        results = _each_station(
            stations,
            lambda station: send_command(
                station=station, action=ocpp_action, payload=payload, requested_by=by
            ),
        )
        for station, result in zip(stations, results, strict=True):
            self._report(request, station, label, result, detail)

    def _form_action(
        self, request, queryset, name: str, form_class, *, label, intro="", submit="", detail=None
    ):
        stations = list(queryset)
        submit = submit or _("Send")
        if form_class.single_station and len(stations) != 1:
            self.message_user(
                request,
                _("%(action)s: select exactly one station.") % {"action": label},
                messages.ERROR,
            )
            return None
        form = form_class(request.POST if "apply" in request.POST else None, stations=stations)
        if form.is_bound and form.is_valid():
            self._send_all(
                request,
                stations,
                label=label,
                ocpp_action=form.ocpp_action,
                payload=form.payload(),
                detail=detail,
            )
            return None  # back to the change list, which shows the messages
        return TemplateResponse(
            request,
            FORM_TEMPLATE,
            {
                **self.admin_site.each_context(request),
                "title": label,
                "intro": intro,
                "submit": submit,
                "form": form,
                "stations": stations,
                "action_name": name,
                "checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                "opts": self.model._meta,
                "media": self.media + form.media,
            },
        )

    # --- actions without input ----------------------------------------------------

    @action(description=gettext_lazy("Soft reset"), permissions=["send_command"])
    def soft_reset(self, request, queryset):
        self._send_all(
            request,
            list(queryset),
            label=_("Soft reset"),
            ocpp_action="Reset",
            payload={"type": "Soft"},
        )

    @action(description=gettext_lazy("Get configuration (all keys)"), permissions=["send_command"])
    def get_configuration(self, request, queryset):
        # send_command's service stores the answer as the station's `configuration`
        self._send_all(
            request,
            list(queryset),
            label=_("Get configuration"),
            ocpp_action="GetConfiguration",
            payload={},
            detail=_configuration_read,
        )

    @action(description=gettext_lazy("Clear authorisation cache"), permissions=["send_command"])
    def clear_cache(self, request, queryset):
        self._send_all(
            request, list(queryset), label=_("Clear cache"), ocpp_action="ClearCache", payload={}
        )

    @action(
        description=gettext_lazy("Rotate charger password (ChangeConfiguration AuthorizationKey)"),
        permissions=["send_command"],
    )
    def rotate_charger_key(self, request, queryset):
        stations, by = list(queryset), _requested_by(request)
        outcomes = _each_station(
            stations, lambda station: rotate_charger_password(station=station, requested_by=by)
        )
        for station, (result, rotated) in zip(stations, outcomes, strict=True):
            if rotated:
                self.message_user(
                    request,
                    _(
                        "%(station)s · Key rotation: rotated — the charger accepted a new "
                        "AuthorizationKey; only the new key logs in from now on."
                    )
                    % {"station": station.identity},
                    messages.SUCCESS,
                )
            else:
                self.message_user(
                    request,
                    _(
                        "%(station)s · Key rotation: NOT rotated (%(outcome)s); the old key "
                        "stays valid."
                    )
                    % {"station": station.identity, "outcome": outcome_text(result)},
                    LEVELS.get(result.status, messages.WARNING),
                )

    @action(
        description=gettext_lazy("Sync local authorisation list (differential)"),
        permissions=["send_command"],
    )
    def sync_local_list(self, request, queryset):
        stations, by = list(queryset), _requested_by(request)
        results = _each_station(
            stations, lambda station: local_list_sync(station=station, full=False, requested_by=by)
        )
        for station, result in zip(stations, results, strict=True):
            self._report(request, station, _("Local list sync"), result, detail=_local_list_sent)

    # --- actions with an intermediate page -----------------------------------------

    @action(description=gettext_lazy("Hard reset…"), permissions=["send_command"])
    def hard_reset(self, request, queryset):
        return self._form_action(
            request,
            queryset,
            "hard_reset",
            f.HardResetForm,
            label=_("Hard reset"),
            submit=_("Yes, hard reset"),
            intro=_(
                "A hard reset reboots the charger at once: transactions in progress "
                "are stopped and their drivers cut off."
            ),
        )

    @action(description=gettext_lazy("Unlock connector…"), permissions=["send_command"])
    def unlock_connector(self, request, queryset):
        return self._form_action(
            request,
            queryset,
            "unlock_connector",
            f.UnlockConnectorForm,
            label=_("Unlock connector"),
            intro=_("Releases the cable lock of one connector."),
        )

    @action(description=gettext_lazy("Change availability…"), permissions=["send_command"])
    def change_availability(self, request, queryset):
        return self._form_action(
            request,
            queryset,
            "change_availability",
            f.ChangeAvailabilityForm,
            label=_("Change availability"),
            detail=_scheduled,
            intro=_(
                "A charger busy with a transaction answers Scheduled and applies the "
                "change when that transaction ends."
            ),
        )

    @action(description=gettext_lazy("Remote start transaction…"), permissions=["send_command"])
    def remote_start(self, request, queryset):
        return self._form_action(
            request, queryset, "remote_start", f.RemoteStartForm, label=_("Remote start")
        )

    @action(description=gettext_lazy("Remote stop transaction…"), permissions=["send_command"])
    def remote_stop(self, request, queryset):
        return self._form_action(
            request,
            queryset,
            "remote_stop",
            f.RemoteStopForm,
            label=_("Remote stop"),
            intro=_("Only an active transaction of this station."),
        )

    @action(description=gettext_lazy("Trigger message…"), permissions=["send_command"])
    def trigger_message(self, request, queryset):
        return self._form_action(
            request, queryset, "trigger_message", f.TriggerMessageForm, label=_("Trigger message")
        )

    @action(description=gettext_lazy("Change configuration…"), permissions=["send_command"])
    def change_configuration(self, request, queryset):
        return self._form_action(
            request,
            queryset,
            "change_configuration",
            f.ChangeConfigurationForm,
            label=_("Change configuration"),
            intro=_("Some keys need a reboot to apply: the charger then answers RebootRequired."),
        )

    @action(description=gettext_lazy("Update firmware…"), permissions=["send_command"])
    def update_firmware(self, request, queryset):
        return self._form_action(
            request,
            queryset,
            "update_firmware",
            f.UpdateFirmwareForm,
            label=_("Update firmware"),
            detail=_firmware_accepted,
        )

    @action(description=gettext_lazy("Get diagnostics…"), permissions=["send_command"])
    def get_diagnostics(self, request, queryset):
        return self._form_action(
            request,
            queryset,
            "get_diagnostics",
            f.GetDiagnosticsForm,
            label=_("Get diagnostics"),
            detail=_diagnostics_file,
        )
