"""The cockpit's realtime socket: /ws/staff/, for the admin's live pages (the live station
view, the map), authenticated by the admin's session cookie (cockpit/socket_auth.py).

    → {"action": "subscribe", "stations": [12], "locations": [3]}
    ← {"type": "subscribed", "stations": [12], "locations": [3],
       "refused": {"stations": [], "locations": []}}
    ← {"type": "snapshot", "stations": [{"station": 12, "location": 3, "online": true,
       "status": "Available", "maintenance": false,
       "connectors": [{"connector": 1, "status": "Available", "error_code": "NoError"}]}]}
    ← {"type": "status", "station": 12, "location": 3, "kind": "connector",
       "connector": 1, "status": "Charging", "error_code": "NoError"}
    ← {"type": "status", "station": 12, "location": 3, "kind": "online", "online": false}

The events are the ones the drivers' socket gets (`stations.live.publish_status`); a staff
member may watch only stations and locations they may see (owner scoping): other ids are
answered in `refused` and never joined. The snapshot after each subscribe closes the gap
between the page's render and the subscription (and fills the page again after a
reconnect).

Refusals are close codes after the handshake, so the page can tell them apart from a
network failure: 4401 not logged in (or no second factor, or the session ended meanwhile),
4403 not allowed (another site's page, not staff, no permission to view stations). The
login is read again at most every REVALIDATE_SECONDS while the socket lives.
"""

from __future__ import annotations

import time
from collections import deque

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from cockpit.selectors import station_states, visible_ids
from cockpit.socket_auth import (
    CLOSE_FORBIDDEN,
    handshake_headers,
    origin_allowed,
    session_key,
    staff_verdict,
)
from evpower.channels_dispatch import ShutdownSafeCall
from evpower.correlation import set_correlation_id, socket_correlation_id
from stations.live import location_group, station_group

# the map of a large network watches every location; each is one group membership
MAX_SUBSCRIPTIONS = 2000
REVALIDATE_SECONDS = 60.0


@database_sync_to_async
def _verdict(key: str):
    return staff_verdict(key)


@database_sync_to_async
def _visible(user, stations: list[int], locations: list[int]):
    return visible_ids(user, stations=stations, locations=locations)


@database_sync_to_async
def _snapshot(user, stations: list[int], locations: list[int]) -> list[dict]:
    return [
        state.as_event() for state in station_states(user, stations=stations, locations=locations)
    ]


def _ids(value) -> list[int]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise TypeError("a list of ids")
    return sorted({int(x) for x in value})


class StaffConsumer(ShutdownSafeCall, AsyncJsonWebsocketConsumer):
    user = None

    async def connect(self) -> None:
        set_correlation_id(socket_correlation_id("staff"))
        self.groups_joined: set[str] = set()
        self.watching: tuple[set[int], set[int]] = (set(), set())  # stations, locations
        self.recent_events: deque[str] = deque(maxlen=256)
        headers = handshake_headers(self.scope)
        await self.accept()  # refusals below are close codes the page can read
        if not origin_allowed(headers):
            await self.close(code=CLOSE_FORBIDDEN, reason="cross-site socket refused")
            return
        self.session_key = session_key(headers)
        await self._check_login()

    async def _check_login(self) -> bool:
        """Read the login afresh; on failure close the socket. Returns whether it holds."""
        verdict = await _verdict(self.session_key)
        self.checked_at = time.monotonic()
        if verdict.user is None:
            self.user = None
            await self.close(code=verdict.close_code, reason=verdict.reason)
            return False
        self.user = verdict.user
        return True

    async def _still_allowed(self) -> bool:
        if self.user is None:
            return False
        if time.monotonic() - self.checked_at < REVALIDATE_SECONDS:
            return True
        if not await self._check_login():
            return False
        # the same user may see less now (a location given to another owner)
        stations, locations = self.watching
        if stations or locations:
            kept = await _visible(self.user, sorted(stations), sorted(locations))
            await self._leave(stations - set(kept[0]), locations - set(kept[1]))
        return True

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        if not await self._still_allowed():
            return
        try:
            await super().receive(text_data=text_data, bytes_data=bytes_data, **kwargs)
        except (ValueError, TypeError):
            await self.send_json({"type": "error", "code": "MALFORMED_REQUEST", "details": {}})

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
            stations, locations = _ids(content.get("stations")), _ids(content.get("locations"))
        except (TypeError, ValueError):
            await self.send_json(
                {
                    "type": "error",
                    "code": "VALIDATION_ERROR",
                    "details": {"locations/stations": "lists of ids"},
                }
            )
            return
        if action == "unsubscribe":
            await self._leave(set(stations), set(locations))
            await self.send_json(
                {"type": "unsubscribed", "stations": stations, "locations": locations}
            )
            return
        await self._subscribe(stations, locations)

    async def _subscribe(self, stations: list[int], locations: list[int]) -> None:
        wanted = len(self.watching[0] | set(stations)) + len(self.watching[1] | set(locations))
        if wanted > MAX_SUBSCRIPTIONS:
            await self.send_json(
                {
                    "type": "error",
                    "code": "TOO_MANY_SUBSCRIPTIONS",
                    "details": {"max": MAX_SUBSCRIPTIONS},
                }
            )
            return
        allowed_stations, allowed_locations = await _visible(self.user, stations, locations)
        groups = {station_group(x) for x in allowed_stations} | {
            location_group(x) for x in allowed_locations
        }
        for group in groups - self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        self.groups_joined |= groups
        self.watching[0].update(allowed_stations)
        self.watching[1].update(allowed_locations)
        await self.send_json(
            {
                "type": "subscribed",
                "stations": allowed_stations,
                "locations": allowed_locations,
                "refused": {
                    "stations": sorted(set(stations) - set(allowed_stations)),
                    "locations": sorted(set(locations) - set(allowed_locations)),
                },
            }
        )
        if groups:  # joined first, read second: a change in between arrives as an event
            await self.send_json(
                {
                    "type": "snapshot",
                    "stations": await _snapshot(self.user, allowed_stations, allowed_locations),
                }
            )

    async def _leave(self, stations: set[int], locations: set[int]) -> None:
        groups = {station_group(x) for x in stations} | {location_group(x) for x in locations}
        for group in groups & self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.groups_joined -= groups
        self.watching[0].difference_update(stations)
        self.watching[1].difference_update(locations)

    async def app_status(self, event: dict) -> None:
        if event["id"] in self.recent_events:
            return  # already delivered through the other group this socket is in
        self.recent_events.append(event["id"])
        if not await self._still_allowed():
            return
        if not (
            event.get("station") in self.watching[0] or event.get("location") in self.watching[1]
        ):
            return  # left meanwhile (the group's message was already on its way)
        await self.send_json(
            {**{k: v for k, v in event.items() if k not in ("type", "id")}, "type": "status"}
        )

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups_joined", ()):
            await self.channel_layer.group_discard(group, self.channel_name)
