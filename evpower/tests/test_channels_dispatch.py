"""The consumers' receive loop ends even when a receive swallows cancellations
(evpower/channels_dispatch.py; channels-redis under redis-py's retry does)."""

from __future__ import annotations

import asyncio

from channels.exceptions import StopConsumer

from evpower.channels_dispatch import cancel_for_sure, dispatch_until_stopped


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 20))


async def swallowing_receive(swallow: int, log: list[str]) -> dict:
    """Like a BZPOPMIN that takes the first `swallow` cancellations for timeouts."""
    while True:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            log.append("cancel")
            if len(log) > swallow:
                raise


def test_a_receive_that_swallows_cancellations_is_cancelled_until_it_ends():
    async def scenario():
        log: list[str] = []
        task = asyncio.ensure_future(swallowing_receive(3, log))
        await asyncio.sleep(0)
        await cancel_for_sure([task])  # a single cancellation would wait here forever
        return task.cancelled(), log

    cancelled, log = run(scenario())
    assert cancelled and log == ["cancel"] * 4


def test_the_loop_dispatches_until_stopped_and_leaves_no_receive_running():
    async def scenario():
        socket = asyncio.Queue()
        for message in ({"type": "websocket.receive"}, {"type": "websocket.disconnect"}):
            socket.put_nowait(message)
        seen, log = [], []

        async def dispatch(message):
            seen.append(message["type"])
            if message["type"] == "websocket.disconnect":
                raise StopConsumer

        try:
            await dispatch_until_stopped([socket.get, lambda: swallowing_receive(2, log)], dispatch)
        except StopConsumer:
            pass
        others = [
            t
            for t in asyncio.all_tasks()
            if not t.done() and t.get_coro().__name__ in ("swallowing_receive", "get")
        ]
        return seen, log, others

    seen, log, others = run(scenario())
    assert seen == ["websocket.receive", "websocket.disconnect"]
    assert log == ["cancel"] * 3
    assert others == []
