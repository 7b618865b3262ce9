"""A tiny thread-safe memo with expiry, in process memory."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from django.core.signals import setting_changed
from django.dispatch import receiver

T = TypeVar("T")


class Memo:
    """Values computed at most once per key and window. Concurrent callers of an expired key
    wait for the one computing it (rather than all running the checks at once)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._values: dict[str, tuple[float, object]] = {}

    def get(self, key: str, seconds: float, compute: Callable[[], T]) -> T:
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            hit = self._values.get(key)
            if hit is not None and hit[0] > time.monotonic():
                return hit[1]  # type: ignore[return-value]
            value = compute()
            if seconds > 0:
                self._values[key] = (time.monotonic() + seconds, value)
            return value

    def clear(self) -> None:
        with self._guard:
            self._values.clear()


memo = Memo()


@receiver(setting_changed)
def _forget_on_setting_change(**kwargs) -> None:
    # a test pointing a dependency elsewhere must not be answered from the old state
    memo.clear()
