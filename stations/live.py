"""Live station status for the apps: who listens where, and what they are told.

Status changes are published from the charger side's event loop (the domain port and
the consumer), never from inside a database thread, so a publish is one channel-layer
call on an existing connection. Drivers' sockets (`stations.consumers.AppConsumer`)
join one group per location or station they watch.
"""

from __future__ import annotations

import asyncio
import uuid

from channels.layers import get_channel_layer


def location_group(location_id: int) -> str:
    return f"app.location.{int(location_id)}"


def station_group(station_id: int) -> str:
    return f"app.station.{int(station_id)}"


# A reconnect storm publishes for every charger at once; the channel layer's Redis pool
# holds 100 connections, and a publish that can't get one fails. Waiting for a turn
# costs a few milliseconds; failing loses the news.
MAX_CONCURRENT_PUBLISHES = 32
_turns = asyncio.Semaphore(MAX_CONCURRENT_PUBLISHES)  # binds to the server's loop on first wait


async def publish_status(*, station_id: int, location_id: int | None, event: dict) -> None:
    """Tell everyone watching the station or its location. `event` is the app-facing
    message, e.g. {"kind": "connector", "connector": 1, "status": "Charging"}."""
    layer = get_channel_layer()
    # one id per change: a socket watching both the station and its location gets the
    # message through both groups and must show it once
    message = {"type": "app.status", "id": uuid.uuid4().hex, "station": station_id,
               "location": location_id, **event}
    async with _turns:
        await layer.group_send(station_group(station_id), message)
        if location_id is not None:
            await layer.group_send(location_group(location_id), message)
