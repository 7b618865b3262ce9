"""Waiting for a condition in tests: poll until it holds, with a deadline generous enough
for a loaded CI machine. A slow machine only makes the wait longer; the test still asserts
the condition, never how fast it came."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float = 60, what: str = "condition") -> T:
    """The predicate's first truthy value; AssertionError when the deadline passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")
