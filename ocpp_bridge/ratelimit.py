"""Per-connection flood control: a token bucket that slows one charger down.

A charger over its rate is made to wait (its frames queue in its own socket, so TCP
pushes back on it alone); only when the wait would exceed MAX_WAIT is a frame refused.
"""

from __future__ import annotations

import time

MAX_WAIT = 2.0


class TokenBucket:
    def __init__(self, rate: float, burst: float, clock=time.monotonic):
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens = burst
        self.updated = clock()

    def reserve(self) -> float | None:
        """Take a token; return how long to wait before using it, or None to refuse."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        wait = 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate
        if wait > MAX_WAIT:
            return None
        self.tokens -= 1
        return wait
