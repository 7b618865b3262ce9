"""The apps' realtime socket end to end: a driver watching a station sees its charger's
status changes as they happen, over a real server process."""

import asyncio
import json

import pytest
import websockets

from accounts.models import Client
from accounts.tokens import session_start
from ocpp_bridge.tests.charger import connect, handshake_status, rpc

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def app_url(server, token=""):
    return f"ws://127.0.0.1:{server.port}/ws/app/" + (f"?token={token}" if token else "")


async def next_event(ws, kind="status"):
    while True:
        event = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if event["type"] == kind:
            return event


def test_driver_sees_connector_status_and_online_changes(ocpp_server, booted_station):
    station = booted_station("CP-LIVE")
    token = session_start(client=Client.objects.create(phone="+996700000001")).access

    async def scenario():
        async with websockets.connect(app_url(ocpp_server, token)) as app:
            await app.send(json.dumps({"action": "subscribe", "stations": [station.pk],
                                       "locations": [station.location_id]}))
            subscribed = await next_event(app, "subscribed")
            async with connect(ocpp_server.ws_url("CP-LIVE"), "CP-LIVE") as charger:
                online = await next_event(app)
                await rpc(charger, [2, "s", "StatusNotification", {
                    "connectorId": 1, "errorCode": "NoError", "status": "Charging"}])
                status = await next_event(app)
            offline = await next_event(app)
            return subscribed, online, status, offline

    subscribed, online, status, offline = asyncio.run(scenario())
    assert subscribed["stations"] == [station.pk]
    assert (online["kind"], online["online"]) == ("online", True)
    assert (status["connector"], status["status"], status["station"]) == (1, "Charging",
                                                                          station.pk)
    assert status["location"] == station.location_id
    assert (offline["kind"], offline["online"]) == ("online", False)


def test_app_socket_without_a_valid_token_is_refused(ocpp_server, db):
    assert asyncio.run(handshake_status(app_url(ocpp_server), subprotocols=())) == 401
    assert asyncio.run(handshake_status(app_url(ocpp_server, "not-a-token"),
                                        subprotocols=())) == 401


def test_bad_messages_get_an_error_and_the_socket_stays(ocpp_server, db):
    token = session_start(client=Client.objects.create(phone="+996700000002")).access

    async def scenario():
        async with websockets.connect(app_url(ocpp_server, token)) as app:
            await app.send("{nope")
            first = await next_event(app, "error")
            await app.send(json.dumps({"action": "dance"}))
            second = await next_event(app, "error")
            await app.send(json.dumps({"action": "subscribe", "stations": [999999]}))
            third = await next_event(app, "subscribed")
        return first, second, third

    first, second, third = asyncio.run(scenario())
    assert first["code"] == "MALFORMED_REQUEST" and second["code"] == "VALIDATION_ERROR"
    assert third["stations"] == []  # unknown ids are simply not watched
