"""The charger front door under pressure, end to end: a full password gate answers 503 with
Retry-After before any work, and forwarded addresses are believed from configured proxies
only (evpower/serve.py, ocpp_bridge/password_gate.py)."""

from __future__ import annotations

import asyncio

import pytest
import websockets

from evpower.models import SecurityEvent
from evpower.tests.support.processes import ServerProcess
from ocpp_bridge.tests.charger import basic, connect

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_full_password_gate_refuses_with_503_and_retry_after(booted_station):
    booted_station("CP-FULL")
    server = ServerProcess({"OCPP_HANDSHAKE_MAX_PENDING": "0", "OCPP_HANDSHAKE_RETRY_AFTER": "7"})

    async def knock():
        try:
            async with connect(server.ws_url("CP-FULL"), "CP-FULL", "z" * 20):
                return None
        except websockets.InvalidStatus as exc:
            return exc.response

    try:
        response = asyncio.run(knock())
    finally:
        server.stop()
    assert response.status_code == 503 and response.headers["Retry-After"] == "7"
    assert not SecurityEvent.objects.exists()  # refused before any lookup or hash


async def _open_with(url: str, identity: str, forwarded_for: str) -> int:
    """Handshake status with an X-Forwarded-For (the socket stays open while checked)."""
    try:
        ws = await websockets.connect(
            url,
            subprotocols=["ocpp1.6"],
            open_timeout=10,
            additional_headers={**basic(identity), "X-Forwarded-For": forwarded_for},
        )
    except websockets.InvalidStatus as exc:
        return exc.response.status_code
    _open.append(ws)
    return 101


_open: list = []


def _statuses(server: ServerProcess) -> list[int]:
    async def run():
        try:
            return [
                await _open_with(server.ws_url(f"CP-XFF-{i}"), f"CP-XFF-{i}", f"198.51.100.{i}")
                for i in (1, 2)
            ]
        finally:
            for ws in _open:
                await ws.close()
            _open.clear()

    return asyncio.run(run())


@pytest.mark.parametrize(
    ("trusted", "expected"),
    [
        (None, [101, 429]),  # not configured: nobody trusted, both count as 127.0.0.1
        ("127.0.0.1", [101, 101]),  # a configured proxy: each forwarded address counts
    ],
)
def test_forwarded_addresses_are_believed_from_configured_proxies_only(
    booted_station, monkeypatch, trusted, expected
):
    for i in (1, 2):
        booted_station(f"CP-XFF-{i}")
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    env = {"WS_MAX_CONNECTIONS_PER_IP": "1"}
    if trusted is not None:
        env["FORWARDED_ALLOW_IPS"] = trusted
    server = ServerProcess(env)
    try:
        assert _statuses(server) == expected
    finally:
        server.stop()
