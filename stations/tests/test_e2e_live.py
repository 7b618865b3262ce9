"""The apps' realtime socket end to end: a driver watching a station sees its charger's
status changes as they happen, over a real server process."""

import asyncio
import json

import pytest
import websockets

from accounts.models import LoginSession
from accounts.services import client_block
from accounts.tests.factories import ClientFactory
from accounts.tokens import session_start
from evpower.tests.support.processes import ServerProcess
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
    token = session_start(client=ClientFactory(phone="+996700000001")).access

    async def scenario():
        async with websockets.connect(app_url(ocpp_server, token)) as app:
            await app.send(
                json.dumps(
                    {
                        "action": "subscribe",
                        "stations": [station.pk],
                        "locations": [station.location_id],
                    }
                )
            )
            subscribed = await next_event(app, "subscribed")
            async with connect(ocpp_server.ws_url("CP-LIVE"), "CP-LIVE") as charger:
                online = await next_event(app)
                await rpc(
                    charger,
                    [
                        2,
                        "s",
                        "StatusNotification",
                        {"connectorId": 1, "errorCode": "NoError", "status": "Charging"},
                    ],
                )
                status = await next_event(app)
            offline = await next_event(app)
            return subscribed, online, status, offline

    subscribed, online, status, offline = asyncio.run(scenario())
    assert subscribed["stations"] == [station.pk]
    assert (online["kind"], online["online"]) == ("online", True)
    assert (status["connector"], status["status"], status["station"]) == (1, "Charging", station.pk)
    assert status["location"] == station.location_id
    assert (offline["kind"], offline["online"]) == ("online", False)


def test_app_socket_without_a_valid_token_is_refused(ocpp_server, db):
    assert asyncio.run(handshake_status(app_url(ocpp_server), subprotocols=())) == 401
    assert (
        asyncio.run(handshake_status(app_url(ocpp_server, "not-a-token"), subprotocols=())) == 401
    )


def test_bad_messages_get_an_error_and_the_socket_stays(ocpp_server, db):
    token = session_start(client=ClientFactory(phone="+996700000002")).access

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


def closing_db(fn, *args, **kwargs):
    """Run on a worker thread (asyncio.to_thread): its database connection is closed
    after, or the test database could not be dropped."""
    from django.db import connections

    try:
        return fn(*args, **kwargs)
    finally:
        connections.close_all()


async def closed_with(ws) -> int:
    await asyncio.wait_for(ws.wait_closed(), 30)
    return ws.close_code


def test_a_logout_or_a_block_closes_the_drivers_open_sockets(ocpp_server, db):
    from rest_framework.test import APIClient

    client = ClientFactory(phone="+996700000031")
    phone, laptop = session_start(client=client), session_start(client=client)

    async def scenario():
        async with (
            websockets.connect(app_url(ocpp_server, phone.access)) as on_phone,
            websockets.connect(app_url(ocpp_server, laptop.access)) as on_laptop,
        ):
            for ws in (on_phone, on_laptop):  # both sockets are in (and in their groups)
                await ws.send(json.dumps({"action": "subscribe", "stations": []}))
                await next_event(ws, "subscribed")
            api = APIClient()
            api.credentials(HTTP_AUTHORIZATION=f"Bearer {phone.access}")
            response = await asyncio.to_thread(closing_db, api.post, "/api/v1/auth/logout")
            logged_out = await closed_with(on_phone)
            await on_laptop.send(json.dumps({"action": "subscribe", "stations": []}))
            laptop_still = await next_event(on_laptop, "subscribed")
            await asyncio.to_thread(
                closing_db, client_block, client_id=client.pk, reason="fraud", by="support"
            )
            blocked = await closed_with(on_laptop)
            return response.status_code, logged_out, laptop_still, blocked

    status, logged_out, laptop_still, blocked = asyncio.run(scenario())
    assert status == 204 and logged_out == 4401  # only this login's socket
    assert laptop_still["type"] == "subscribed"
    assert blocked == 4401


def test_a_socket_whose_login_was_revoked_unseen_closes_at_its_recheck(db):
    from django.utils import timezone

    server = ServerProcess({"APP_SOCKET_RECHECK_SECONDS": "0.2"})
    client = ClientFactory(phone="+996700000032")
    tokens = session_start(client=client)

    async def scenario():
        async with websockets.connect(app_url(server, tokens.access)) as ws:
            await ws.send(json.dumps({"action": "subscribe", "stations": []}))
            await next_event(ws, "subscribed")
            # revoked behind the services' back: no message reaches the socket
            await asyncio.to_thread(
                closing_db,
                lambda: LoginSession.objects.filter(client=client).update(
                    revoked_at=timezone.now()
                ),
            )
            return await closed_with(ws)

    try:
        assert asyncio.run(scenario()) == 4401
    finally:
        server.stop()


def test_with_tls_required_the_app_socket_refuses_plain_http_and_takes_the_proxys_https(db):
    """Production's rule (APP_SOCKET_REQUIRE_TLS): the token in the query string travels
    only over TLS; behind the proxy, its X-Forwarded-Proto says so."""
    server = ServerProcess({"APP_SOCKET_REQUIRE_TLS": "true", "FORWARDED_ALLOW_IPS": "127.0.0.1"})
    token = session_start(client=ClientFactory(phone="+996700000041")).access
    try:
        plain = asyncio.run(handshake_status(app_url(server, token), subprotocols=()))
        proxied = asyncio.run(
            handshake_status(
                app_url(server, token), headers={"X-Forwarded-Proto": "https"}, subprotocols=()
            )
        )
    finally:
        server.stop()
    assert (plain, proxied) == (403, 101)
