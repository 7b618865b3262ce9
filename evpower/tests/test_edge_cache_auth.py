"""The edge cache never serves or stores an answer for a request with an Authorization
header (the details then carry the client's own `your_price`)."""

from __future__ import annotations

import asyncio

import pytest

from stations.edge_cache import MapEdgeCache


class Lookup:
    def __init__(self):
        self.calls = 0

    async def __call__(self, **kwargs):
        self.calls += 1
        return b"1", b'{"cached": true}'


def run(cache: MapEdgeCache, headers) -> list[dict]:
    sent: list[dict] = []
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/api/v1/stations/1",
        "query_string": b"",
        "headers": headers,
    }

    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(message):
        sent.append(message)

    asyncio.run(cache(scope, receive, send))
    return sent


@pytest.fixture
def cache_and_app(settings):
    settings.REDIS_URL = settings.REDIS_URL or "redis://127.0.0.1:6379/0"
    settings.MAP_EDGE_CACHE_SECONDS = 5
    calls = []

    async def app(scope, receive, send):
        calls.append(scope)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b'{"from": "django"}'})

    cache = MapEdgeCache(app)
    cache.lookup = Lookup()
    return cache, calls


@pytest.mark.parametrize("name", [b"authorization", b"Authorization"])
def test_requests_with_authorization_bypass_the_cache(cache_and_app, name):
    cache, calls = cache_and_app
    sent = run(cache, [(name, b"Bearer abc")])
    assert len(calls) == 1 and cache.lookup.calls == 0
    assert sent[-1]["body"] == b'{"from": "django"}'


def test_anonymous_requests_still_use_the_cache(cache_and_app):
    cache, calls = cache_and_app
    sent = run(cache, [(b"accept", b"application/json")])
    assert cache.lookup.calls == 1 and calls == []
    assert sent[-1]["body"] == b'{"cached": true}'
