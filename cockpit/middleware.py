"""What the admin alone needs from the request cycle: its language, and a wider CSP.

Both act on the admin's paths only. The driver API keeps answering in one language (its
error codes are the contract; the app translates them) and keeps the strict policy.

- Language: a staff member's choice (the sidebar's switcher, Django's `set_language`, kept
  in the language cookie), else the browser's Accept-Language, among `settings.LANGUAGES`.
- CSP: the admin theme (django-unfold) drives its menus, tabs and filters with Alpine.js,
  whose standard build compiles the `x-` attribute expressions with the Function
  constructor, i.e. needs 'unsafe-eval'. Inline script stays forbidden; Django's template
  escaping keeps users' text out of those attributes. The map's tiles come from the tile
  server named in `ADMIN_MAP_TILE_URL`.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from csp.middleware import CSPMiddleware
from django.conf import settings
from django.middleware.locale import LocaleMiddleware
from django.utils import translation


def is_admin_path(path: str) -> bool:
    return path.startswith("/admin/") or path.startswith("/i18n/")


def admin_csp_update() -> dict[str, list[str]]:
    update = {"script-src": ["'unsafe-eval'"]}
    tiles = urlsplit(settings.ADMIN_MAP_TILE_URL.replace("{s}", "a"))
    if tiles.scheme in ("http", "https") and tiles.hostname:
        host = tiles.hostname
        if "{s}." in settings.ADMIN_MAP_TILE_URL:
            host = "*." + host.split(".", 1)[1]
        update["img-src"] = [f"{tiles.scheme}://{host}"]
    return update


class AdminCSPMiddleware(CSPMiddleware):
    def process_response(self, request, response):
        if is_admin_path(request.path) and getattr(response, "_csp_update", None) is None:
            response._csp_update = admin_csp_update()
        return super().process_response(request, response)


class AdminLocaleMiddleware(LocaleMiddleware):
    def process_request(self, request):
        if is_admin_path(request.path):
            super().process_request(request)
        else:
            translation.activate(settings.LANGUAGE_CODE)
            request.LANGUAGE_CODE = settings.LANGUAGE_CODE

    def process_response(self, request, response):
        if not is_admin_path(request.path):
            return response
        return super().process_response(request, response)
