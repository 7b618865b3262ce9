"""Outbound calls to providers: timeouts, retries with backoff, a circuit breaker per
provider, TLS verification always on. Libraries: httpx (HTTP, client certificates),
tenacity (retries), pybreaker (circuit breaker).

Only idempotent reads should be retried blindly; a provider call that creates something
is retried only on failures that happened before the request was sent (connect errors).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any

import httpx
import pybreaker
from django.conf import settings
from tenacity import (
    retry,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from evpower.metrics.registry import outbound_call_observed

from .base import ProviderUnavailable

_breakers: dict[str, pybreaker.CircuitBreaker] = {}


def breaker(provider: str) -> pybreaker.CircuitBreaker:
    """One breaker per provider and process: after PAYMENT_BREAKER_FAILURES failures in a
    row, calls fail at once for PAYMENT_BREAKER_RESET_SECONDS instead of piling up."""
    if provider not in _breakers:
        _breakers[provider] = pybreaker.CircuitBreaker(
            fail_max=settings.PAYMENT_BREAKER_FAILURES,
            reset_timeout=settings.PAYMENT_BREAKER_RESET_SECONDS,
            name=provider,
        )
    return _breakers[provider]


def breaker_states() -> dict[str, str]:
    """Each configured provider's breaker state in this process ("closed", "half-open",
    "open"), for /metrics."""
    for provider in settings.PAYMENT_PROVIDERS:
        breaker(provider)
    return {provider: b.current_state for provider, b in _breakers.items()}


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code >= 500
    return isinstance(exc, httpx.TransportError)


def _before_sending(exc: BaseException) -> bool:
    return isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)


def call(
    provider: str,
    fn: Callable[[httpx.Client], httpx.Response],
    *,
    idempotent: bool,
    client_kwargs: dict[str, Any] | None = None,
) -> httpx.Response:
    """Run `fn(client)` with retries and the provider's breaker; raise ProviderUnavailable
    for transport failures, 5xx and an open breaker. 4xx answers are returned."""
    retry_on = _transient if idempotent else _before_sending
    options = {
        "timeout": settings.PAYMENT_HTTP_TIMEOUT_SECONDS,
        "verify": True,
        **(client_kwargs or {}),
    }
    if options["verify"] is False:  # a CA bundle or an SSL context, never "off"
        raise ValueError("TLS verification cannot be turned off")

    @retry(
        retry=retry_if_exception(retry_on),
        reraise=True,
        stop=stop_after_attempt(settings.PAYMENT_HTTP_ATTEMPTS),
        wait=wait_exponential(multiplier=settings.PAYMENT_HTTP_BACKOFF_SECONDS, max=5),
    )
    def attempt() -> httpx.Response:
        with httpx.Client(**options) as client:
            response = fn(client)
            if response.status_code >= 500:
                response.raise_for_status()
            return response

    try:
        response = breaker(provider).call(attempt)
    except pybreaker.CircuitBreakerError:
        outbound_call_observed(target=provider, result="circuit_open")
        raise ProviderUnavailable(f"{provider}: circuit open after repeated failures") from None
    except (httpx.HTTPError, ssl.SSLError, OSError) as exc:
        outbound_call_observed(target=provider, result="failed")
        raise ProviderUnavailable(f"{provider}: {type(exc).__name__}: {exc}") from None
    outbound_call_observed(target=provider, result="ok" if response.is_success else "rejected")
    return response
