"""Live station status for the apps: who listens where, and what they are told.

Status changes are published from the charger side's event loop (the domain port and
the consumer), never from inside a database thread, so a publish is one channel-layer
call on an existing connection. Drivers' sockets (`stations.consumers.AppConsumer`)
join one group per location or station they watch.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from channels.layers import get_channel_layer

from .live_delivery import delivery


def location_group(location_id: int) -> str:
    return f"app.location.{int(location_id)}"


def station_group(station_id: int) -> str:
    return f"app.station.{int(station_id)}"


def client_group(client_id: int) -> str:
    """Every socket of one driver joins this group: news about their own sessions."""
    return f"app.client.{int(client_id)}"


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
    message = {
        "type": "app.status",
        "id": uuid.uuid4().hex,
        "station": station_id,
        "location": location_id,
        **event,
    }
    async with _turns:
        await layer.group_send(station_group(station_id), message)
        if location_id is not None:
            await layer.group_send(location_group(location_id), message)


async def publish_to_client(*, client_id: int, event: dict) -> None:
    """Tell one driver's sockets, e.g. {"kind": "session", "session": 7, ...}."""
    message = {"type": "app.personal", "id": uuid.uuid4().hex, **event}
    async with _turns:
        await get_channel_layer().group_send(client_group(client_id), message)


def post_status(*, station_id: int, location_id: int | None, event: dict) -> None:
    """publish_status without waiting for it (the charger path: stations/live_delivery.py)."""
    delivery.post(
        f"station:{station_id}",
        lambda: publish_status(station_id=station_id, location_id=location_id, event=event),
    )


def post_to_client(*, client_id: int, event: dict) -> None:
    """publish_to_client without waiting for it (the charger path)."""
    delivery.post(
        f"client:{client_id}", lambda: publish_to_client(client_id=client_id, event=event)
    )


def publish_to_client_after_commit(*, client_id: int, event: dict) -> None:
    """From synchronous code (views, tasks, admin): send once the transaction commits;
    a failure to tell the app is logged, never raised (the state is in the database)."""
    from asgiref.sync import async_to_sync
    from django.db import transaction

    def send() -> None:
        message = {"type": "app.personal", "id": uuid.uuid4().hex, **event}
        try:
            async_to_sync(get_channel_layer().group_send)(client_group(client_id), message)
        except Exception:
            logging.getLogger("stations").exception("could not tell client %s", client_id)

    transaction.on_commit(send)
