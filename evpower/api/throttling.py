"""API rate limits: per IP for anonymous callers, per client once authenticated, and
stricter named scopes (`auth` for the OTP flow, `money` for start/stop/top-up).

Why the `limits` library behind DRF's throttle interface, and not DRF's own throttles or
django-ratelimit:

- DRF's `SimpleRateThrottle` keeps a list of timestamps in the Django cache and does
  get → modify → set. Two concurrent requests read the same history and both pass, so under
  load (exactly when it matters, e.g. an OTP-pumping script) the limit leaks.
- django-ratelimit counts atomically (cache `incr`) but is a view decorator outside DRF's
  throttle machinery (no `throttle_scope`, no `Throttled` → our 429 envelope with
  Retry-After) and has had no release since 2023.
- `limits` (the engine of Flask-Limiter and slowapi; actively released) counts in Redis with
  Lua scripts, so check-and-increment is one atomic step, and offers a sliding-window
  counter that needs O(1) memory per key. Wrapping it in a DRF `BaseThrottle` keeps the
  DRF surface: views set `throttle_scope = "auth"` (or add a class below), rejections raise
  `Throttled` and `evpower.api.errors` answers 429 RATE_LIMITED with Retry-After.

Rates live in `REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]` in the `limits` notation; several
limits per scope are joined with ";" (e.g. "10/minute;100/hour"), all must pass.

The client address is DRF's `get_ident` with `NUM_PROXIES` (0: REMOTE_ADDR only; uvicorn's
--proxy-headers already puts the real client address there, behind trusted proxies only, so a
caller cannot pick its own X-Forwarded-For). IPv6 callers are counted per /64, the block
one subscriber gets.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from functools import cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from limits import RateLimitItem, parse_many
from limits.errors import StorageError
from limits.storage import storage_from_string
from limits.strategies import STRATEGIES, RateLimiter
from rest_framework import status
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from evpower.metrics.registry import rate_limit_rejection_observed

from .errors import ApiError

logger = logging.getLogger(__name__)

AUTH, MONEY, MONEY_IP = "auth", "money", "money_ip"


@cache
def limiter() -> RateLimiter:
    """One limiter (and Redis connection pool) per process."""
    url = settings.THROTTLE_STORAGE_URL
    options = {}
    if url.startswith(("redis", "rediss", "valkey")):
        # a slow Redis must not stall the API: give up quickly (see `fail closed` below)
        timeout = settings.THROTTLE_STORAGE_TIMEOUT
        options = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
    try:
        strategy = STRATEGIES[settings.THROTTLE_STRATEGY]
    except KeyError:
        raise ImproperlyConfigured(
            f"THROTTLE_STRATEGY must be one of {sorted(STRATEGIES)}"
        ) from None
    return strategy(storage_from_string(url, wrap_exceptions=True, **options))


@receiver(setting_changed)
def _reset_limiter(*, setting, **kwargs):
    if setting in ("THROTTLE_STORAGE_URL", "THROTTLE_STRATEGY", "THROTTLE_STORAGE_TIMEOUT"):
        limiter.cache_clear()


@cache
def parse_rate(rate: str) -> tuple[RateLimitItem, ...]:
    # longest window first: a caller hammering through a short-window block still uses up
    # the long window, instead of getting a fresh allowance after each short one
    return tuple(sorted(parse_many(rate), key=lambda item: item.get_expiry(), reverse=True))


def rate_items(scope: str) -> tuple[RateLimitItem, ...]:
    rates = api_settings.DEFAULT_THROTTLE_RATES or {}
    if scope not in rates:
        raise ImproperlyConfigured(
            f"No throttle rate for scope {scope!r} in REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']"
        )
    rate = rates[scope]
    return parse_rate(rate) if rate else ()


def client_ip(request) -> str:
    ident = BaseThrottle().get_ident(request)
    try:
        address = ipaddress.ip_address(ident)
    except ValueError:
        return ident
    if address.version == 4:
        return str(address)
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(ipaddress.ip_network(f"{address}/64", strict=False).network_address)


def client_id(request) -> str | None:
    user = getattr(request, "user", None)
    if user is not None and getattr(user, "is_authenticated", False):
        return str(user.pk)
    return None


class LimitsThrottle(BaseThrottle):
    """Base: `get_scope` names the rate, `get_key` whom it counts (None: not this throttle's
    business). Counted atomically by `limits` in THROTTLE_STORAGE_URL."""

    scope: str | None = None

    def __init__(self):
        self._wait: float | None = None

    def get_scope(self, request, view) -> str | None:
        return self.scope

    def get_key(self, request, view) -> str | None:
        raise NotImplementedError

    def allow_request(self, request, view) -> bool:
        scope = self.get_scope(request, view)
        if not scope:
            return True
        items = rate_items(scope)
        key = self.get_key(request, view) if items else None
        if key is None:
            return True
        identifiers = (settings.THROTTLE_KEY_PREFIX, scope, key)
        try:
            for item in items:
                if not limiter().hit(item, *identifiers):
                    rate_limit_rejection_observed(scope=scope)
                    reset_at = limiter().get_window_stats(item, *identifiers).reset_time
                    self._wait = max(1.0, reset_at - time.time())
                    return False
        except StorageError:
            if scope in settings.THROTTLE_FAIL_CLOSED_SCOPES:
                logger.exception("throttle store unavailable: refusing scope %s", scope)
                raise ApiError(
                    "SERVICE_UNAVAILABLE", status_code=status.HTTP_503_SERVICE_UNAVAILABLE
                ) from None
            logger.exception("throttle store unavailable: not limiting scope %s", scope)
        return True

    def wait(self) -> float | None:
        return self._wait


class AnonRateThrottle(LimitsThrottle):
    """Scope `anon`: unauthenticated callers, per IP."""

    scope = "anon"

    def get_key(self, request, view):
        return None if client_id(request) else f"ip:{client_ip(request)}"


class ClientRateThrottle(LimitsThrottle):
    """Scope `client`: authenticated drivers, per client (whatever their IP)."""

    scope = "client"

    def get_key(self, request, view):
        client = client_id(request)
        return f"client:{client}" if client else None


class ScopedRateThrottle(LimitsThrottle):
    """The view's `throttle_scope` (none: no extra limit), on top of anon/client.

    Counted per client when authenticated, else per IP; scopes in `PER_IP_SCOPES` are always
    counted per IP (OTP request/verify come from callers without an identity yet)."""

    PER_IP_SCOPES = frozenset({AUTH})

    def get_scope(self, request, view):
        return self.scope or getattr(view, "throttle_scope", None)

    def get_key(self, request, view):
        scope = self.get_scope(request, view)
        client = None if scope in self.PER_IP_SCOPES else client_id(request)
        return f"client:{client}" if client else f"ip:{client_ip(request)}"


class AuthRateThrottle(ScopedRateThrottle):
    """Scope `auth`, per IP. Same as `throttle_scope = "auth"`; use one or the other."""

    scope = AUTH


class MoneyRateThrottle(ScopedRateThrottle):
    """Scope `money`, per client. Same as `throttle_scope = "money"`; use one or the other."""

    scope = MONEY


class MoneyIpRateThrottle(LimitsThrottle):
    """Scope `money_ip`: views of the `money` scope, counted per IP as well as per client.

    The per-client count stops one account; this stops one address cycling through many
    fresh accounts (OTP logins are cheap to script). Generous, for carrier NAT."""

    scope = MONEY_IP

    def get_key(self, request, view):
        if getattr(view, "throttle_scope", None) != MONEY and not any(
            issubclass(cls, MoneyRateThrottle) for cls in view.throttle_classes
        ):
            return None
        return f"ip:{client_ip(request)}"
