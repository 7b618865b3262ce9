"""Run ORM work from the event loop.

Channels' default (`database_sync_to_async`) is thread-sensitive: every call from every
charger would queue on ONE thread. Charger effects are independent of each other, so
they run on the loop's thread pool instead, each thread with its own DB connection.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from channels.db import DatabaseSyncToAsync


def run_db(fn: Callable[..., Any], /, **kwargs: Any) -> Awaitable[Any]:
    return DatabaseSyncToAsync(fn, thread_sensitive=False)(**kwargs)
