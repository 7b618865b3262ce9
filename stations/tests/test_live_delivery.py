"""Live news from the charger path: posted, bounded, in order per subject, dropped and
counted when the channel layer fails (stations/live_delivery.py)."""

from __future__ import annotations

import asyncio

import pytest

from evpower.metrics.registry import LIVE_NEWS_DROPPED
from stations.live_delivery import LiveDelivery


def dropped(reason: str) -> float:
    return LIVE_NEWS_DROPPED.labels(reason)._value.get()


@pytest.fixture
def one_lane(settings):
    settings.LIVE_DELIVERY_LANES = 1
    settings.LIVE_DELIVERY_BACKLOG = 3
    settings.LIVE_DELIVERY_TIMEOUT = 30
    settings.LIVE_DELIVERY_PAUSE = 3600


def test_news_is_delivered_in_order_without_the_poster_waiting(one_lane):
    delivered, gate = [], asyncio.Event()

    async def scenario():
        delivery = LiveDelivery()

        def news(n):
            async def deliver():
                await gate.wait()  # the channel layer is slow: the poster must not care
                delivered.append(n)

            return deliver

        assert all(delivery.post("station:1", news(n)) for n in range(3))
        assert delivered == []  # posted, not delivered: nobody waited
        gate.set()
        await delivery.drained()

    asyncio.run(scenario())
    assert delivered == [0, 1, 2]


def test_a_full_backlog_drops_and_counts(one_lane):
    gate = asyncio.Event()
    before = dropped("backlog")

    async def scenario():
        delivery = LiveDelivery()

        async def stuck():
            await gate.wait()

        results = [delivery.post("client:7", stuck) for _ in range(6)]
        await asyncio.sleep(0)  # the worker takes the first one off the queue
        results.append(delivery.post("client:7", stuck))
        gate.set()
        await delivery.drained()
        return results

    results = asyncio.run(scenario())
    assert results[:3] == [True, True, True] and False in results
    assert dropped("backlog") - before == results.count(False)


def test_after_a_failure_the_lane_drops_instead_of_queueing_behind_it(one_lane):
    calls = []
    before = (dropped("error"), dropped("unavailable"))

    async def scenario():
        delivery = LiveDelivery()

        async def redis_down():
            calls.append("tried")
            raise ConnectionError("redis away")

        for _ in range(3):
            delivery.post("station:2", redis_down)
        await delivery.drained()

    asyncio.run(scenario())
    assert calls == ["tried"]  # the first failure pauses the lane: the rest is dropped
    assert (dropped("error") - before[0], dropped("unavailable") - before[1]) == (1, 2)
