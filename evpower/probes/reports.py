"""The readiness and detailed reports: which checks, run together under one deadline."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connections

from . import checks
from .memo import memo

log = logging.getLogger("evpower.health")
# Few threads: a hung dependency can hold some of them, and a check queued behind those
# simply times out (reported down) instead of more threads piling up.
_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="health")

Check = Callable[[], dict[str, Any]]


@dataclass(frozen=True)
class Report:
    http_status: int
    body: dict[str, Any]


def _timed(check: Check) -> dict[str, Any]:
    began = time.perf_counter()
    try:
        result = check()
    except Exception as exc:
        log.warning("health check %s failed: %s: %s", check.__name__, type(exc).__name__, exc)
        result = {"ok": False, "error": f"{type(exc).__name__}: {str(exc)[:200]}"}
    finally:
        connections.close_all()  # this thread's ORM connections (the chargers count)
    return {**result, "latency_ms": round((time.perf_counter() - began) * 1000, 1)}


def run_checks(named: dict[str, Check]) -> dict[str, dict[str, Any]]:
    """Run the checks at once; any not done within HEALTH_CHECK_TIMEOUT counts as down."""
    timeout = settings.HEALTH_CHECK_TIMEOUT
    futures = {name: _pool.submit(_timed, check) for name, check in named.items()}
    wait(futures.values(), timeout=timeout)
    results = {}
    for name, future in futures.items():
        if future.done():
            results[name] = future.result()
        else:
            future.cancel()  # still queued: never start it
            results[name] = {"ok": False, "error": f"no answer within {timeout:g} s"}
    return results


def _critical() -> dict[str, Check]:
    """What stops charging when it is down: the database, and Redis when there is one
    (commands reach chargers through it)."""
    named: dict[str, Check] = {"database": checks.database}
    if settings.REDIS_URL:
        named["redis"] = checks.redis_server
    return named


def _ready() -> Report:
    results = run_checks(_critical())
    ok = all(result["ok"] for result in results.values())
    return Report(200 if ok else 503, {"status": "ok" if ok else "unavailable", "checks": results})


def _detailed() -> Report:
    critical = _critical()
    named: dict[str, Check] = {
        **critical,
        "channel_layer": checks.channel_layer,
        "cache": checks.cache_round_trip,
        **checks.detail_checks(),
    }
    if checks.broker_configured():
        named.update(celery=checks.celery_workers, beat=checks.beat)
    results = run_checks(named)
    if not checks.broker_configured():
        results.update(
            celery={"ok": True, "configured": False}, beat={"ok": True, "configured": False}
        )
    if not all(results[name]["ok"] for name in critical):
        status, http_status = "unavailable", 503
    elif not all(result["ok"] for result in results.values()):
        status, http_status = "degraded", 200  # workers or beat: charging goes on
    else:
        status, http_status = "ok", 200
    return Report(http_status, {"status": status, "checks": results})


def readiness() -> Report:
    return memo.get("ready", settings.HEALTH_CACHE_SECONDS, _ready)


def detailed() -> Report:
    return memo.get("detailed", settings.HEALTH_CACHE_SECONDS, _detailed)
