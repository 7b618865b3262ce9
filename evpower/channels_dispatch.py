"""Channels' receive loop, with a shutdown that cannot hang.

Channels' `await_many_dispatch` cancels the pending channel-layer receive when a consumer
stops and then awaits it. With channels-redis, that receive sits in a blocking BZPOPMIN under
redis-py's retry; a cancellation that lands while redis-py handles its read timeout is taken
for a timeout and retried, and channels-redis then pops again, forever. One consumer of a
process stuck like that kept `evpower.serve` from exiting after a SIGTERM (seen after every
200-charger bench: the process had to be killed). Here the cancellation is repeated until the
task really ends; nothing is lost (channels-redis keeps unacknowledged messages in its backup
queue).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence

log = logging.getLogger("evpower.channels")

CANCEL_INTERVAL_SECONDS = 0.25
CANCEL_ATTEMPTS = 40  # 10 s: far longer than any honest cancellation takes


async def dispatch_until_stopped(
    receivers: Sequence[Callable[[], Awaitable[dict]]], dispatch: Callable[[dict], Awaitable[None]]
) -> None:
    """Await the receivers, dispatch each message as it arrives, until dispatch raises
    (StopConsumer when the socket closes)."""
    tasks = [asyncio.ensure_future(receive()) for receive in receivers]
    try:
        while True:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for index, task in enumerate(tasks):
                if task.done():
                    message = task.result()
                    await dispatch(message)
                    tasks[index] = asyncio.ensure_future(receivers[index]())
    finally:
        await cancel_for_sure(tasks)


async def cancel_for_sure(tasks: Sequence[asyncio.Future]) -> None:
    pending = {task for task in tasks if not task.done()}
    for _ in range(CANCEL_ATTEMPTS):
        if not pending:
            break
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=CANCEL_INTERVAL_SECONDS)
    if pending:
        log.warning("%d receive task(s) ignored cancellation; left behind", len(pending))
    for task in tasks:
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: an error of a receive we no longer need is not news


class ShutdownSafeCall:
    """Mixed into a Channels consumer (before the consumer class): Channels' own `__call__`,
    with the receive loop above, so the consumer's end cannot hang on a channel-layer
    receive that ignores its cancellation."""

    async def __call__(self, scope, receive, send):
        from channels.exceptions import StopConsumer
        from channels.layers import get_channel_layer

        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.channel_name = await self.channel_layer.new_channel()
        self.channel_receive = functools.partial(self.channel_layer.receive, self.channel_name)
        self.base_send = send
        try:
            await dispatch_until_stopped([receive, self.channel_receive], self.dispatch)
        except StopConsumer:
            pass
