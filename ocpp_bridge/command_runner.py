"""The consumer's side of commands: one CALL in flight per charger, the rest queued.

Commands arrive as channel-layer events; each is acknowledged at once ("queued") so
the sender knows a live process holds the socket, then run in order by one task per
connection. That task awaits the charger's answer while the consumer goes on receiving
the charger's own messages — including the CALLRESULT that resolves the wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Any, Protocol

from django.conf import settings

from evpower.correlation import set_correlation_id

from .protocol import schemas
from .protocol.errors import OcppError
from .protocol.frames import CallError


class SocketHolder(Protocol):
    """What the runner needs of the consumer holding the charger's socket (consumers.py)."""

    channel_layer: Any
    identity: str
    session: Any  # the protocol session: its replies resolve a CALL's wait

    async def send_call(self, message_id: str, action: str, payload: dict) -> None: ...


log = logging.getLogger("ocpp_bridge")


class CommandRunner:
    def __init__(self, consumer: SocketHolder):
        self.consumer = consumer
        self.limit = settings.OCPP_COMMAND_QUEUE
        self.queue: asyncio.Queue[dict | None] = asyncio.Queue()  # None: stop
        self.closing = False
        self.worker = asyncio.get_running_loop().create_task(self._run())

    async def _reply(self, event: dict, outcome: str, **fields) -> None:
        await self.consumer.channel_layer.send(
            event["reply_to"], {"type": "ocpp.reply", "outcome": outcome, **fields}
        )

    async def submit(self, event: dict) -> None:
        if self.closing:
            await self._reply(event, "offline", description="the charger disconnected")
            return
        if self.queue.qsize() >= self.limit:
            await self._reply(
                event,
                "busy",
                description=(f"{self.limit} commands already waiting for this station"),
            )
            return
        self.queue.put_nowait(event)
        await self._reply(event, "queued")

    async def _run(self) -> None:
        while True:
            event = await self.queue.get()
            if event is None:
                return
            # this command's lines carry the id of the request or task that sent it
            set_correlation_id(
                event.get("correlation_id") or getattr(self.consumer, "correlation_id", None)
            )
            if self.closing:
                await self._reply(event, "offline", description="the charger disconnected")
                continue
            try:
                await self._reply(event, **await self._call(event))
            except Exception:
                log.exception(
                    "command %s to %s failed", event.get("action"), self.consumer.identity
                )
                await self._reply(
                    event,
                    "call_error",
                    code="InternalError",
                    description="the command could not be sent",
                )

    async def _call(self, event: dict) -> dict:
        remaining = event["deadline"] - time.time()
        if remaining <= 0:
            return {"outcome": "timeout", "description": "expired while queued"}
        session = self.consumer.session
        message_id = str(uuid.uuid4())
        waiter = session.replies.expect(message_id)
        await self.consumer.send_call(message_id, event["action"], event["payload"])
        try:
            answer = await asyncio.wait_for(waiter, remaining)
        except TimeoutError:
            session.replies.forget(message_id)
            return {"outcome": "timeout", "description": "the charger did not answer in time"}
        except ConnectionError:
            return {"outcome": "offline", "description": "the charger disconnected"}
        if isinstance(answer, CallError):
            return {"outcome": "call_error", "code": answer.code, "description": answer.description}
        try:
            schemas.validate_response(session.VERSION, event["action"], answer.payload)
        except OcppError as exc:
            return {
                "outcome": "call_error",
                "code": "InvalidResponse",
                "description": f"answer breaks the schema: {exc.description}",
            }
        return {"outcome": "answered", "response": answer.payload}

    async def close(self) -> None:
        """The socket closed: whatever waits or is in flight is answered 'offline'."""
        self.closing = True
        self.consumer.session.replies.fail_all(ConnectionError("charger disconnected"))
        self.queue.put_nowait(None)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.worker), 5)
        self.worker.cancel()
