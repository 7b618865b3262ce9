"""Charger-side helpers for end-to-end tests: a real WebSocket client and the ocpp
library's ChargePoint, talking to a real server process."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from datetime import UTC, datetime

import websockets
from ocpp.v16 import ChargePoint

from evpower.tests.support.processes import CHARGER_PASSWORD


def basic(identity: str, password: str = CHARGER_PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{identity}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def connect(
    url: str, identity: str, password: str = CHARGER_PASSWORD, subprotocols=("ocpp1.6",), **kwargs
):
    return websockets.connect(
        url,
        subprotocols=list(subprotocols) if subprotocols else None,
        additional_headers=basic(identity, password),
        open_timeout=10,
        **kwargs,
    )


async def rpc(ws, frame) -> list:
    """Send one frame (list or raw text) and return the parsed answer."""
    await ws.send(frame if isinstance(frame, str) else json.dumps(frame))
    return json.loads(await asyncio.wait_for(ws.recv(), 10))


async def handshake_status(
    url: str, headers: dict[str, str] | None = None, subprotocols=("ocpp1.6",)
) -> int:
    """The HTTP status a refused handshake got (101 if it was accepted)."""
    try:
        async with websockets.connect(
            url,
            subprotocols=list(subprotocols) or None,
            additional_headers=headers or {},
            open_timeout=10,
        ):
            return 101
    except websockets.InvalidStatus as exc:
        return exc.response.status_code


@contextlib.asynccontextmanager
async def charge_point(url: str, identity: str, password: str = CHARGER_PASSWORD):
    """The ocpp library's ChargePoint as the charger, its reader running in the background."""
    async with connect(url, identity, password) as ws:
        cp = ChargePoint(identity, ws)
        reader = asyncio.create_task(cp.start())
        try:
            yield cp
        finally:
            reader.cancel()
