"""The live station view (/admin/cockpit/stations/<id>/live/) and its two JSON endpoints.

Edges only: each view checks who asks, reads through `selectors` or calls the
command service through `commands`, and renders. The page gets connector and
online changes from the staff socket (cockpit/consumers.py, via
static/evpower/admin/live.js); the charges in progress and the last OCPP messages come
from polling `feed` every few seconds (they change on every meter reading; the socket
carries status changes only).

Who sees what: viewing stations is needed for the page (an owner sees only their own:
another owner's station answers 404); the charges need `charging.view_chargingsession`,
the client's name `accounts.view_client`, the message log `ocpp_bridge.view_ocppmessage`,
and every command button the permissions of its command (`commands`).
"""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from cockpit import commands as cockpit_commands
from cockpit.live_map import map_view
from cockpit.selectors import (
    current_charges,
    recent_messages,
    station_for_live,
    station_state,
)
from cockpit.socket_auth import VIEW_PERMISSION
from stations.models import Station

SESSIONS_PERMISSION = "charging.view_chargingsession"
CLIENTS_PERMISSION = "accounts.view_client"
MESSAGES_PERMISSION = "ocpp_bridge.view_ocppmessage"
CHARGE_TEMPLATE = "admin/cockpit/_charge.html"
MESSAGES_TEMPLATE = "admin/cockpit/_messages.html"
FEED_SECONDS = 5


def _station_or_404(request, station_id: int) -> Station:
    if not request.user.has_perm(VIEW_PERMISSION):
        raise PermissionDenied
    station = station_for_live(request.user, station_id)
    if station is None:
        raise Http404
    return station


def _charges(request, station: Station) -> dict:
    return current_charges(station) if request.user.has_perm(SESSIONS_PERMISSION) else {}


def _messages(request, station: Station) -> list | None:
    return recent_messages(station) if request.user.has_perm(MESSAGES_PERMISSION) else None


def _charge_context(request, charge) -> dict:
    return {"charge": charge, "show_client": request.user.has_perm(CLIENTS_PERMISSION)}


def station_live(request, station_id: int):
    station = _station_or_404(request, station_id)
    charges = _charges(request, station)
    commands = cockpit_commands.commands_for(request.user)
    context = {
        **admin.site.each_context(request),
        "title": _("Live: %(station)s") % {"station": station.identity},
        # opts and original: the theme's header shows the way back to the station
        "opts": Station._meta,
        "original": station,
        "station": station,
        "state": station_state(station),
        "connectors": [(c, charges.get(c.number)) for c in station.connectors.all()],
        "show_charges": request.user.has_perm(SESSIONS_PERMISSION),
        "show_client": request.user.has_perm(CLIENTS_PERMISSION),
        "messages_log": _messages(request, station),
        "station_commands": [c for c in commands if not c.per_connector],
        "connector_commands": [c for c in commands if c.per_connector],
        "feed_url": reverse("admin:cockpit_station_feed", args=[station.pk]),
        "command_url": reverse("admin:cockpit_station_command", args=[station.pk]),
        "feed_seconds": FEED_SECONDS,
    }
    return TemplateResponse(request, "admin/cockpit/station_live.html", context)


@require_GET
def feed(request, station_id: int):
    """The page's polled part, rendered by the same templates as the page."""
    station = _station_or_404(request, station_id)
    charges = _charges(request, station)
    messages_log = _messages(request, station)
    return JsonResponse(
        {
            "charges": {
                str(c.number): render_to_string(
                    CHARGE_TEMPLATE, _charge_context(request, charges.get(c.number)), request
                )
                for c in station.connectors.all()
            }
            if request.user.has_perm(SESSIONS_PERMISSION)
            else None,
            "messages": None
            if messages_log is None
            else render_to_string(MESSAGES_TEMPLATE, {"messages_log": messages_log}, request),
        }
    )


def _refuse(status: int, message: str) -> JsonResponse:
    return JsonResponse({"ok": False, "status": "refused", "text": message}, status=status)


@require_POST
def command(request, station_id: int):
    """One button: POST command=<key>[&connector=<n>]; answers the charger's answer."""
    command = cockpit_commands.COMMANDS.get(request.POST.get("command", ""))
    if command is None:
        return _refuse(400, _("Unknown command."))
    if not (request.user.has_perm(VIEW_PERMISSION) and request.user.has_perms(command.permissions)):
        return _refuse(403, _("You may not send this command."))
    station = station_for_live(request.user, station_id)
    if station is None:
        return _refuse(404, _("No such station."))
    connector = 0
    if command.per_connector:
        try:
            connector = int(request.POST.get("connector", ""))
        except ValueError:
            connector = 0
        if connector not in {c.number for c in station.connectors.all()}:
            return _refuse(400, _("No such connector."))
    # stopping needs the charge whether or not the user may browse sessions
    charge = current_charges(station).get(connector) if command.key == "stop" else None
    answer = cockpit_commands.run(
        station=station,
        command=command,
        connector=connector,
        charge=charge,
        requested_by=f"admin:{request.user.get_username()}",
    )
    return JsonResponse(answer.as_json())


def cockpit_urls(site) -> list:
    """The cockpit's pages, wrapped in the admin's login (and 2FA) check; for
    `EvPowerAdminSite.get_urls`."""
    return [
        path("cockpit/map/", site.admin_view(map_view), name="cockpit_map"),
        path(
            "cockpit/stations/<int:station_id>/live/",
            site.admin_view(station_live),
            name="cockpit_station_live",
        ),
        path(
            "cockpit/stations/<int:station_id>/live/feed/",
            site.admin_view(feed),
            name="cockpit_station_feed",
        ),
        path(
            "cockpit/stations/<int:station_id>/command/",
            site.admin_view(command),
            name="cockpit_station_command",
        ),
    ]
