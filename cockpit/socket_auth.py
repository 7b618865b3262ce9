"""Who is behind a staff WebSocket (the cockpit's /ws/staff/): the admin's own login.

A browser opens the socket with the admin's session cookie, so the socket trusts exactly
what the admin pages trust: the same session (an expired or logged-out one is empty, a
password change invalidates it), the same checks as `EvPowerAdminSite.has_permission`
(active staff; with `ADMIN_REQUIRE_2FA`, a session verified by one of the user's own
confirmed devices — django-otp keeps that device's persistent id in the session, which is
what its middleware reads on each request), plus permission to view stations.

Browsers attach cookies to a WebSocket handshake whatever site opened it, and the same-
origin policy does not apply to WebSockets; so the Origin must be this host (or one of
`CSRF_TRUSTED_ORIGINS`, for a proxy that rewrites the Host), as Django's CSRF check asks
of the admin's forms. Otherwise any page a staff member visits could watch the network.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from types import SimpleNamespace
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import auth
from django.http.cookie import parse_cookie
from django.http.request import split_domain_port, validate_host
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.models import Device

from cockpit.two_factor import two_factor_required

VIEW_PERMISSION = "stations.view_station"
# close codes the cockpit's pages understand (static/evpower/admin/live.js): log in again,
# or stop trying
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403


@dataclass(frozen=True)
class Verdict:
    user: object | None  # the staff user when allowed
    close_code: int = 0
    reason: str = ""


def handshake_headers(scope) -> dict[str, str]:
    return {
        name.decode("latin-1").lower(): value.decode("latin-1")
        for name, value in scope.get("headers", [])
    }


def origin_allowed(headers: dict[str, str]) -> bool:
    """The page that opened the socket is ours: its Origin names the host the socket was
    opened on (or a trusted origin), and that host is one we serve."""
    origin, host = headers.get("origin", ""), headers.get("host", "")
    if not origin or not host:
        return False
    domain, _ = split_domain_port(host)
    allowed_hosts = settings.ALLOWED_HOSTS or (
        [".localhost", "127.0.0.1", "[::1]"] if settings.DEBUG else []
    )
    if not domain or not validate_host(domain, allowed_hosts):
        return False
    if origin in settings.CSRF_TRUSTED_ORIGINS:
        return True
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host.lower()


def session_key(headers: dict[str, str]) -> str:
    return parse_cookie(headers.get("cookie", "")).get(settings.SESSION_COOKIE_NAME, "")


def staff_verdict(key: str) -> Verdict:
    """Read the session `key` afresh (database) and decide. Called at the handshake and
    again now and then while the socket lives, so a logout or a lost permission ends it."""
    if not key:
        return Verdict(None, CLOSE_UNAUTHENTICATED, "log in to the admin first")
    session = import_module(settings.SESSION_ENGINE).SessionStore(key)
    # Django's own reading of a login from a session (backend, session auth hash)
    user = auth.get_user(SimpleNamespace(session=session))
    if not user.is_authenticated:
        return Verdict(None, CLOSE_UNAUTHENTICATED, "log in to the admin first")
    if not (user.is_active and user.is_staff):
        return Verdict(None, CLOSE_FORBIDDEN, "staff only")
    if two_factor_required() and not _verified_by_device(session, user):
        return Verdict(None, CLOSE_UNAUTHENTICATED, "two-factor login required")
    if not user.has_perm(VIEW_PERMISSION):
        return Verdict(None, CLOSE_FORBIDDEN, "no permission to view stations")
    return Verdict(user)


def _verified_by_device(session, user) -> bool:
    persistent_id = session.get(DEVICE_ID_SESSION_KEY)
    device = Device.from_persistent_id(persistent_id) if persistent_id else None
    # as django-otp's middleware: the device must be this user's, and still confirmed
    return device is not None and device.user_id == user.pk and device.confirmed
