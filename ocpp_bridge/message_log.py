"""The OCPP message log, written in batches off the charger's path.

A log row per frame would double the database writes of every message; the log is an
audit trail, not a transaction effect, so frames are buffered per process and flushed
every half second (or every 500 frames) in one INSERT. A crash loses at most that
half second of log, never a transaction effect.
"""

from __future__ import annotations

import asyncio
import logging

from django.conf import settings
from django.db import connection
from django.utils import timezone

from .db import run_db
from .services import message_log_write

log = logging.getLogger("ocpp_bridge")
FLUSH_SECONDS = 0.5
FLUSH_ROWS = 500


def _storable(text: str) -> str:
    """PostgreSQL text holds no NUL: one in a charger's frame would fail the whole batch
    (every charger's log rows of that half second). Kept visible, escaped as JSON does."""
    return text.replace("\x00", "\\u0000") if "\x00" in text else text


class MessageLog:
    def __init__(self) -> None:
        self._rows: list[tuple] = []  # LOG_COLUMNS order; plain tuples keep the hot path cheap
        self._flusher: asyncio.Task | None = None
        self._wakeup: asyncio.Event | None = None

    def record(
        self,
        *,
        station_id: int | None,
        identity: str,
        direction: str,
        raw: str,
        message_type: int | None = None,
        message_id: str = "",
        action: str = "",
        error_code: str = "",
    ) -> None:
        if not settings.OCPP_MESSAGE_LOG_ENABLED:
            return
        self._rows.append(
            (
                station_id,
                identity,
                direction,
                message_type,
                _storable(message_id[:36]),
                _storable(action[:50]),
                _storable(error_code[:40]),
                _storable(raw),
                connection.ops.adapt_datetimefield_value(timezone.now()),
            )
        )
        self._ensure_flusher()
        if len(self._rows) >= FLUSH_ROWS and self._wakeup is not None:
            self._wakeup.set()

    def _ensure_flusher(self) -> None:
        if self._flusher is None or self._flusher.done():
            self._wakeup = asyncio.Event()
            self._flusher = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while self._wakeup is not None:
            try:
                await asyncio.wait_for(self._wakeup.wait(), FLUSH_SECONDS)
            except TimeoutError:
                pass
            self._wakeup.clear()
            await self.flush()

    async def flush(self) -> None:
        rows, self._rows = self._rows, []
        if not rows:
            return
        try:
            await run_db(message_log_write, rows=rows)
        except Exception:
            log.exception("could not write %d OCPP log rows", len(rows))


message_log = MessageLog()
