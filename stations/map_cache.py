"""Cached live summaries of locations for the map, and their invalidation.

One cache entry per location (Django's cache: Redis in tests and production). The entry
is deleted after commit whenever a station's connection or a status of it or one of its
connectors changes (`stations.services` calls `location_changed_for_station`); that costs
a primary-key lookup and one DELETE, off the OCPP reply path's critical section.

Liveness also changes with time alone (a silent station goes offline with no write to
hook), so entries live `MAP_SUMMARY_CACHE_SECONDS` (default 30 s) at most: a summary is
never staler than that. Operator edits in the admin rely on the same expiry.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import partial

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from stations.station_models import Station

logger = logging.getLogger(__name__)

KEY_VERSION = 1


def summary_ttl() -> int:
    return settings.MAP_SUMMARY_CACHE_SECONDS


def summary_key(location_id: int) -> str:
    return f"map:location:{location_id}:summary:v{KEY_VERSION}"


def get_summaries(location_ids: Iterable[int]) -> dict[int, dict]:
    ids = list(location_ids)
    if not ids:
        return {}
    try:
        found = cache.get_many([summary_key(i) for i in ids])
    except Exception:  # a cache outage degrades to database reads, never to an error
        logger.warning("map cache read failed", exc_info=True)
        return {}
    return {i: found[summary_key(i)] for i in ids if summary_key(i) in found}


def set_summaries(summaries: dict[int, dict]) -> None:
    if not summaries:
        return
    try:
        cache.set_many({summary_key(i): s for i, s in summaries.items()}, summary_ttl())
    except Exception:
        logger.warning("map cache write failed", exc_info=True)


def _forget(location_id: int | None, station_id: int | None) -> None:
    try:
        if location_id is None and station_id is not None:
            location_id = (
                Station.objects.filter(pk=station_id).values_list("location_id", flat=True).first()
            )
        if location_id is not None:
            cache.delete(summary_key(location_id))
        bump_map_version()
    except Exception:  # never let the map break a charger's message
        logger.warning("map cache invalidation failed", exc_info=True)


MAP_VERSION_KEY = "map:version"


def bump_map_version() -> None:
    """Every cached map response (stations/edge_cache.py) names the version it was built
    at; bumping it retires them all at once."""
    try:
        cache.incr(MAP_VERSION_KEY)
    except ValueError:  # not there yet (or evicted)
        cache.set(MAP_VERSION_KEY, 1, None)


def location_changed(location_id: int | None) -> None:
    """Forget a location's summary once the current transaction commits (now if none)."""
    if location_id is not None:
        transaction.on_commit(partial(_forget, location_id, None))


def location_changed_for_station(station_id: int, location_id: int | None = None) -> None:
    """As `location_changed`, for the location of a station (looked up after commit
    unless the caller already knows it)."""
    transaction.on_commit(partial(_forget, location_id, station_id))
