"""Run ORM work from the event loop.

Channels' helpers are built for request-like work: `database_sync_to_async` is thread-
sensitive (every call from every charger would queue on ONE thread) and closes/health-
checks connections around each call (an extra round trip per frame). Charger effects
are independent of each other, so they run on a dedicated pool of threads, each keeping
its own connection; a connection is dropped only after an error or past CONN_MAX_AGE.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connections

_executor: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=settings.OCPP_DB_THREADS,
                                       thread_name_prefix="ocpp-db")
    return _executor


def _call(fn: Callable[..., Any], args: tuple, kwargs: dict[str, Any]) -> Any:
    try:
        return fn(*args, **kwargs)
    except Exception:
        close_old_connections()  # drops a connection the error left unusable
        raise
    finally:
        for conn in connections.all(initialized_only=True):
            if conn.close_at is not None and time.monotonic() >= conn.close_at:
                conn.close()


async def run_db(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_pool(), functools.partial(_call, fn, args, kwargs))
