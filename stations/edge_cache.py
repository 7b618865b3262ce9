"""A micro-cache in front of Django for the public map reads.

The map list and the location/station details are the app's hottest reads and the
same for every driver (public, no personal data). Through Django and DRF one costs
several milliseconds of CPU; a cached copy costs one Redis round trip. So successful
answers are kept for MAP_EDGE_CACHE_SECONDS, under a key that includes the map version,
which `stations.map_cache` bumps after every status or connection change: a charger's
news retires every cached copy at once, and the TTL bounds what changes silently (a
station going quiet). Cached reads skip the API throttle: they cost almost nothing.
Disabled without Redis (development) — everything then goes to Django.
Requests with an Authorization header always go to Django: the details then carry the
client's own `your_price`, which must never be cached or served to anyone else.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl, urlencode

from django.conf import settings
from django.core.cache import cache
from redis import asyncio as aioredis
from redis.exceptions import RedisError

from stations.map_cache import MAP_VERSION_KEY

log = logging.getLogger("evpower")
PREFIXES = ("/api/v1/locations", "/api/v1/stations/")
MAX_BODY = 512 * 1024

# one round trip: read the version, then the copy built at that version
_LOOKUP = """
local version = redis.call('GET', KEYS[1]) or '0'
return {version, redis.call('GET', ARGV[1] .. version .. ':' .. ARGV[2])}
"""


class MapEdgeCache:
    def __init__(self, app):
        self.app = app
        self.ttl = settings.MAP_EDGE_CACHE_SECONDS
        self.redis = (
            aioredis.from_url(settings.REDIS_URL, socket_timeout=0.5)
            if settings.REDIS_URL and self.ttl
            else None
        )
        self.version_key = cache.make_key(MAP_VERSION_KEY)
        self.lookup = self.redis.register_script(_LOOKUP) if self.redis else None

    async def __call__(self, scope, receive, send):
        if (
            self.redis is None
            or scope["type"] != "http"
            or scope["method"] != "GET"
            or not scope["path"].startswith(PREFIXES)
            or any(name.lower() == b"authorization" for name, _ in scope.get("headers", ()))
        ):
            return await self.app(scope, receive, send)
        query = urlencode(
            sorted(
                parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
            )
        )
        resource = f"{scope['path']}?{query}"
        try:
            version, body = await self.lookup(keys=[self.version_key], args=["edge:map:", resource])
        except RedisError:
            log.warning("map edge cache unavailable", exc_info=True)
            return await self.app(scope, receive, send)
        if body is not None:
            return await _answer(send, body)
        await self._fill(scope, receive, send, f"edge:map:{version.decode()}:{resource}")

    async def _fill(self, scope, receive, send, key: str) -> None:
        """Let Django answer, and keep a successful answer for the next callers."""
        status, parts = None, []

        async def capture(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and status == 200:
                parts.append(message.get("body", b""))
                if not message.get("more_body") and sum(map(len, parts)) <= MAX_BODY:
                    try:
                        await self.redis.set(key, b"".join(parts), ex=self.ttl)
                    except RedisError:
                        log.warning("map edge cache write failed", exc_info=True)
            await send(message)

        await self.app(scope, receive, capture)


async def _answer(send, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-cache", b"hit"),
                (b"vary", b"Accept, Accept-Language"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
