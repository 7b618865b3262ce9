"""Per-connection flood control: a token bucket that slows one charger down.

A consumer handles its charger's frames one at a time, so making it wait before the
next frame is enough: the flooding charger's frames queue in its own socket (the
server's bounded receive queue, then TCP) and nobody else's. Nothing is refused or
lost — a flood only costs the flooder its own latency.
"""

from __future__ import annotations

import time


class TokenBucket:
    def __init__(self, rate: float, burst: float, clock=time.monotonic):
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens = burst
        self.updated = clock()

    def reserve(self) -> float:
        """Take a token; return how many seconds to wait before using it."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        wait = 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate
        self.tokens -= 1
        return wait
