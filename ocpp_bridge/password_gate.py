"""Charger password checks on threads of their own, with a global cap.

A handshake storm (a power cut ending, or an attacker with many addresses) means hundreds
of PBKDF2 hashes at once. On the pool that applies charger frames (ocpp_bridge/db.py) they
made every connected charger wait; here they run on OCPP_PASSWORD_THREADS threads of their
own, so a storm queues behind itself. A handshake enters the gate before any lookup or
hash; beyond OCPP_HANDSHAKE_MAX_PENDING handshakes in progress the next is refused at once
with 503 and Retry-After (the charger reconnects a moment later), counted as
`evpower_rate_limit_rejections_total{scope="ws_handshake_busy"}`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings

from evpower.metrics.registry import rate_limit_rejection_observed

log = logging.getLogger("ocpp_bridge")
REPORT_SECONDS = 10.0  # a storm's refusals are logged as a count, this often at most


class PasswordGate:
    def __init__(self) -> None:
        self.in_progress = 0
        self._executor: ThreadPoolExecutor | None = None
        self._refused, self._reported_at = 0, float("-inf")

    def try_enter(self) -> bool:
        """Admit one handshake (the event loop's thread only: no lock needed)."""
        if self.in_progress >= settings.OCPP_HANDSHAKE_MAX_PENDING:
            rate_limit_rejection_observed(scope="ws_handshake_busy")
            self._refused += 1
            if time.monotonic() - self._reported_at >= REPORT_SECONDS:
                log.warning(
                    "handshake gate full (%d in progress): %d handshake(s) refused "
                    "with 503 since the last report",
                    self.in_progress,
                    self._refused,
                )
                self._refused, self._reported_at = 0, time.monotonic()
            return False
        self.in_progress += 1
        return True

    def leave(self) -> None:
        self.in_progress -= 1

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=settings.OCPP_PASSWORD_THREADS,
                thread_name_prefix="ocpp-password",
                initializer=_yield_the_cpu,
            )
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)


def _yield_the_cpu() -> None:
    """PBKDF2 runs without the GIL, so hashing threads compete with the event loop and the
    database threads for the cores themselves (profiled: two hashing threads took the whole
    of a 2-core machine during a storm). Niced, they take only what the rest leaves. Linux
    sets a thread's own priority through its native id; elsewhere this does nothing."""
    try:
        os.setpriority(
            os.PRIO_PROCESS,
            threading.get_native_id(),
            os.getpriority(os.PRIO_PROCESS, 0) + settings.OCPP_PASSWORD_NICE,
        )
    except (AttributeError, OSError):
        pass


gate = PasswordGate()  # one per process (the server's event loop)
