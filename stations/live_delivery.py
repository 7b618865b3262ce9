"""Live-view news from the charger path, delivered after the charger's answer, never before.

A charger's answer depends on the database commit only. What the apps and the cockpit
are told (a connector's status, a session's figures, a station going online) travels
through the channel layer (Redis), which can be slow or away; awaiting it on the frame's
path once stalled every charger's MeterValues for as long as Redis was down. So news is
posted here and the caller goes on:

- bounded: each of `LIVE_DELIVERY_LANES` lanes holds at most `LIVE_DELIVERY_BACKLOG`
  messages; beyond that the news is dropped and counted (the state is in the database,
  and the next news about the same thing carries the whole picture);
- in order per subject: one lane per station or client (by hash), so a session's
  updates reach its driver in the order they happened;
- each delivery bounded by `LIVE_DELIVERY_TIMEOUT`; after a failure the lane drops what it
  holds for `LIVE_DELIVERY_PAUSE` seconds instead of queueing behind a dead Redis, then
  tries again. Drops are counted by reason in `evpower_live_news_dropped_total`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from django.conf import settings

from evpower.metrics.registry import live_news_dropped

log = logging.getLogger("stations.live")

Deliver = Callable[[], Awaitable[None]]


class _Lane:
    def __init__(self, backlog: int) -> None:
        self.queue: asyncio.Queue[Deliver] = asyncio.Queue(maxsize=backlog)
        self.paused_until = 0.0
        self.worker: asyncio.Task | None = None

    async def run(self) -> None:
        while True:
            deliver = await self.queue.get()
            try:
                await self._deliver(deliver)
            finally:
                self.queue.task_done()

    async def _deliver(self, deliver: Deliver) -> None:
        if time.monotonic() < self.paused_until:
            live_news_dropped(reason="unavailable")
            return
        try:
            await asyncio.wait_for(deliver(), settings.LIVE_DELIVERY_TIMEOUT)
        except Exception as exc:  # Redis away or slow: nothing the charger should feel
            self.paused_until = time.monotonic() + settings.LIVE_DELIVERY_PAUSE
            live_news_dropped(reason="timeout" if isinstance(exc, TimeoutError) else "error")
            log.warning(
                "live news not delivered (%s: %s); dropping news for %s s",
                type(exc).__name__,
                exc,
                settings.LIVE_DELIVERY_PAUSE,
            )


class LiveDelivery:
    """One per event loop (the server's): lanes and their workers start on first use."""

    def __init__(self) -> None:
        self._lanes: list[_Lane] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def post(self, subject: str, deliver: Deliver) -> bool:
        """Queue `deliver` on the lane of `subject`; False when it was dropped."""
        lane = self._lane(subject)
        try:
            lane.queue.put_nowait(deliver)
        except asyncio.QueueFull:
            live_news_dropped(reason="backlog")
            return False
        return True

    def _lane(self, subject: str) -> _Lane:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new loop (tests run several): new lanes
            self._loop = loop
            self._lanes = [
                _Lane(settings.LIVE_DELIVERY_BACKLOG) for _ in range(settings.LIVE_DELIVERY_LANES)
            ]
        lane = self._lanes[hash(subject) % len(self._lanes)]
        if lane.worker is None or lane.worker.done():
            lane.worker = loop.create_task(lane.run())
        return lane

    async def drained(self) -> None:
        """Until every lane is empty (tests, and a shutdown that wants its news out)."""
        for lane in list(self._lanes):
            await lane.queue.join()


delivery = LiveDelivery()
