"""How long each HTTP answer took: `X-Response-Time` on every answer (probes and refusals
too: this middleware is the outermost), and a request slower than SLOW_REQUEST_SECONDS
logged once, with its route (the URL pattern, not the path with its ids), method, status,
duration and correlation id (the log filter adds it: the request's id is still current)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from inspect import iscoroutinefunction

from asgiref.sync import markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponse

log = logging.getLogger("evpower.slow_requests")
HEADER = "X-Response-Time"


def _finish(request: HttpRequest, response: HttpResponse, began: float) -> HttpResponse:
    seconds = time.perf_counter() - began
    response[HEADER] = f"{seconds * 1000:.1f}ms"
    if seconds >= settings.SLOW_REQUEST_SECONDS:
        match = getattr(request, "resolver_match", None)
        route = getattr(match, "route", None) or "(unresolved)"
        log.warning(
            "slow request: %s %s took %.0f ms (status %s)",
            request.method,
            route,
            seconds * 1000,
            response.status_code,
            extra={
                "route": route,
                "method": request.method,
                "status": response.status_code,
                "duration_ms": round(seconds * 1000, 1),
            },
        )
    return response


def response_time_middleware(get_response: Callable) -> Callable:
    if iscoroutinefunction(get_response):

        async def middleware(request: HttpRequest) -> HttpResponse:
            began = time.perf_counter()
            return _finish(request, await get_response(request), began)

        markcoroutinefunction(middleware)
    else:

        def middleware(request: HttpRequest) -> HttpResponse:  # type: ignore[misc]
            began = time.perf_counter()
            return _finish(request, get_response(request), began)

    return middleware


response_time_middleware.sync_capable = True  # type: ignore[attr-defined]
response_time_middleware.async_capable = True  # type: ignore[attr-defined]
