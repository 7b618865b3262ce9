"""The server's WebSocket keepalive never kills a busy charger, and still closes a dead one
(evpower/ws_protocol.py, evpower/serve.py).

The server here pings every 0.2 s and waits 0.2 s for the pong: a flood paced at 50 frames
a second keeps the socket unread for seconds, 20 timeouts' worth. The flooding charger
answers every ping as soon as it reads it, as real clients do."""

from __future__ import annotations

import asyncio
import base64
import json
import socket

import pytest

from evpower.tests.support.processes import CHARGER_PASSWORD, ServerProcess
from ocpp_bridge.tests.charger import connect, rpc

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

FAST_KEEPALIVE = ("--ws-ping-interval", "0.2", "--ws-ping-timeout", "0.2")
FLOOD = 200


@pytest.fixture
def paced_server():
    server = ServerProcess(
        {"OCPP_RATE_PER_SECOND": "50", "OCPP_RATE_BURST": "1"}, extra_args=FAST_KEEPALIVE
    )
    yield server
    server.stop()


def test_a_flooding_charger_keeps_its_socket_and_every_frame_is_answered(
    paced_server, booted_station
):
    booted_station("CP-BUSY")

    async def flood():
        async with connect(paced_server.ws_url("CP-BUSY"), "CP-BUSY") as ws:
            for i in range(FLOOD):  # far over the allowance: they wait their turn
                await ws.send(json.dumps([2, f"f{i}", "Heartbeat", {}]))
            replies = [json.loads(await asyncio.wait_for(ws.recv(), 60)) for _ in range(FLOOD)]
            after = await rpc(ws, [2, "after", "Heartbeat", {}])
            return replies, after

    replies, after = asyncio.run(flood())
    assert [reply[:2] for reply in replies] == [[3, f"f{i}"] for i in range(FLOOD)]
    assert after[:2] == [3, "after"]  # still open


def _upgrade(port: int, identity: str) -> socket.socket:
    """A charger that completes the handshake and then never reads again (gone)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    token = base64.b64encode(f"{identity}:{CHARGER_PASSWORD}".encode()).decode()
    sock.sendall(
        (
            f"GET /ocpp/{identity} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Protocol: ocpp1.6\r\nAuthorization: Basic {token}\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1024)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def test_a_charger_that_never_answers_a_ping_is_still_closed(paced_server, booted_station):
    booted_station("CP-GONE")
    sock = _upgrade(paced_server.port, "CP-GONE")
    received = b""
    while chunk := sock.recv(4096):  # pings, then the close: EOF ends the loop
        received += chunk
    sock.close()
    # a close frame (opcode 0x8) with 1011 "keepalive ping timeout" came before the EOF
    assert b"\x88" in received and (1011).to_bytes(2, "big") in received
