"""End to end: a real uvicorn process on PostgreSQL + Redis, real WebSocket chargers.

Test data is committed (transactional_db) so the server process can see it."""

import asyncio
import json
import time

import pytest
import websockets
from ocpp.v16 import call
from ocpp.v16.enums import RegistrationStatus

from charging.models import MeterSample, OcppTransaction
from evpower.models import SecurityEvent
from ocpp_bridge.models import OcppMessage
from ocpp_bridge.tests.charger import basic, charge_point, connect, handshake_status, now_iso, rpc
from stations.models import Connector, Station
from stations.selectors import station_is_online
from stations.tests.factories import IdTagFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

BOOT = {
    "chargePointVendor": "ACME",
    "chargePointModel": "Fast-50",
    "chargePointSerialNumber": "SN-1",
    "firmwareVersion": "4.2.1",
}


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


def wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_charger_session_is_persisted_end_to_end(ocpp_server, make_station):
    make_station("CP-FULL")
    IdTagFactory(id_tag="CARD-1")

    async def charger():
        async with charge_point(ocpp_server.ws_url("CP-FULL"), "CP-FULL") as cp:
            boot = await cp.call(
                call.BootNotification(
                    charge_point_vendor="ACME",
                    charge_point_model="Fast-50",
                    charge_point_serial_number="SN-1",
                    firmware_version="4.2.1",
                )
            )
            assert boot.status == RegistrationStatus.accepted and boot.interval == 300
            await cp.call(call.Heartbeat())
            await cp.call(
                call.StatusNotification(
                    connector_id=1, error_code="NoError", status="Preparing", timestamp=now_iso()
                )
            )
            auth = await cp.call(call.Authorize(id_tag="CARD-1"))
            assert auth.id_tag_info["status"] == "Accepted"
            start = await cp.call(
                call.StartTransaction(
                    connector_id=1, id_tag="CARD-1", meter_start=1000, timestamp=now_iso()
                )
            )
            await cp.call(
                call.MeterValues(
                    connector_id=1,
                    transaction_id=start.transaction_id,
                    meter_value=[
                        {
                            "timestamp": now_iso(),
                            "sampledValue": [
                                {"value": "2.5", "unit": "kWh"},
                                {"value": "7200", "measurand": "Power.Active.Import", "unit": "W"},
                                {
                                    "value": "231.2",
                                    "measurand": "Voltage",
                                    "phase": "L1-N",
                                    "unit": "V",
                                },
                            ],
                        }
                    ],
                )
            )
            await cp.call(
                call.StopTransaction(
                    transaction_id=start.transaction_id,
                    meter_stop=3000,
                    timestamp=now_iso(),
                    reason="EVDisconnected",
                )
            )
            return start.transaction_id

    tx_id = run(charger())
    station = Station.objects.get(identity="CP-FULL")
    assert (station.vendor, station.model, station.firmware_version) == ("ACME", "Fast-50", "4.2.1")
    assert station.last_heartbeat_at is not None
    assert Connector.objects.get(station=station, number=1).status == "Preparing"
    tx = OcppTransaction.objects.get(pk=tx_id)
    assert (tx.status, tx.meter_start, tx.meter_stop, tx.stop_reason) == (
        "stopped",
        1000,
        3000,
        "EVDisconnected",
    )
    assert {(s.measurand, s.phase, str(s.normalised_value)) for s in MeterSample.objects.all()} == {
        ("Energy.Active.Import.Register", "", "2500.000000"),
        ("Power.Active.Import", "", "7200.000000"),
        ("Voltage", "L1-N", "231.200000"),
    }
    # the message log is written in batches; both directions of every call end up there
    assert wait_for(lambda: OcppMessage.objects.filter(station=station).count() >= 14)
    assert set(OcppMessage.objects.filter(direction="in").values_list("action", flat=True)) >= {
        "BootNotification",
        "Heartbeat",
        "StartTransaction",
        "MeterValues",
        "StopTransaction",
    }


def test_wrong_missing_or_foreign_credentials_get_401_before_upgrade(ocpp_server, make_station):
    make_station("CP-AUTH")
    make_station("CP-OTHER")
    url = ocpp_server.ws_url("CP-AUTH")
    assert run(handshake_status(url, basic("CP-AUTH", "wrong-password-000"))) == 401
    assert run(handshake_status(url)) == 401
    assert run(handshake_status(url, basic("CP-OTHER"))) == 401  # username must be the identity
    assert run(handshake_status(url, basic("CP-AUTH"))) == 101
    assert SecurityEvent.objects.filter(identity="CP-AUTH", kind="ConnectionRefused").count() == 3


def test_unknown_identity_gets_404(ocpp_server, db):
    assert run(handshake_status(ocpp_server.ws_url("NOBODY"), basic("NOBODY"))) == 404
    assert run(handshake_status(ocpp_server.ws_url("bad%20id"), basic("bad id"))) == 404


def test_ws_prefix_and_trailing_segments_are_accepted(ocpp_server, booted_station):
    booted_station("CP-PATH")

    async def charger():
        url = ocpp_server.ws_url("CP-PATH", prefix="ws") + "/CP-PATH"
        async with connect(url, "CP-PATH") as ws:
            assert ws.subprotocol == "ocpp1.6"
            return await rpc(ws, [2, "h", "Heartbeat", {}])

    assert run(charger())[0] == 3


def test_handshake_without_supported_subprotocol_is_closed(ocpp_server, booted_station):
    booted_station("CP-NOSUB")
    booted_station("CP-LEGACY", allow_missing_subprotocol=True)

    async def attempt(identity, subprotocols):
        async with connect(ocpp_server.ws_url(identity), identity, subprotocols=subprotocols) as ws:
            try:
                return await rpc(ws, [2, "h", "Heartbeat", {}])
            except websockets.ConnectionClosed as exc:
                return exc.rcvd.code

    # a version we do not speak (2.0.1 is spoken now: test_e2e_ocpp201.py)
    assert run(attempt("CP-NOSUB", ("ocpp2.1",))) == 1002
    assert run(attempt("CP-NOSUB", ())) == 1002
    assert run(attempt("CP-LEGACY", ()))[0] == 3  # allowed for this station only


def test_malformed_frames_get_spec_errors_and_the_connection_survives(ocpp_server, booted_station):
    booted_station("CP-BAD")
    cases = [
        ("{not json", "-1", "FormationViolation"),
        ("[2]", "-1", "FormationViolation"),
        ('[2, "m1", "Heartbeat"]', "m1", "FormationViolation"),
        ('[2, "m2", "Teleport", {}]', "m2", "NotImplemented"),
        ('[2, "m3", "Reset", {"type": "Hard"}]', "m3", "NotSupported"),
        ('[2, "m4", "Authorize", {}]', "m4", "ProtocolError"),
        ('[2, "m5", "Authorize", {"idTag": 42}]', "m5", "TypeConstraintViolation"),
        (
            '[2, "m6", "StatusNotification", {"connectorId": 1, "errorCode": "NoError",'
            ' "status": "Asleep"}]',
            "m6",
            "PropertyConstraintViolation",
        ),
        (
            '[2, "m7", "MeterValues", {"connectorId": 1, "meterValue": []}]',
            "m7",
            "OccurenceConstraintViolation",
        ),
        (
            '[2, "m8", "DataTransfer", {"vendorId": "v", "data": "' + "x" * 30000 + '"}]',
            "m8",
            "FormationViolation",
        ),
    ]

    async def charger():
        answers = []
        async with connect(ocpp_server.ws_url("CP-BAD"), "CP-BAD", max_size=None) as ws:
            for text, _, _ in cases:
                answers.append(await rpc(ws, text))
            answers.append(await rpc(ws, [2, "ok", "Heartbeat", {}]))
        return answers

    answers = run(charger())
    for (_, message_id, code), reply in zip(cases, answers, strict=False):
        assert reply[:3] == [4, message_id, code] and reply[4] == {} or isinstance(reply[4], dict)
    assert answers[-1][:2] == [3, "ok"]


def test_call_before_boot_is_security_error_and_changes_nothing(ocpp_server, make_station):
    make_station("CP-NEW")  # never booted

    async def charger():
        async with connect(ocpp_server.ws_url("CP-NEW"), "CP-NEW") as ws:
            status = await rpc(
                ws,
                [
                    2,
                    "s",
                    "StatusNotification",
                    {"connectorId": 1, "errorCode": "NoError", "status": "Faulted"},
                ],
            )
            start = await rpc(
                ws,
                [
                    2,
                    "t",
                    "StartTransaction",
                    {"connectorId": 1, "idTag": "X", "meterStart": 0, "timestamp": now_iso()},
                ],
            )
            boot = await rpc(ws, [2, "b", "BootNotification", BOOT])
            after = await rpc(ws, [2, "h", "Heartbeat", {}])
            return status, start, boot, after

    status, start, boot, after = run(charger())
    assert status[2] == start[2] == "SecurityError"
    assert boot[2]["status"] == "Accepted" and after[0] == 3
    assert Connector.objects.get(station__identity="CP-NEW", number=1).status == "Unknown"
    assert not OcppTransaction.objects.exists()


def test_retried_start_transaction_gets_the_same_id(ocpp_server, booted_station):
    booted_station("CP-RETRY")
    payload = {"connectorId": 1, "idTag": "ANY", "meterStart": 5, "timestamp": now_iso()}

    async def charger():
        async with connect(ocpp_server.ws_url("CP-RETRY"), "CP-RETRY") as ws:
            same_id = [await rpc(ws, [2, "start-1", "StartTransaction", payload]) for _ in range(2)]
        async with connect(ocpp_server.ws_url("CP-RETRY"), "CP-RETRY") as ws:  # offline replay
            replayed = await rpc(ws, [2, "start-after-reconnect", "StartTransaction", payload])
        return same_id, replayed

    same_id, replayed = run(charger())
    assert same_id[0] == same_id[1]
    assert replayed[2]["transactionId"] == same_id[0][2]["transactionId"]
    assert OcppTransaction.objects.count() == 1


def test_unknown_stop_gets_a_normal_answer_and_is_parked(ocpp_server, booted_station):
    booted_station("CP-STOP")

    async def charger():
        async with connect(ocpp_server.ws_url("CP-STOP"), "CP-STOP") as ws:
            return await rpc(
                ws,
                [
                    2,
                    "x",
                    "StopTransaction",
                    {"transactionId": 987654, "meterStop": 10, "timestamp": now_iso()},
                ],
            )

    assert run(charger()) == [3, "x", {}]
    assert (
        Station.objects.get(identity="CP-STOP").parked_messages.get().reason
        == "unknown_transaction"
    )


def test_second_authenticated_connection_replaces_the_first(ocpp_server, booted_station):
    booted_station("CP-TWICE")
    url = ocpp_server.ws_url("CP-TWICE")

    async def chargers():
        async with connect(url, "CP-TWICE") as first:
            assert (await rpc(first, [2, "1", "Heartbeat", {}]))[0] == 3
            # an unauthenticated attempt changes nothing
            assert await handshake_status(url, basic("CP-TWICE", "not-the-password-1")) == 401
            assert (await rpc(first, [2, "2", "Heartbeat", {}]))[0] == 3
            async with connect(url, "CP-TWICE") as second:
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await asyncio.wait_for(first.recv(), 10)
                reply = await rpc(second, [2, "3", "Heartbeat", {}])
                await asyncio.sleep(0.2)  # let the replaced socket's disconnect run
                online = await asyncio.to_thread(
                    lambda: station_is_online(Station.objects.get(identity="CP-TWICE"))
                )
                return closed.value.rcvd.code, reply, online

    code, reply, online_while_second_open = run(chargers())
    assert code == 4000 and reply[0] == 3
    assert online_while_second_open  # the old socket closing did not take it offline
    station = Station.objects.get(identity="CP-TWICE")
    assert SecurityEvent.objects.filter(station=station, kind="ConnectionReplaced").count() == 1


def test_disconnect_takes_the_station_offline(ocpp_server, booted_station):
    booted_station("CP-GONE")

    async def charger():
        async with connect(ocpp_server.ws_url("CP-GONE"), "CP-GONE") as ws:
            await rpc(ws, [2, "1", "Heartbeat", {}])

    run(charger())
    assert wait_for(lambda: not Station.objects.get(identity="CP-GONE").connected)
    assert not station_is_online(Station.objects.get(identity="CP-GONE"))


def test_out_of_order_status_does_not_overwrite_newer_state(ocpp_server, booted_station):
    booted_station("CP-ORDER")

    def status(mid, value, stamp):
        return [
            2,
            mid,
            "StatusNotification",
            {"connectorId": 2, "errorCode": "NoError", "status": value, "timestamp": stamp},
        ]

    async def charger():
        async with connect(ocpp_server.ws_url("CP-ORDER"), "CP-ORDER") as ws:
            await rpc(ws, status("1", "Charging", "2026-11-22T10:05:00Z"))
            await rpc(ws, status("2", "Preparing", "2026-11-22T10:00:00Z"))  # queued, older

    run(charger())
    assert Connector.objects.get(station__identity="CP-ORDER", number=2).status == "Charging"


def test_flooding_charger_is_slowed_without_hurting_others(ocpp_server, booted_station):
    # the test server allows 50 msg/s with a burst of 60 per charger
    booted_station("CP-FLOOD")
    booted_station("CP-CALM")

    async def chargers():
        async with (
            connect(ocpp_server.ws_url("CP-FLOOD"), "CP-FLOOD") as flood,
            connect(ocpp_server.ws_url("CP-CALM"), "CP-CALM") as calm,
        ):
            began = time.monotonic()
            for i in range(200):  # all at once, far over budget
                await flood.send(json.dumps([2, f"f{i}", "Heartbeat", {}]))
            calm_reply = await rpc(calm, [2, "c", "Heartbeat", {}])
            calm_wait = time.monotonic() - began
            flood_replies = [
                json.loads(await asyncio.wait_for(flood.recv(), 30)) for _ in range(200)
            ]
            return calm_reply, calm_wait, flood_replies, time.monotonic() - began

    calm_reply, calm_wait, flood_replies, flood_time = run(chargers())
    assert calm_reply[0] == 3 and calm_wait < flood_time / 2  # not queued behind the flood
    assert [r[:2] for r in flood_replies] == [[3, f"f{i}"] for i in range(200)]  # none lost
    assert flood_time >= (200 - 60) / 50 * 0.9  # the flooder was held to its rate


def test_charger_security_event_and_firmware_status_are_stored(ocpp_server, booted_station):
    booted_station("CP-SEC")

    async def charger():
        async with connect(ocpp_server.ws_url("CP-SEC"), "CP-SEC") as ws:
            await rpc(
                ws,
                [
                    2,
                    "1",
                    "SecurityEventNotification",
                    {
                        "type": "TamperDetectionActivated",
                        "timestamp": now_iso(),
                        "techInfo": "door",
                    },
                ],
            )
            await rpc(ws, [2, "2", "FirmwareStatusNotification", {"status": "Downloading"}])
            await rpc(ws, [2, "3", "DiagnosticsStatusNotification", {"status": "Uploading"}])
            return await rpc(
                ws,
                [
                    2,
                    "4",
                    "DataTransfer",
                    {"vendorId": "org.evpower", "messageId": "ping", "data": "hi"},
                ],
            )

    assert run(charger())[2] == {"status": "Accepted", "data": "hi"}
    station = Station.objects.get(identity="CP-SEC")
    assert (station.firmware_status, station.diagnostics_status) == ("Downloading", "Uploading")
    event = SecurityEvent.objects.get(station=station, source="charger")
    assert (event.kind, event.tech_info) == ("TamperDetectionActivated", "door")
