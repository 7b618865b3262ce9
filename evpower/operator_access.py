"""Access to the operators' technical endpoints (/health/detailed, /metrics): a staff
session, or a bearer token from the environment compared in constant time."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Sequence
from functools import cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, JsonResponse


def _refusal(status: int, code: str, message: str) -> JsonResponse:
    response = JsonResponse(
        {"error": {"code": code, "message": message, "details": {}}}, status=status
    )
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="evpower"'
    return response


@cache
def _networks(
    allowed: tuple[str, ...],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    try:
        return tuple(ipaddress.ip_network(entry, strict=False) for entry in allowed)
    except ValueError as exc:
        raise ImproperlyConfigured(f"METRICS_ALLOWED_IPS: {exc}") from None


def address_allowed(remote_addr: str, allowed: Sequence[str]) -> bool:
    try:
        address = ipaddress.ip_address(remote_addr)
    except ValueError:
        return False
    return any(address in network for network in _networks(tuple(allowed)))


def operator_refusal(
    request: HttpRequest, *, token: str, allowed_ips: Sequence[str] = ()
) -> JsonResponse | None:
    """None when the caller may proceed, else the JSON refusal to answer with.

    A bearer token that does not match (or any, when none is configured) is 401; no
    credentials and not staff is 403; outside a configured allow-list is 403 whoever asks.
    """
    if allowed_ips and not address_allowed(request.META.get("REMOTE_ADDR", ""), allowed_ips):
        return _refusal(403, "FORBIDDEN", "Not allowed from this address.")
    scheme, _, presented = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() == "bearer":
        if token and hmac.compare_digest(presented.strip().encode(), token.encode()):
            return None
        return _refusal(401, "UNAUTHORIZED", "Invalid token.")
    user = getattr(request, "user", None)
    if user is not None and user.is_active and user.is_staff and _second_factor_ok(user):
        return None
    return _refusal(403, "FORBIDDEN", "Staff session or bearer token required.")


def _second_factor_ok(user) -> bool:
    """Where the admin demands two-factor login, so do these pages: a session that signed in
    with the password alone (the admin would not let it in either) is not enough."""
    if not settings.ADMIN_REQUIRE_2FA:
        return True
    is_verified = getattr(user, "is_verified", None)  # set by django_otp's OTPMiddleware
    return bool(is_verified and is_verified())


SMOKE_CHECK_HEADER = "HTTP_X_SMOKE_CHECK"


def is_smoke_check(request: HttpRequest) -> bool:
    """A post-deploy smoke check (`manage.py smoke_check`): the request carries
    `X-Smoke-Check: <SMOKE_CHECK_TOKEN>`. Such a request goes through routing, validation
    and the rate limits, and then has no effect (no code stored, no SMS sent)."""
    token = settings.SMOKE_CHECK_TOKEN
    presented = request.META.get(SMOKE_CHECK_HEADER, "")
    return bool(token) and hmac.compare_digest(presented.encode(), token.encode())
