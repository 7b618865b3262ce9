"""Natural group commit for the most frequent charger messages.

Heartbeats and MeterValues arrive from hundreds of chargers at once. Applying each in
its own database transaction costs a thread hop, several round trips and a WAL flush
per frame. A Coalescer hands every item waiting at the moment a writer becomes free to
ONE call of `apply_many`, which writes them all in one transaction; each caller awaits
its own result, so a frame is still acknowledged only after its effect is committed.
There is no timer: an idle system applies the first item at once, and batches form only
while earlier ones are being written — latency never grows to build a batch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

from .db import run_db

log = logging.getLogger("ocpp_bridge")


class Coalescer:
    def __init__(
        self,
        apply_many: Callable[[Sequence[Any]], list[Any]],
        *,
        writers: int = 2,
        max_batch: int = 200,
    ):
        self.apply_many = apply_many  # items -> results (same order); runs in a DB thread
        self.writers = writers
        self.max_batch = max_batch
        self._pending: list[tuple[Any, asyncio.Future]] = []
        self._running = 0

    async def submit(self, item: Any) -> Any:
        future = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._running < self.writers:
            self._running += 1
            asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch = self._pending[: self.max_batch]
                del self._pending[: self.max_batch]
                await self._apply(batch)
        finally:
            self._running -= 1

    async def _apply(self, batch: list[tuple[Any, asyncio.Future]]) -> None:
        items = [item for item, _ in batch]
        try:
            results = await run_db(self.apply_many, items)
        except Exception:
            if len(batch) == 1:
                log.exception("could not apply %s", type(items[0]).__name__)
                if not batch[0][1].done():
                    batch[0][1].set_exception(RuntimeError("could not be applied"))
                return
            # one bad item must not fail its neighbours: apply them one by one
            for one in batch:
                await self._apply([one])
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
