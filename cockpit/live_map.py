"""The map of locations (/admin/cockpit/map/): every location the staff member may see,
coloured by its live state (`selectors.location_state`), kept current over the
staff socket (static/evpower/admin/map.js).

The page carries its data in the location list under the map (data attributes read by
map.js), so the list is also the fallback: it shows every location and its stations'
states with no tiles (offline, or a tile server that is down) and no script at all.
Tiles come from `ADMIN_MAP_TILE_URL` (the admin's CSP allows its host).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _

from cockpit.selectors import LOCATION_STATES, locations_live
from cockpit.socket_auth import VIEW_PERMISSION

# the tiles' data is OpenStreetMap's (whatever server draws them): its licence asks for this
OSM_ATTRIBUTION = (
    '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
)


def state_labels() -> dict[str, str]:
    labels = {
        "faulted": _("Faulted"),
        "offline": _("Offline"),
        "partial": _("Some offline"),
        "charging": _("Some charging"),
        "available": _("All available"),
    }
    return {state: labels[state] for state in LOCATION_STATES}


def map_view(request):
    if not request.user.has_perm(VIEW_PERMISSION):
        raise PermissionDenied
    locations = locations_live(request.user)
    labels = state_labels()
    context = {
        **admin.site.each_context(request),
        "title": _("Map of locations"),
        "rows": [(item, labels[item.state]) for item in locations],
        "legend": list(labels.items()),
        "on_map": sum(1 for item in locations if item.on_map),
        "tile_url": settings.ADMIN_MAP_TILE_URL,
        "attribution": OSM_ATTRIBUTION,
    }
    return TemplateResponse(request, "admin/cockpit/map.html", context)
