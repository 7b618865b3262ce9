"""Beat's heartbeat: the scheduler records each tick in the shared cache, probes read it."""

from __future__ import annotations

import logging
import time

from django.core.cache import cache

log = logging.getLogger("evpower.health")
BEAT_TICK_KEY = "evpower:health:beat-last-tick"
BEAT_TICK_TTL = 86400


def beat_tick_record(now: float | None = None) -> None:
    """Called by the beat scheduler on every tick (every few seconds). Never raises: beat
    must keep scheduling while the cache is away."""
    try:
        cache.set(BEAT_TICK_KEY, now if now is not None else time.time(), BEAT_TICK_TTL)
    except Exception as exc:
        log.warning("could not record beat's tick: %s", exc)


def beat_last_tick() -> float | None:
    """Unix time of beat's last tick, None when none was recorded (or it expired)."""
    return cache.get(BEAT_TICK_KEY)
