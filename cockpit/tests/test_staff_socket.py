"""The cockpit's staff socket (/ws/staff/, cockpit/consumers.py): who may open it,
what they may watch, and that charger status changes reach it — unit cases through the
real routing with channels' WebsocketCommunicator, and end to end over a real server with
a real admin login and a real charger."""

from __future__ import annotations

import asyncio
import itertools
import json
import re

import httpx
import pytest
import websockets
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.sessions.models import Session
from django.db import connections
from django.test import Client as HttpClient
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.roles import FINANCE, OPERATOR, OWNER, roles_sync
from cockpit import consumers as staff_consumers
from evpower.routing import websocket_application
from ocpp_bridge.tests.charger import connect, rpc
from stations.live import publish_status
from stations.models import Connector, Location, Station
from stations.services import station_create

pytestmark = pytest.mark.django_db(transaction=True)

_names = itertools.count()
PASSWORD = "a-long-staff-password-0001"  # noqa: S105 - test credential


@pytest.fixture(autouse=True)
def roles():
    roles_sync()


@pytest.fixture
def memory_layer(settings):
    """Unit cases: the socket and the publisher share one in-process channel layer."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    yield
    # the consumer's reads ran on channels' database thread: its connection must not
    # outlive the test (it would keep the test database from being dropped)
    asyncio.run(database_sync_to_async(connections.close_all)())


def staff(role: str | None, *, is_staff: bool = True):
    user = get_user_model().objects.create_user(
        f"{role or 'plain'}{next(_names)}", password=PASSWORD, is_staff=is_staff
    )
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


def session_of(user, **extra) -> str:
    """A real admin session (Django's login), as the browser's cookie holds it."""
    http = HttpClient()
    http.force_login(user)
    if extra:
        session = http.session
        session.update(extra)
        session.save()
    return http.cookies[django_settings.SESSION_COOKIE_NAME].value


def owned_station(identity: str, owner=None) -> Station:
    station = station_create(
        identity=identity, location_name=f"site {identity}", connectors=2
    ).station
    Location.objects.filter(pk=station.location_id).update(owner=owner)
    return station


def socket(key: str = "", origin: str | None = "http://testserver", host: str = "testserver"):
    headers = [(b"host", host.encode())]
    if origin:
        headers.append((b"origin", origin.encode()))
    if key:
        headers.append((b"cookie", f"{django_settings.SESSION_COOKIE_NAME}={key}".encode()))
    return WebsocketCommunicator(websocket_application, "/ws/staff/", headers=headers)


async def close_code(communicator) -> int:
    connected, _ = await communicator.connect()
    assert connected  # refusals come as close codes the page can read
    message = await communicator.receive_output(timeout=30)
    assert message["type"] == "websocket.close"
    return message["code"]


def refused_with(key: str = "", **kwargs) -> int:
    async def scenario():
        return await close_code(socket(key, **kwargs))

    return asyncio.run(scenario())


def charging(station: Station, connector: int = 1) -> dict:
    return {
        "kind": "connector",
        "connector": connector,
        "status": "Charging",
        "error_code": "NoError",
    }


# --- who may open it ------------------------------------------------------------------------


def test_without_a_session_the_socket_is_refused_as_unauthenticated(memory_layer):
    assert refused_with("") == 4401
    assert refused_with("not-a-session-key") == 4401


def test_a_logged_in_user_who_is_not_staff_is_refused(memory_layer):
    assert refused_with(session_of(staff(None, is_staff=False))) == 4403


def test_staff_without_permission_to_view_stations_is_refused(memory_layer):
    assert refused_with(session_of(staff(None))) == 4403


def test_another_sites_page_cannot_open_the_socket_with_the_staff_cookie(memory_layer):
    key = session_of(staff(OPERATOR))
    assert refused_with(key, origin="https://evil.example") == 4403
    assert refused_with(key, origin=None) == 4403
    assert refused_with(key, origin="http://testserver.evil.example") == 4403


def test_a_trusted_origin_may_differ_from_the_host(memory_layer, settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://admin.example"]
    key = session_of(staff(OPERATOR))

    async def scenario():
        communicator = socket(key, origin="https://admin.example", host="internal:8000")
        connected, _ = await communicator.connect()
        await communicator.send_json_to({"action": "subscribe", "stations": []})
        answer = await communicator.receive_json_from(timeout=30)
        await communicator.disconnect()
        return connected, answer

    connected, answer = asyncio.run(scenario())
    assert connected and answer["type"] == "subscribed"


def test_with_2fa_required_only_a_session_verified_by_the_users_device_gets_in(
    memory_layer, settings
):
    settings.ADMIN_REQUIRE_2FA = True
    user, other = staff(OPERATOR), staff(OPERATOR)
    mine = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    theirs = TOTPDevice.objects.create(user=other, name="phone", confirmed=True)
    unconfirmed = TOTPDevice.objects.create(user=user, name="new phone", confirmed=False)

    assert refused_with(session_of(user)) == 4401
    assert refused_with(session_of(user, **{DEVICE_ID_SESSION_KEY: theirs.persistent_id})) == 4401
    assert (
        refused_with(session_of(user, **{DEVICE_ID_SESSION_KEY: unconfirmed.persistent_id})) == 4401
    )

    async def scenario(key):
        communicator = socket(key)
        connected, _ = await communicator.connect()
        await communicator.send_json_to({"action": "subscribe", "stations": []})
        answer = await communicator.receive_json_from(timeout=30)
        await communicator.disconnect()
        return connected, answer["type"]

    verified = session_of(user, **{DEVICE_ID_SESSION_KEY: mine.persistent_id})
    assert asyncio.run(scenario(verified)) == (True, "subscribed")


# --- what they may watch ------------------------------------------------------------------


def test_events_of_a_subscribed_station_are_forwarded_once(memory_layer):
    # given an operator watching a station both directly and through its location
    station = owned_station("CP-SOCK-1")
    key = session_of(staff(OPERATOR))

    async def scenario():
        communicator = socket(key)
        await communicator.connect()
        await communicator.send_json_to(
            {"action": "subscribe", "stations": [station.pk], "locations": [station.location_id]}
        )
        subscribed = await communicator.receive_json_from(timeout=30)
        snapshot = await communicator.receive_json_from(timeout=30)
        # when the charger reports a status
        await publish_status(
            station_id=station.pk, location_id=station.location_id, event=charging(station)
        )
        event = await communicator.receive_json_from(timeout=30)
        duplicate = await communicator.receive_nothing(timeout=0.3)
        await communicator.disconnect()
        return subscribed, snapshot, event, duplicate

    subscribed, snapshot, event, nothing_more = asyncio.run(scenario())
    # then
    assert subscribed == {
        "type": "subscribed",
        "stations": [station.pk],
        "locations": [station.location_id],
        "refused": {"stations": [], "locations": []},
    }
    assert [s["station"] for s in snapshot["stations"]] == [station.pk]
    assert snapshot["stations"][0]["connectors"] == [
        {"connector": 1, "status": "Unknown", "error_code": "NoError"},
        {"connector": 2, "status": "Unknown", "error_code": "NoError"},
    ]
    assert event == {
        "type": "status",
        "station": station.pk,
        "location": station.location_id,
        "kind": "connector",
        "connector": 1,
        "status": "Charging",
        "error_code": "NoError",
    }
    assert nothing_more  # the same change through both groups is shown once


def test_the_snapshot_tells_the_current_statuses(memory_layer):
    station = owned_station("CP-SOCK-SNAP")
    Connector.objects.filter(station=station, number=2).update(
        status="Faulted", error_code="GroundFailure"
    )
    key = session_of(staff(FINANCE))  # may view stations, send nothing

    async def scenario():
        communicator = socket(key)
        await communicator.connect()
        await communicator.send_json_to({"action": "subscribe", "stations": [station.pk]})
        await communicator.receive_json_from(timeout=30)
        snapshot = await communicator.receive_json_from(timeout=30)
        await communicator.disconnect()
        return snapshot

    (state,) = asyncio.run(scenario())["stations"]
    assert state["online"] is False
    assert state["connectors"][1] == {
        "connector": 2,
        "status": "Faulted",
        "error_code": "GroundFailure",
    }


def test_an_owner_cannot_watch_another_owners_station_or_location(memory_layer):
    # given two owners, each with a site
    owner, other = staff(OWNER), staff(OWNER)
    mine, theirs = owned_station("CP-MINE", owner), owned_station("CP-THEIRS", other)
    key = session_of(owner)

    async def scenario():
        communicator = socket(key)
        await communicator.connect()
        # when the owner asks for both
        await communicator.send_json_to(
            {
                "action": "subscribe",
                "stations": [mine.pk, theirs.pk],
                "locations": [mine.location_id, theirs.location_id],
            }
        )
        subscribed = await communicator.receive_json_from(timeout=30)
        snapshot = await communicator.receive_json_from(timeout=30)
        await publish_status(
            station_id=theirs.pk, location_id=theirs.location_id, event=charging(theirs)
        )
        leaked = await communicator.receive_nothing(timeout=0.3)
        await publish_status(station_id=mine.pk, location_id=mine.location_id, event=charging(mine))
        own = await communicator.receive_json_from(timeout=30)
        await communicator.disconnect()
        return subscribed, snapshot, leaked, own

    subscribed, snapshot, nothing_leaked, own = asyncio.run(scenario())
    # then only their own is watched
    assert (subscribed["stations"], subscribed["locations"]) == ([mine.pk], [mine.location_id])
    assert subscribed["refused"] == {"stations": [theirs.pk], "locations": [theirs.location_id]}
    assert [s["station"] for s in snapshot["stations"]] == [mine.pk]
    assert nothing_leaked
    assert own["station"] == mine.pk


def test_unsubscribed_stations_are_no_longer_forwarded(memory_layer):
    station = owned_station("CP-SOCK-UNSUB")
    key = session_of(staff(OPERATOR))

    async def scenario():
        communicator = socket(key)
        await communicator.connect()
        await communicator.send_json_to({"action": "subscribe", "stations": [station.pk]})
        await communicator.receive_json_from(timeout=30)
        await communicator.receive_json_from(timeout=30)
        await communicator.send_json_to({"action": "unsubscribe", "stations": [station.pk]})
        unsubscribed = await communicator.receive_json_from(timeout=30)
        await publish_status(
            station_id=station.pk, location_id=station.location_id, event=charging(station)
        )
        silent = await communicator.receive_nothing(timeout=0.3)
        await communicator.disconnect()
        return unsubscribed, silent

    unsubscribed, silent = asyncio.run(scenario())
    assert unsubscribed["type"] == "unsubscribed" and silent


def test_bad_messages_get_an_error_and_the_socket_stays(memory_layer):
    key = session_of(staff(OPERATOR))

    async def scenario():
        communicator = socket(key)
        await communicator.connect()
        answers = []
        for frame in (
            "{nope",
            json.dumps({"action": "dance"}),
            json.dumps({"action": "subscribe", "stations": "12"}),
        ):
            await communicator.send_to(text_data=frame)
            answers.append((await communicator.receive_json_from(timeout=30))["code"])
        await communicator.disconnect()
        return answers

    assert asyncio.run(scenario()) == ["MALFORMED_REQUEST", "VALIDATION_ERROR", "VALIDATION_ERROR"]


def test_a_socket_whose_session_ended_is_closed_at_the_next_event(memory_layer, monkeypatch):
    # given a watching operator, and the login read again on every event
    monkeypatch.setattr(staff_consumers, "REVALIDATE_SECONDS", 0.0)
    station = owned_station("CP-SOCK-LOGOUT")
    key = session_of(staff(OPERATOR))

    async def scenario():
        communicator = socket(key)
        await communicator.connect()
        await communicator.send_json_to({"action": "subscribe", "stations": [station.pk]})
        await communicator.receive_json_from(timeout=30)
        await communicator.receive_json_from(timeout=30)
        # when the staff member logs out (the session is gone)
        await database_sync_to_async(Session.objects.filter(session_key=key).delete)()
        await publish_status(
            station_id=station.pk, location_id=station.location_id, event=charging(station)
        )
        return await communicator.receive_output(timeout=30)

    # then the event is not forwarded: the socket closes, asking for a new login
    closed = asyncio.run(scenario())
    assert (closed["type"], closed["code"]) == ("websocket.close", 4401)


def test_a_location_given_to_another_owner_stops_being_forwarded(memory_layer, monkeypatch):
    # given an owner watching their site, and the login read again on every event
    monkeypatch.setattr(staff_consumers, "REVALIDATE_SECONDS", 0.0)
    owner, successor = staff(OWNER), staff(OWNER)
    station = owned_station("CP-SOCK-SOLD", owner)
    key = session_of(owner)

    async def scenario():
        communicator = socket(key)
        await communicator.connect()
        await communicator.send_json_to(
            {"action": "subscribe", "stations": [station.pk], "locations": [station.location_id]}
        )
        await communicator.receive_json_from(timeout=30)
        await communicator.receive_json_from(timeout=30)
        # when the site changes hands
        await database_sync_to_async(Location.objects.filter(pk=station.location_id).update)(
            owner=successor
        )
        await publish_status(
            station_id=station.pk, location_id=station.location_id, event=charging(station)
        )
        silent = await communicator.receive_nothing(timeout=0.3)
        await communicator.disconnect()
        return silent

    # then the former owner is told nothing more about it
    assert asyncio.run(scenario())


# --- end to end: real login, real server, real charger ----------------------------------------


def admin_login(base: str, username: str) -> str:
    """Log in through the real admin login page; returns the session cookie."""
    with httpx.Client(base_url=base, timeout=10) as http:
        page = http.get("/admin/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        answer = http.post(
            "/admin/login/?next=/admin/",
            data={
                "username": username,
                "password": PASSWORD,
                "csrfmiddlewaretoken": token,
                "next": "/admin/",
            },
        )
        assert answer.status_code == 302, answer.text[:500]
        return http.cookies[django_settings.SESSION_COOKIE_NAME]


@pytest.mark.e2e
def test_staff_socket_receives_a_chargers_status_change(ocpp_server, booted_station):
    # given an operator logged in to the admin, watching a station
    station = booted_station("CP-STAFF-E2E")
    user = staff(OPERATOR)
    base = f"http://127.0.0.1:{ocpp_server.port}"
    key = admin_login(base, user.username)
    url = f"ws://127.0.0.1:{ocpp_server.port}/ws/staff/"
    cookie = {"Cookie": f"{django_settings.SESSION_COOKIE_NAME}={key}"}

    async def next_of(ws, kind):
        while True:
            event = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if event["type"] == kind:
                return event

    async def scenario():
        async with websockets.connect(url, origin=base, additional_headers=cookie) as staff_ws:
            await staff_ws.send(json.dumps({"action": "subscribe", "stations": [station.pk]}))
            subscribed = await next_of(staff_ws, "subscribed")
            snapshot = await next_of(staff_ws, "snapshot")
            # when the charger connects and reports Charging on connector 1
            async with connect(ocpp_server.ws_url("CP-STAFF-E2E"), "CP-STAFF-E2E") as charger:
                online = await next_of(staff_ws, "status")
                await rpc(
                    charger,
                    [
                        2,
                        "s1",
                        "StatusNotification",
                        {"connectorId": 1, "errorCode": "NoError", "status": "Charging"},
                    ],
                )
                status = await next_of(staff_ws, "status")
            return subscribed, snapshot, online, status

    subscribed, snapshot, online, status = asyncio.run(scenario())
    # then the socket is told, as it happens
    assert subscribed["stations"] == [station.pk]
    assert snapshot["stations"][0]["online"] is False
    assert (online["kind"], online["online"]) == ("online", True)
    assert (status["station"], status["kind"], status["connector"], status["status"]) == (
        station.pk,
        "connector",
        1,
        "Charging",
    )


@pytest.mark.e2e
def test_real_server_refuses_a_cross_site_socket_and_a_missing_login(ocpp_server, db):
    user = staff(OPERATOR)
    base = f"http://127.0.0.1:{ocpp_server.port}"
    key = admin_login(base, user.username)
    url = f"ws://127.0.0.1:{ocpp_server.port}/ws/staff/"

    async def code_of(origin, headers):
        async with websockets.connect(url, origin=origin, additional_headers=headers) as ws:
            try:
                await asyncio.wait_for(ws.recv(), 10)
            except websockets.ConnectionClosed as closed:
                return closed.rcvd.code
        return None

    cookie = {"Cookie": f"{django_settings.SESSION_COOKIE_NAME}={key}"}
    assert asyncio.run(code_of("https://evil.example", cookie)) == 4403
    assert asyncio.run(code_of(base, {})) == 4401
