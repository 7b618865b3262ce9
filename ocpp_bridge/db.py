"""Run ORM work from the event loop.

Channels' helpers are built for request-like work: `database_sync_to_async` is thread-
sensitive (every call from every charger would queue on ONE thread) and closes/health-
checks connections around each call (an extra round trip per frame). Charger effects
are independent of each other, so they run on a dedicated pool of threads, each keeping
its own connection; a connection is dropped only when broken or past OCPP_DB_CONN_MAX_AGE.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.db import connections

from evpower.correlation import correlation, current_correlation_id

_executor: ThreadPoolExecutor | None = None
_thread = threading.local()


def _pool() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(
            max_workers=settings.OCPP_DB_THREADS, thread_name_prefix="ocpp-db"
        )
    return _executor


def _call(
    fn: Callable[..., Any], args: tuple, kwargs: dict[str, Any], correlation_id: str | None
) -> Any:
    # These threads live as long as the process and are few, so each keeps its connection
    # for OCPP_DB_CONN_MAX_AGE (Django's own CONN_MAX_AGE is for request threads).
    started = getattr(_thread, "started", None)
    if started is not None and time.monotonic() - started > settings.OCPP_DB_CONN_MAX_AGE:
        for conn in connections.all(initialized_only=True):
            conn.close()
        started = None
    if started is None:
        _thread.started = time.monotonic()
    try:
        with correlation(correlation_id):
            return fn(*args, **kwargs)
    except Exception:
        for conn in connections.all(initialized_only=True):
            if conn.connection is not None and not conn.is_usable():
                conn.close()  # an error left it broken: the next call reconnects
        raise


async def run_db(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    loop = asyncio.get_running_loop()
    # run_in_executor carries no context variables into the thread. Only the correlation id
    # is handed over, not a copy of the whole context: Django keeps cache clients in context
    # locals, and these long-lived threads must keep theirs from call to call.
    return await loop.run_in_executor(
        _pool(), functools.partial(_call, fn, args, kwargs, current_correlation_id())
    )
