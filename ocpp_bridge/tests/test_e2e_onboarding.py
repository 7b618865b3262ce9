"""End to end with non-default servers: auto-registration on, and daphne as the server."""

import asyncio

import pytest

from evpower.tests.support.processes import ServerProcess
from ocpp_bridge.tests.charger import basic, connect, handshake_status, rpc
from stations.models import Station
from stations.services import station_approve

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
BOOT = {"chargePointVendor": "ACME", "chargePointModel": "Fast-50"}


@pytest.fixture(scope="module")
def auto_register_server(django_db_setup, django_db_blocker):
    server = ServerProcess({"OCPP_AUTO_REGISTER": "true"})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def daphne_server(django_db_setup, django_db_blocker):
    server = ServerProcess(server="daphne")
    yield server
    server.stop()


def test_unknown_charger_is_registered_pending_until_approved(auto_register_server, db):
    url = auto_register_server.ws_url("CP-FRESH")

    async def boot_and_heartbeat():
        async with connect(url, "CP-FRESH") as ws:
            boot = await rpc(ws, [2, "b", "BootNotification", BOOT])
            heartbeat = await rpc(ws, [2, "h", "Heartbeat", {}])
            return boot, heartbeat

    boot, heartbeat = asyncio.run(boot_and_heartbeat())
    assert boot[2]["status"] == "Pending" and heartbeat[2] == "SecurityError"
    station = Station.objects.get(identity="CP-FRESH")
    assert station.registration_status == "Pending" and station.vendor == "ACME"

    station_approve(station=station)
    boot, heartbeat = asyncio.run(boot_and_heartbeat())
    assert boot[2]["status"] == "Accepted" and heartbeat[0] == 3


def test_daphne_serves_chargers_too(daphne_server, booted_station):
    booted_station("CP-DAPHNE")

    async def heartbeat():
        async with connect(daphne_server.ws_url("CP-DAPHNE"), "CP-DAPHNE") as ws:
            return await rpc(ws, [2, "h", "Heartbeat", {}])

    assert asyncio.run(heartbeat())[0] == 3
    # daphne has no ASGI denial-response support: every refused handshake is a 403
    assert (
        asyncio.run(
            handshake_status(
                daphne_server.ws_url("CP-DAPHNE"), basic("CP-DAPHNE", "wrong-password-000")
            )
        )
        == 403
    )
