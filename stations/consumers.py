"""The drivers' realtime socket: /ws/app/, authenticated by the access token.

    → {"action": "subscribe", "locations": [3], "stations": [12]}
    ← {"type": "subscribed", "locations": [3], "stations": [12]}
    ← {"type": "status", "station": 12, "location": 3, "kind": "connector",
       "connector": 1, "status": "Charging", "error_code": "NoError"}
    ← {"type": "status", "station": 12, "location": 3, "kind": "online", "online": false}
    ← {"type": "session", "kind": "session", "session": 7, "status": "charging",
       "energy_wh": 5200, "power_w": 22000, "cost": "62.40", ...}   (own sessions, unasked)

Token: `Authorization: Bearer <access>` or `?token=<access>` (browsers can't set headers
on a WebSocket). A bad token is refused with 401 before the upgrade. The socket lives as
long as its login: a logout, a block or a deletion request closes it with 4401 at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from accounts.tokens import (
    client_from_access_token,  # the accounts app owns tokens
    login_group,
    login_usable,
)
from evpower.channels_dispatch import ShutdownSafeCall
from evpower.correlation import set_correlation_id, socket_correlation_id
from evpower.ws_deny import deny_handshake
from stations.station_models import Location, Station

from .live import client_group, location_group, station_group

MAX_SUBSCRIPTIONS = 100
CLOSE_BAD_MESSAGE = 4400
CLOSE_LOGGED_OUT = 4401  # the app logs in again (logout, block, deletion request)
log = logging.getLogger("stations")


def _token(scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"authorization" and value.lower().startswith(b"bearer "):
            return value[7:].decode("latin-1").strip()
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    return (query.get("token") or [""])[0]


@database_sync_to_async
def _client_for(token: str):

    return client_from_access_token(token) if token else None


@database_sync_to_async
def _login_usable(login_id) -> bool:

    return login_usable(login_id)


def _login_group(login_id) -> str:

    return login_group(login_id)


@database_sync_to_async
def _existing(locations: list[int], stations: list[int]) -> tuple[list[int], list[int]]:
    return (
        sorted(Location.objects.filter(pk__in=locations).values_list("pk", flat=True)),
        sorted(Station.objects.filter(pk__in=stations).values_list("pk", flat=True)),
    )


class AppConsumer(ShutdownSafeCall, AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        set_correlation_id(socket_correlation_id("app"))  # this socket's log lines
        if settings.APP_SOCKET_REQUIRE_TLS and self.scope.get("scheme") != "wss":
            # the token rides in the query string: over plain HTTP anyone on the path reads it
            await self._deny(
                403, "the app socket takes its token over TLS only (wss://)", "TLS_REQUIRED"
            )
            return
        found = await _client_for(_token(self.scope))
        if found is None:
            await self._deny(401, "a valid access token is required")
            return
        self.client, self.login_id = found
        self.groups_joined: set[str] = set()
        self.recent_events: deque[str] = deque(maxlen=64)
        # the driver's own news (their sessions' progress) comes without subscribing
        self.personal_group = client_group(self.client.pk)
        await self.channel_layer.group_add(self.personal_group, self.channel_name)
        # a logout, a block or a deletion request closes this socket at once (the login's
        # group), and a re-check every APP_SOCKET_RECHECK_SECONDS catches a missed message
        self.login_group = _login_group(self.login_id)
        await self.channel_layer.group_add(self.login_group, self.channel_name)
        await self.accept()
        self.recheck = asyncio.get_running_loop().create_task(self._recheck_login())

    async def _recheck_login(self) -> None:
        while True:
            await asyncio.sleep(settings.APP_SOCKET_RECHECK_SECONDS)
            try:
                usable = await _login_usable(self.login_id)
            except Exception:  # the database is away: keep the socket, ask again later
                log.warning("app socket: could not re-check login %s", self.login_id)
                continue
            if not usable:
                await self._close_revoked("login no longer valid")
                return

    async def app_revoked(self, event: dict) -> None:
        await self._close_revoked(event.get("reason", "revoked"))

    async def _close_revoked(self, reason: str) -> None:
        await self.close(code=CLOSE_LOGGED_OUT, reason=f"log in again ({reason})"[:120])

    async def _deny(self, status: int, reason: str, code: str = "UNAUTHENTICATED") -> None:
        await deny_handshake(
            self, status, {"error": {"code": code, "message": reason, "details": {}}}
        )

    async def receive_json(self, content, **kwargs) -> None:
        action = content.get("action") if isinstance(content, dict) else None
        if action not in ("subscribe", "unsubscribe"):
            await self.send_json(
                {
                    "type": "error",
                    "code": "VALIDATION_ERROR",
                    "details": {"action": "subscribe or unsubscribe"},
                }
            )
            return
        try:
            locations = [int(x) for x in content.get("locations", [])]
            stations = [int(x) for x in content.get("stations", [])]
        except (TypeError, ValueError):
            await self.send_json(
                {
                    "type": "error",
                    "code": "VALIDATION_ERROR",
                    "details": {"locations/stations": "lists of ids"},
                }
            )
            return
        locations, stations = await _existing(locations, stations)
        groups = {location_group(x) for x in locations} | {station_group(x) for x in stations}
        if action == "subscribe":
            if len(self.groups_joined | groups) > MAX_SUBSCRIPTIONS:
                await self.send_json(
                    {
                        "type": "error",
                        "code": "TOO_MANY_SUBSCRIPTIONS",
                        "details": {"max": MAX_SUBSCRIPTIONS},
                    }
                )
                return
            for group in groups - self.groups_joined:
                await self.channel_layer.group_add(group, self.channel_name)
            self.groups_joined |= groups
        else:
            for group in groups & self.groups_joined:
                await self.channel_layer.group_discard(group, self.channel_name)
            self.groups_joined -= groups
        await self.send_json({"type": f"{action}d", "locations": locations, "stations": stations})

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        try:
            await super().receive(text_data=text_data, bytes_data=bytes_data, **kwargs)
        except (ValueError, TypeError):
            await self.send_json({"type": "error", "code": "MALFORMED_REQUEST", "details": {}})

    async def app_status(self, event: dict) -> None:
        if event["id"] in self.recent_events:
            return  # already delivered through the other group this socket is in
        self.recent_events.append(event["id"])
        await self.send_json(
            {**{k: v for k, v in event.items() if k not in ("type", "id")}, "type": "status"}
        )

    async def app_personal(self, event: dict) -> None:
        await self.send_json(
            {
                **{k: v for k, v in event.items() if k not in ("type", "id")},
                "type": event.get("kind", "personal"),
            }
        )

    async def disconnect(self, code: int) -> None:
        if getattr(self, "recheck", None) is not None:
            self.recheck.cancel()
        if getattr(self, "login_group", None):
            await self.channel_layer.group_discard(self.login_group, self.channel_name)
        if getattr(self, "personal_group", None):
            await self.channel_layer.group_discard(self.personal_group, self.channel_name)
        for group in getattr(self, "groups_joined", ()):
            await self.channel_layer.group_discard(group, self.channel_name)
