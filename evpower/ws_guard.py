"""The WebSocket front door: per-IP connection limits, and a drain on shutdown.

ASGI middleware around every WebSocket route (chargers and the apps' live socket), so the
consumers stay free of both concerns.

- Limits. A peer address may hold at most `WS_MAX_CONNECTIONS_PER_IP` open sockets in this
  process and open new ones at `WS_CONNECT_RATE_PER_IP` (a `limits` rate string), counted
  atomically in the API throttle store (Redis when configured: all processes together). An
  attempt over either limit is refused before the consumer runs — before any database
  lookup or password hash — with HTTP 429 and Retry-After. Generous defaults: a depot's chargers
  share one router, and a carrier puts many phones behind one address. The address is the
  ASGI client, which uvicorn's --proxy-headers takes from trusted proxies only.
- Drain. On shutdown (evpower/serve.py) every open socket is closed with 1001 "going away",
  the code that tells a charger to reconnect (to another process behind the load balancer),
  and the consumers' disconnect handlers get to record it before the process exits.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass, field

from django.conf import settings
from limits.errors import StorageError

from evpower.api.throttling import limiter, parse_rate
from evpower.metrics.registry import rate_limit_rejection_observed

log = logging.getLogger("evpower.ws_guard")

CLOSE_GOING_AWAY = 1001


@dataclass(eq=False)
class _Connection:
    send: object  # the server's send callable
    accepted: bool = False
    closed: bool = False
    finished: asyncio.Event = field(default_factory=asyncio.Event)


class WebSocketGuard:
    def __init__(self, app) -> None:
        self.app = app
        self.open_per_ip: Counter[str] = Counter()
        self.connections: set[_Connection] = set()
        self.draining = False

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        ip = (scope.get("client") or ("unknown", 0))[0]
        refusal = await self._refusal(ip)
        if refusal is not None:
            await self._refuse(scope, receive, send, *refusal)
            return
        conn = _Connection(send=send)
        self.connections.add(conn)
        self.open_per_ip[ip] += 1
        try:
            await self.app(scope, receive, self._guarded_send(conn))
        finally:
            self.open_per_ip[ip] -= 1
            if not self.open_per_ip[ip]:
                del self.open_per_ip[ip]
            self.connections.discard(conn)
            conn.finished.set()

    async def _refusal(self, ip: str) -> tuple[int, str, int] | None:
        """(status, reason, retry after) when this attempt must be refused."""
        if self.draining:
            return 503, "server shutting down", 1
        if self.open_per_ip[ip] >= settings.WS_MAX_CONNECTIONS_PER_IP:
            rate_limit_rejection_observed(scope="ws_connections")
            return 429, "too many connections from this address", 60
        if not settings.WS_CONNECT_RATE_PER_IP:
            return None
        # the store is Redis, reached synchronously: off the event loop, so a slow Redis
        # (up to THROTTLE_STORAGE_TIMEOUT) never stalls every other charger's frames
        return await asyncio.to_thread(_attempt_refusal, ip)

    async def _refuse(self, scope, receive, send, status: int, reason: str, retry: int) -> None:
        log.warning("refused WebSocket from %s: %s", (scope.get("client") or ("?",))[0], reason)
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        if "websocket.http.response" in scope.get("extensions", {}):
            await send(
                {
                    "type": "websocket.http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"retry-after", str(retry).encode()),
                    ],
                }
            )
            await send(
                {
                    "type": "websocket.http.response.body",
                    "body": b'{"error": "%s"}' % reason.encode(),
                }
            )
        else:  # servers without the denial extension (daphne) can only answer 403
            await send({"type": "websocket.close"})

    def _guarded_send(self, conn: _Connection):
        async def send(message: dict) -> None:
            if conn.closed:
                return  # the drain closed this socket; the consumer's late frames go nowhere
            if message["type"] == "websocket.accept" and self.draining:
                conn.closed = True  # a handshake that finishes during the drain: go elsewhere
                message = {"type": "websocket.close", "code": CLOSE_GOING_AWAY}
            elif message["type"] == "websocket.accept":
                conn.accepted = True
            elif message["type"] == "websocket.close":
                conn.closed = True
            await conn.send(message)

        return send

    async def drain(self, *, timeout: float) -> int:
        """Close every open socket with 1001 and wait (up to `timeout`) for each consumer to
        finish its disconnect handling. Returns how many sockets were closed."""
        self.draining = True
        closing = [conn for conn in self.connections if conn.accepted and not conn.closed]
        for conn in closing:
            conn.closed = True
            try:
                await conn.send(
                    {
                        "type": "websocket.close",
                        "code": CLOSE_GOING_AWAY,
                        "reason": "server shutting down",
                    }
                )
            except Exception:  # already gone: its consumer is finishing anyway
                log.debug("socket already closed during drain", exc_info=True)
        pending = [conn.finished.wait() for conn in list(self.connections)]
        if pending:
            done, not_done = await asyncio.wait(
                [asyncio.ensure_future(p) for p in pending], timeout=timeout
            )
            for task in not_done:
                task.cancel()
            if not_done:
                log.warning(
                    "%d WebSocket consumer(s) still busy after %.0f s of drain",
                    len(not_done),
                    timeout,
                )
        log.info("drained %d WebSocket connection(s)", len(closing))
        return len(closing)


STORE_RETRY_SECONDS = 5.0
_store_down_until = 0.0


def _attempt_refusal(ip: str) -> tuple[int, str, int] | None:
    """Count this attempt against WS_CONNECT_RATE_PER_IP (all processes, in the throttle
    store); the refusal when it is over."""
    global _store_down_until
    if time.monotonic() < _store_down_until:
        return None  # the store failed a moment ago: don't make each handshake wait for it
    identifiers = (settings.THROTTLE_KEY_PREFIX, "ws-connect", ip)
    try:
        for item in parse_rate(settings.WS_CONNECT_RATE_PER_IP):
            if not limiter().hit(item, *identifiers):
                rate_limit_rejection_observed(scope="ws_attempts")
                reset = limiter().get_window_stats(item, *identifiers).reset_time
                return 429, "too many connection attempts", max(1, int(reset - time.time()))
    except StorageError:  # chargers must still get in when the throttle store is down
        _store_down_until = time.monotonic() + STORE_RETRY_SECONDS
        log.warning(
            "throttle store unavailable: WebSocket attempts not limited for %s s",
            STORE_RETRY_SECONDS,
        )
    return None


# One per process: evpower/asgi.py wraps the WebSocket routes in it, evpower/serve.py drains it.
guard: WebSocketGuard | None = None


def install(app) -> WebSocketGuard:
    global guard
    guard = WebSocketGuard(app)
    return guard
