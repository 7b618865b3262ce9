"""Push notifications to drivers: FCM HTTP v1 (`fcm`) and Web Push with VAPID (`webpush`).

- `service`: what other apps call, always after their transaction commits
  (`notify_client_after_commit` and the per-event helpers); nothing here can block or roll
  back charging or payment.
- `tasks`: the Celery side (fan-out per device, sending with retries and backoff, the daily
  low-balance notices).
- `messages`: the texts in ru / ky / en.

A sender reports how a push went by raising one of the errors below (or returning).
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings


def fcm_configured() -> bool:
    return bool(settings.FCM.get("credentials_file"))


def webpush_configured() -> bool:
    return bool(settings.WEBPUSH.get("vapid_private_key"))


def configured_kinds() -> list[str]:
    """The Device kinds that can be pushed to with the present settings."""
    return [
        kind for kind, ok in (("fcm", fcm_configured()), ("webpush", webpush_configured())) if ok
    ]


class PushError(Exception):
    """The push was not delivered and trying again will not help (logged, device kept)."""


class TokenGone(PushError):
    """The push service says the token / subscription is no longer valid: delete the device."""


class TransientPushError(PushError):
    """Try again later (HTTP 429, 5xx, network errors). `retry_after` in seconds if the
    service said when."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header in seconds (the HTTP-date form is ignored: backoff applies)."""
    try:
        return max(float(value), 0.0) if value else None
    except ValueError:
        return None


# -- what only the apps above accounts know, installed by them at start-up ---------------
# A push about a station names its place ("Bishkek Park, CP-7"): stations fills it in from
# the station id, in the worker that renders the push (stations/apps.py).
_param_fillers: list[Callable[[dict], dict]] = []


def add_param_filler(filler: Callable[[dict], dict]) -> None:
    if filler not in _param_fillers:
        _param_fillers.append(filler)


def fill_params(params: dict) -> dict:
    for filler in _param_fillers:
        params = filler(params)
    return params
