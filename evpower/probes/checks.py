"""One function per dependency. Each returns a dict with at least `ok`, or raises (the
runner turns an exception into a failed check). They run on the probe pool's threads."""

from __future__ import annotations

import asyncio
import math
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import redis
from channels import DEFAULT_CHANNEL_LAYER
from channels.layers import channel_layers
from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.utils import load_backend

from evpower.celery import app

from .beat import beat_last_tick

HEALTH_DB_ALIAS = "health"
_db_guard = threading.Lock()
_db_use = threading.Lock()
_db: tuple[tuple, BaseDatabaseWrapper] | None = None


def database_connection() -> BaseDatabaseWrapper:
    """The process's own connection for probes, built from settings.DATABASES["default"]
    with a connect timeout: independent of request threads (whose connections are closed
    after each request) and of the charger threads' pool. Closed after every check."""
    global _db
    configured = {**connections["default"].settings_dict, **settings.DATABASES["default"]}
    key = tuple(str(configured.get(k)) for k in ("ENGINE", "HOST", "PORT", "NAME", "USER"))
    with _db_guard:
        if _db is None or _db[0] != key:
            options = dict(configured.get("OPTIONS") or {})
            if "postgresql" in configured["ENGINE"]:
                # libpq counts whole seconds, at least 2
                options["connect_timeout"] = max(2, math.ceil(settings.HEALTH_CHECK_TIMEOUT))
            wrapper = load_backend(configured["ENGINE"]).DatabaseWrapper(
                {**configured, "OPTIONS": options, "CONN_MAX_AGE": 0}, alias=HEALTH_DB_ALIAS
            )
            wrapper.inc_thread_sharing()  # used from whichever probe thread runs the check
            _db = (key, wrapper)
        return _db[1]


def database() -> dict[str, Any]:
    wrapper = database_connection()
    # a check still stuck on a hung server holds the connection: this one fails at once
    if not _db_use.acquire(timeout=settings.HEALTH_CHECK_TIMEOUT):
        return {"ok": False, "error": "a previous check is still waiting for the database"}
    try:
        with wrapper.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return {"ok": True}
    finally:
        try:
            wrapper.close()
        finally:
            _db_use.release()


def redis_server() -> dict[str, Any]:
    timeout = settings.HEALTH_CHECK_TIMEOUT
    client = redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=timeout, socket_connect_timeout=timeout
    )
    try:
        client.ping()
    finally:
        client.close()
    return {"ok": True}


def channel_layer() -> dict[str, Any]:
    """A message sent to a fresh channel and received back, on a layer (and event loop) of
    the check's own: the real path a command to a charger takes."""
    layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
    nonce = uuid.uuid4().hex

    async def round_trip() -> bool:
        try:
            channel = await layer.new_channel()
            await layer.send(channel, {"type": "health.ping", "nonce": nonce})
            message = await asyncio.wait_for(layer.receive(channel), settings.HEALTH_CHECK_TIMEOUT)
            return message.get("nonce") == nonce
        finally:
            if hasattr(layer, "close_pools"):
                await layer.close_pools()

    if not asyncio.run(round_trip()):
        return {"ok": False, "error": "received a different message"}
    return {"ok": True, "backend": type(layer).__name__}


def cache_round_trip() -> dict[str, Any]:
    key, nonce = f"evpower:health:cache:{uuid.uuid4().hex}", uuid.uuid4().hex
    cache.set(key, nonce, 30)
    try:
        if cache.get(key) != nonce:
            return {"ok": False, "error": "read back a different value"}
    finally:
        cache.delete(key)
    return {"ok": True, "backend": type(cache).__name__}


def broker_configured() -> bool:
    return not settings.CELERY_BROKER_URL.startswith("memory://")


def celery_workers() -> dict[str, Any]:

    # ping waits its whole timeout for replies (kombu drains in steps of up to 1 s, so a
    # timeout past 1 s can take nearly twice as long): stay well inside the check's bound
    replies = app.control.ping(timeout=min(1.0, settings.HEALTH_CHECK_TIMEOUT / 2))
    workers = sorted(name for reply in replies for name in reply)
    if not workers:
        return {"ok": False, "workers": [], "error": "no worker answered"}
    return {"ok": True, "workers": workers}


def beat() -> dict[str, Any]:
    last = beat_last_tick()
    if last is None:
        return {"ok": False, "last_tick_age_seconds": None, "error": "no tick recorded"}
    age = round(time.time() - last, 1)
    fresh = age <= settings.HEALTH_BEAT_MAX_AGE_SECONDS
    return {
        "ok": fresh,
        "last_tick_age_seconds": age,
        **({} if fresh else {"error": "beat has not ticked recently"}),
    }


# Checks the domain apps add to /health/detailed at start (stations: chargers connected).
_detail_checks: dict[str, Callable[[], dict[str, Any]]] = {}


def add_detail_check(name: str, check: Callable[[], dict[str, Any]]) -> None:
    _detail_checks[name] = check


def detail_checks() -> dict[str, Callable[[], dict[str, Any]]]:
    return dict(_detail_checks)
