"""Answers to the calls we send a charger, matched to their waiters by message id."""

from __future__ import annotations

import asyncio
import logging

from .frames import CallError, CallResult

log = logging.getLogger("ocpp_bridge.protocol")


class PendingReplies:
    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Future] = {}

    def expect(self, message_id: str) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        self._waiting[message_id] = future
        return future

    def forget(self, message_id: str) -> None:
        self._waiting.pop(message_id, None)

    def resolve(self, frame: CallResult | CallError) -> bool:
        future = self._waiting.pop(frame.message_id, None)
        if future is None or future.done():
            log.info("reply %s matches no pending call; ignored", frame.message_id)
            return False
        future.set_result(frame)
        return True

    def fail_all(self, reason: Exception) -> None:
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(reason)
        self._waiting.clear()

    def __len__(self) -> int:
        return len(self._waiting)
