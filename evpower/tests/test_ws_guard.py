"""The WebSocket front door (evpower/ws_guard.py) and the drain on shutdown (evpower/serve.py),
against a real server process and real WebSocket chargers."""

from __future__ import annotations

import asyncio
import signal
import time
import urllib.request
import uuid

import pytest
import websockets

from evpower.tests.support.processes import ServerProcess
from ocpp_bridge.tests.charger import basic, connect, handshake_status
from stations.models import Station

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
METRICS_TOKEN = "ws-guard-test-metrics-token-0123456789"  # noqa: S105 - test credential


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


@pytest.fixture
def server_with(request):
    servers: list[ServerProcess] = []

    def start(**env: str) -> ServerProcess:
        # a key prefix of its own: attempts counted in Redis by earlier tests don't count here
        server = ServerProcess({"THROTTLE_KEY_PREFIX": f"t-{uuid.uuid4().hex}", **env})
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def test_sockets_over_the_per_address_limit_are_refused_with_429(server_with, booted_station):
    for identity in ("CP-L1", "CP-L2", "CP-L3"):
        booted_station(identity)
    server = server_with(WS_MAX_CONNECTIONS_PER_IP="2")

    async def scenario():
        async with (
            connect(server.ws_url("CP-L1"), "CP-L1"),
            connect(server.ws_url("CP-L2"), "CP-L2"),
        ):
            third = await handshake_status(server.ws_url("CP-L3"), headers={})
        # both have gone: there is room again once the server has seen them close
        deadline = time.monotonic() + 5
        while await handshake_status(server.ws_url("CP-L3"), basic("CP-L3")) != 101:
            assert time.monotonic() < deadline, "the closed sockets were never released"
            await asyncio.sleep(0.1)
        return third

    assert run(scenario()) == 429


def test_connection_attempts_over_the_rate_are_refused_before_any_lookup(server_with):
    server = server_with(WS_CONNECT_RATE_PER_IP="3/minute", METRICS_TOKEN=METRICS_TOKEN)

    async def attempts():
        statuses = []
        for _ in range(4):
            # unknown identities: 404 while under the rate; the limit comes first
            statuses.append(await handshake_status(server.ws_url("NOBODY-1"), headers={}))
        try:
            async with websockets.connect(server.ws_url("NOBODY-1"), open_timeout=10):
                pass
        except websockets.InvalidStatus as exc:
            return statuses, exc.response
        raise AssertionError("the attempt over the rate was let in")

    statuses, refused = run(attempts())
    assert statuses == [404, 404, 404, 429]
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # and the operators see it
    scrape = urllib.request.Request(
        f"http://127.0.0.1:{server.port}/metrics",
        headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
    )
    with urllib.request.urlopen(scrape, timeout=10) as answer:  # noqa: S310 - local server
        metrics = answer.read().decode()
    assert 'evpower_rate_limit_rejections_total{scope="ws_attempts"} 2.0' in metrics


def test_sigterm_closes_chargers_with_going_away_and_records_the_disconnect(
    server_with, booted_station
):
    booted_station("CP-DRAIN")
    server = server_with()

    async def charger():
        async with connect(server.ws_url("CP-DRAIN"), "CP-DRAIN") as ws:
            deadline = time.monotonic() + 10
            while not await asyncio.to_thread(_connected, "CP-DRAIN"):
                assert time.monotonic() < deadline, "the station never showed as connected"
                await asyncio.sleep(0.05)
            server.proc.send_signal(signal.SIGTERM)
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 30)
            return closed.value.rcvd

    close = run(charger())
    # 1001 "going away" from the drain (stock uvicorn would fail the socket with 1012)
    assert close is not None and close.code == 1001
    # the consumer recorded the disconnect before the process went away
    # uvicorn re-raises the signal it handled once it is done: a clean exit reads -SIGTERM
    assert server.proc.wait(10) in (0, -signal.SIGTERM)
    station = Station.objects.get(identity="CP-DRAIN")
    assert station.connected is False and station.connection_channel == ""


def _connected(identity: str) -> bool:
    return Station.objects.filter(identity=identity, connected=True).exists()
