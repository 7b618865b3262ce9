"""OCPP 2.0.1 end to end: a real server process, a real 2.0.1 charger (the ocpp library's
v201 ChargePoint over a WebSocket offering both subprotocols) and the driver's API, on
PostgreSQL and Redis. The same services as for 1.6 start, follow, stop and bill."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from ocpp.v201 import call
from rest_framework.test import APIClient

from accounts.tests.factories import ClientFactory
from accounts.tokens import session_start as login_session
from charging.session.models import ChargingSession
from charging.tests.session_charger import SessionCharger
from charging.tests.support import funded_client
from charging.transaction_models import OcppTransaction
from evpower.tests.support.processes import CHARGER_PASSWORD
from evpower.tests.support.waiting import wait_until
from ocpp_bridge.commands import rotate_charger_password, send_command
from ocpp_bridge.models import CommandRecord
from ocpp_bridge.simulator import SimulatorConfig, run_simulator
from ocpp_bridge.tests.charger import connect, rpc
from ocpp_bridge.tests.charger_v201 import Charger201, energy, now_iso
from payments.models import Wallet
from payments.selectors import ledger_invariant_violations
from payments.wallet import wallet_credit_topup
from stations.credentials import check_password
from stations.models import ChargerReport, DeviceVariable, Reservation, Station, StationEvent
from stations.tests.factories import IdTagFactory, TariffPlanFactory, TariffRuleFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def tariff():
    plan = TariffPlanFactory(name="e2e-201", is_default=True)
    TariffRuleFactory(plan=plan, price_per_kwh=Decimal("12.00"), session_fee=Decimal("5.00"))


def driver(phone: str) -> APIClient:
    client = ClientFactory(phone=phone)
    wallet_credit_topup(client=client, amount="500.00", payment_ref=f"s-{phone}", key=f"s:{phone}")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {login_session(client=client).access}")
    return api


def session_in(pk: int, status: str) -> ChargingSession | None:
    session = ChargingSession.objects.get(pk=pk)
    return session if session.status == status else None


def start(api: APIClient, identity: str, connector: int, limit: dict | None = None) -> int:
    station = Station.objects.get(identity=identity)
    answer = api.post(
        "/api/v1/charging/start",
        {
            "station": station.pk,
            "connector": connector,
            "limit": limit or {"type": "amount", "amount": "100"},
        },
        format="json",
    )
    assert answer.status_code == 201, answer.content
    return answer.json()["id"]


def test_a_paid_session_on_a_2_0_1_charger_from_the_drivers_api(
    ocpp_server, booted_station, tariff
):
    booted_station("CP-201A")
    api = driver("+996700201001")
    with Charger201(ocpp_server.ws_url("CP-201A"), "CP-201A") as charger:
        station = Station.objects.get(identity="CP-201A")
        assert (station.ocpp_version, station.boot_reason, station.vendor) == (
            "2.0.1",
            "PowerUp",
            "EvPower Test",
        )
        sid = start(api, "CP-201A", 2)
        tx = charger.wait_transaction(2)
        session = wait_until(lambda: session_in(sid, "charging"), what="charging")
        request = charger.cp.received[0]
        assert request[0] == "RequestStartTransaction"
        assert request[1]["evseId"] == 2 and request[1]["idToken"]["type"] == "Central"
        assert request[1]["idToken"]["idToken"] == session.id_tag
        assert session.meter_start_wh == 1000
        # a second Updated with the same seqNo (a charger resending its queue) counts once
        charger.meter(2, 2500, power_w=7000)
        live = wait_until(
            lambda: (
                session_in(sid, "charging")
                if ChargingSession.objects.get(pk=sid).energy_wh == 1500
                else None
            ),
            what="live energy",
        )
        assert live.power_w == 7000
        stopped = api.post(f"/api/v1/charging/{sid}/stop")
        assert stopped.status_code == 200, stopped.content
        charger.wait_ended(tx)
        session = wait_until(lambda: session_in(sid, "completed"), what="billed")
    assert ("RequestStopTransaction", {"transactionId": tx}) in charger.cp.received
    assert session.energy_wh == 1500 and session.stop_reason == "driver"
    assert session.final_cost == Decimal("23.00")  # 1.5 kWh × 12 + 5
    assert Wallet.objects.get(client__phone="+996700201001").balance == Decimal("477.00")
    record = OcppTransaction.objects.get(station=station, remote_id=tx)
    assert (record.meter_start, record.meter_stop, record.status) == (1000, 2500, "stopped")
    assert CommandRecord.objects.filter(
        station=station, action="RequestStartTransaction", status="accepted"
    ).exists()
    assert not ledger_invariant_violations()


def test_a_replayed_event_has_one_effect_and_its_answer_is_the_same(
    ocpp_server, booted_station, tariff
):
    booted_station("CP-201B")
    api = driver("+996700201002")
    with Charger201(ocpp_server.ws_url("CP-201B"), "CP-201B") as charger:
        sid = start(api, "CP-201B", 1)
        tx = charger.wait_transaction(1)
        wait_until(lambda: session_in(sid, "charging"), what="charging")
        charger.meter(1, 1800)
        # the same Updated again, as after a reconnect: seqNo 1 again
        charger.cp.seq[tx] -= 1
        charger.cp.registers[1] = 9999  # what it now says would move the register: ignored
        charger.meter(1, 9999)
        samples = wait_until(
            lambda: OcppTransaction.objects.get(remote_id=tx).last_seq_no == 1 or None
        )
        assert samples
    record = OcppTransaction.objects.get(remote_id=tx)
    assert record.last_meter_wh == 1800


def test_a_1_6_and_a_2_0_1_charger_charge_at_the_same_time(ocpp_server, booted_station, tariff):
    booted_station("CP-16X")
    booted_station("CP-201X")
    api16, api201 = driver("+996700201016"), driver("+996700201201")
    with (
        SessionCharger(ocpp_server.ws_url("CP-16X"), "CP-16X") as old,
        Charger201(ocpp_server.ws_url("CP-201X"), "CP-201X") as new,
    ):
        old.status(1, "Available")
        wait_until(
            lambda: (
                Station.objects.get(identity="CP-16X")
                .connectors.filter(status="Available")
                .exists()
            ),
            what="1.6 connector available",
        )
        s16, s201 = start(api16, "CP-16X", 1), start(api201, "CP-201X", 1)
        tx16, tx201 = old.wait_transaction(1), new.wait_transaction(1)
        wait_until(lambda: session_in(s16, "charging"), what="1.6 charging")
        wait_until(lambda: session_in(s201, "charging"), what="2.0.1 charging")
        old.meter(1, 2000, power_w=7000)
        new.meter(1, 2000, power_w=7000)
        for api, sid in ((api16, s16), (api201, s201)):
            assert api.post(f"/api/v1/charging/{sid}/stop").status_code == 200
        old.wait_stopped(tx16)
        new.wait_ended(tx201)
        done16 = wait_until(lambda: session_in(s16, "completed"), what="1.6 billed")
        done201 = wait_until(lambda: session_in(s201, "completed"), what="2.0.1 billed")
    assert done16.final_cost == done201.final_cost == Decimal("17.00")  # 1 kWh × 12 + 5
    assert Station.objects.get(identity="CP-16X").ocpp_version == "1.6"
    assert Station.objects.get(identity="CP-201X").ocpp_version == "2.0.1"
    assert not ledger_invariant_violations()


@pytest.mark.parametrize("answer,rotated", [("Accepted", True), ("Rejected", False)])
def test_the_password_rotates_through_set_variables_only_once_accepted(
    ocpp_server, booted_station, answer, rotated
):
    booted_station("CP-201P")
    with Charger201(ocpp_server.ws_url("CP-201P"), "CP-201P") as charger:
        charger.cp.set_variables_status = answer
        station = Station.objects.get(identity="CP-201P")
        old_hash = station.password_hash
        result, changed = rotate_charger_password(station=station, requested_by="test")
    [(action, payload)] = [r for r in charger.cp.received if r[0] == "SetVariables"]
    [item] = payload["setVariableData"]
    assert item["variable"] == {"name": "BasicAuthPassword"} and changed is rotated
    assert result.status == ("accepted" if rotated else "rejected")
    station.refresh_from_db()
    assert (station.password_hash != old_hash) is rotated
    if rotated:
        assert check_password(item["attributeValue"], station.password_hash)
    # the command log never holds the password
    logged = CommandRecord.objects.get(station=station, action="SetVariables").payload
    assert logged["setVariableData"][0]["attributeValue"] == "********"


def test_the_device_model_is_assembled_from_reports_and_answers(ocpp_server, booted_station):
    booted_station("CP-201D")
    with Charger201(ocpp_server.ws_url("CP-201D"), "CP-201D") as charger:
        station = Station.objects.get(identity="CP-201D")
        asked = send_command(
            station=station,
            action="GetBaseReport",
            payload={"requestId": 7, "reportBase": "FullInventory"},
        )
        assert asked.ok, asked
        charger.wait_reported()
        heartbeat = {
            "component": {"name": "OCPPCommCtrlr"},
            "variable": {"name": "HeartbeatInterval"},
        }
        set_result = send_command(
            station=station,
            action="SetVariables",
            payload={
                "setVariableData": [
                    {**heartbeat, "attributeValue": "120"},
                    {
                        "component": {"name": "SecurityCtrlr"},
                        "variable": {"name": "BasicAuthPassword"},
                        "attributeValue": "never-stored-0001",
                    },
                ]
            },
        )
        assert set_result.ok, set_result
        got = send_command(
            station=station, action="GetVariables", payload={"getVariableData": [heartbeat]}
        )
        assert got.ok
    rows = {
        (row.component, row.evse_id, row.variable, row.attribute_type): row
        for row in DeviceVariable.objects.filter(station=station)
    }
    power = rows[("EVSE", 1, "Power", "MaxSet")]
    assert (power.value, power.unit, power.data_type) == ("22000", "W", "decimal")
    interval = rows[("OCPPCommCtrlr", 0, "HeartbeatInterval", "Actual")]
    # reported 300, set to 120, read back 300 (our test charger answers 300): the last word
    assert interval.value == "300" and interval.mutability == "ReadWrite"
    assert ("SecurityCtrlr", 0, "BasicAuthPassword", "Actual") not in rows
    assert len(rows) == 3


def test_a_station_pinned_to_1_6_refuses_a_2_0_1_connection(ocpp_server, booted_station):
    station = booted_station("CP-PIN")
    station.ocpp_version_pin = "1.6"
    station.save(update_fields=["ocpp_version_pin"])

    async def offer_201_only():
        async with connect(
            ocpp_server.ws_url("CP-PIN"), "CP-PIN", subprotocols=("ocpp2.0.1",)
        ) as ws:
            assert ws.subprotocol is None
            await asyncio.wait_for(ws.wait_closed(), 10)
            return ws.close_code

    assert asyncio.run(offer_201_only()) is not None


def test_malformed_frames_get_the_2_0_1_codes_over_the_socket(ocpp_server, booted_station):
    booted_station("CP-201M")

    async def probe():
        async with connect(
            ocpp_server.ws_url("CP-201M"), "CP-201M", subprotocols=("ocpp2.0.1",)
        ) as ws:
            assert ws.subprotocol == "ocpp2.0.1"
            boot = {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V"}}
            assert (await rpc(ws, [2, "b", "BootNotification", boot]))[2]["status"] == "Accepted"
            return [
                (await rpc(ws, "not json"))[2],
                (await rpc(ws, '[9, "x", "Heartbeat", {}]'))[2],
                (await rpc(ws, [2, "y", "Heartbeat", {"no": 1}]))[2],
                (await rpc(ws, [2, "z", "RequestStopTransaction", {"transactionId": "t"}]))[2],
                json.dumps(await rpc(ws, [2, "h", "Heartbeat", {}]))[:5],
            ]

    assert asyncio.run(probe()) == [
        "RpcFrameworkError",
        "MessageTypeNotSupported",
        "FormatViolation",
        "NotSupported",
        '[3, "',
    ]


def test_the_simulator_speaks_2_0_1_and_its_card_session_is_billed(
    ocpp_server, booted_station, tariff
):
    booted_station("SIM-201")
    owner = ClientFactory(phone="+996700201099")
    wallet_credit_topup(client=owner, amount="100.00", payment_ref="sim", key="sim:201")
    IdTagFactory(id_tag="SIM-CARD-201", client=owner)
    config = SimulatorConfig(
        identity="SIM-201",
        password=CHARGER_PASSWORD,
        url=ocpp_server.ws_url("SIM-201"),
        id_tag="SIM-CARD-201",
        heartbeat=30,
        meter_interval=0.3,
        session_seconds=1.2,
        once=True,
        rfid_connectors=(1,),
        ocpp="2.0.1",
    )
    lines: list[str] = []
    asyncio.run(asyncio.wait_for(run_simulator(config, log=lines.append), 60))
    tx = OcppTransaction.objects.get(station__identity="SIM-201")
    assert tx.remote_id.startswith("SIM-") and tx.status == "stopped" and tx.last_seq_no >= 2
    session = ChargingSession.objects.get(transaction_id=tx.pk)
    assert session.status == "completed" and session.client == owner
    assert Station.objects.get(identity="SIM-201").ocpp_version == "2.0.1"
    assert any("TransactionEvent" in line for line in lines)
    assert not ledger_invariant_violations()


def test_what_a_2_0_1_charger_reports_on_its_own_is_stored_and_shown(
    ocpp_server, booted_station, tariff, admin_client
):
    """An RFID session whose charging state changes and whose events were queued offline, a
    fault event, a monitoring report and a reservation the charger let expire: each stored
    where an operator finds it."""
    booted_station("CP-201R")
    station = Station.objects.get(identity="CP-201R")
    IdTagFactory(id_tag="RFID-201R", client=funded_client("300.00"))
    reservation = Reservation.objects.create(
        station=station,
        connector_number=2,
        id_tag="RFID-OTHER",
        expires_at=timezone.now() + timedelta(minutes=5),
        status=Reservation.Status.ACCEPTED,
    )
    fault = {
        "event_id": 31,
        "timestamp": now_iso(),
        "trigger": "Alerting",
        "actual_value": "true",
        "event_notification_type": "HardWiredMonitor",
        "component": {"name": "ConnectorPlugRetentionLock", "evse": {"id": 2, "connector_id": 1}},
        "variable": {"name": "Problem"},
        "tech_code": "LOCK-7",
    }
    with Charger201(ocpp_server.ws_url("CP-201R"), "CP-201R") as charger:
        assert charger.run(charger.cp.begin(1, "RFID-201R", "ISO14443"))["status"] == "Accepted"
        tx = charger.wait_transaction(1)
        for register, state in ((1500, "SuspendedEV"), (1700, "Charging")):
            charger.run(
                charger.cp.event(
                    "Updated",
                    1,
                    "ChargingStateChanged",
                    meter_value=energy(register),
                    info={"charging_state": state},
                    offline=True,
                )
            )
        charger.run(
            charger.cp.call(
                call.NotifyEvent(generated_at=now_iso(), seq_no=0, event_data=[fault]),
                suppress=False,
            )
        )
        charger.run(
            charger.cp.call(
                call.NotifyMonitoringReport(request_id=77, seq_no=0, generated_at=now_iso()),
                suppress=False,
            )
        )
        charger.run(
            charger.cp.call(
                call.ReservationStatusUpdate(
                    reservation_id=reservation.pk, reservation_update_status="Expired"
                ),
                suppress=False,
            )
        )
    record = OcppTransaction.objects.get(remote_id=tx)
    assert (record.charging_state, record.offline_events, record.last_meter_wh) == (
        "Charging",
        2,
        1700,
    )
    event = StationEvent.objects.get(station=station)
    assert (event.component, event.evse_id, event.variable, event.tech_code) == (
        "ConnectorPlugRetentionLock",
        2,
        "Problem",
        "LOCK-7",
    )
    report = ChargerReport.objects.get(station=station)
    assert (report.kind, report.request_id) == ("NotifyMonitoringReport", 77)
    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.EXPIRED
    page = admin_client.get("/admin/stations/stationevent/", {"q": "LOCK-7"})
    assert page.status_code == 200 and b"ConnectorPlugRetentionLock" in page.content
    page = admin_client.get(f"/admin/stations/chargerreport/{report.pk}/change/")
    assert page.status_code == 200 and b"&quot;requestId&quot;: 77" in page.content
    page = admin_client.get("/admin/charging/ocpptransaction/", {"charging_state": "Charging"})
    assert page.status_code == 200 and tx.encode() in page.content


def test_after_a_power_cut_the_2_0_1_simulator_ends_its_transaction_with_power_loss(
    ocpp_server, booted_station, tariff, tmp_path
):
    """Like a real 2.0.1 station: its open transaction and event numbers are in its state
    file; after the power comes back it ends the transaction (PowerLoss) at the last
    reading it stored, with the next event number, and the session is billed once."""
    booted_station("SIM-201P")
    IdTagFactory(id_tag="SIM-CARD-201P", client=funded_client("300.00"))
    config = SimulatorConfig(
        identity="SIM-201P",
        password=CHARGER_PASSWORD,
        url=ocpp_server.ws_url("SIM-201P"),
        id_tag="SIM-CARD-201P",
        heartbeat=30,
        meter_interval=0.2,
        session_seconds=600,
        pause_seconds=600,
        rfid_connectors=(1,),
        ocpp="2.0.1",
        state_file=str(tmp_path / "charger.json"),
    )

    def charging_tx():
        tx = OcppTransaction.objects.filter(station__identity="SIM-201P").first()
        return tx if tx is not None and (tx.last_seq_no or 0) >= 2 else None

    async def cut_then_restore():
        first = asyncio.create_task(run_simulator(config, log=lambda line: None))
        await asyncio.to_thread(wait_until, charging_tx, what="metered transaction")
        first.cancel()  # the power goes: nothing more is sent
        await asyncio.gather(first, return_exceptions=True)
        cut = await asyncio.to_thread(charging_tx)
        shutdown = asyncio.Event()
        second = asyncio.create_task(
            run_simulator(config, log=lambda line: None, shutdown=shutdown)
        )

        def ended():
            tx = OcppTransaction.objects.get(pk=cut.pk)
            return tx if tx.status == "stopped" else None

        await asyncio.to_thread(wait_until, ended, what="the interrupted transaction ended")
        shutdown.set()
        await asyncio.wait_for(second, 60)
        return cut

    cut = asyncio.run(asyncio.wait_for(cut_then_restore(), 120))
    tx = OcppTransaction.objects.get(pk=cut.pk)
    assert tx.stop_reason == "PowerLoss" and tx.meter_stop >= cut.last_meter_wh
    assert tx.last_seq_no > cut.last_seq_no  # the numbers went on across the cut
    session = ChargingSession.objects.get(transaction_id=tx.pk)
    assert session.status == "completed"
    # the new session after the restart was ended by the shutdown, not left open
    assert not OcppTransaction.objects.filter(
        station__identity="SIM-201P", status="started"
    ).exists()
    assert not ledger_invariant_violations()


def test_a_2_0_1_session_ends_by_a_limit_the_12_hour_cap_or_a_queued_end_billed_once(
    ocpp_server, booted_station, tariff
):
    """The ends a 1.6 session has, on 2.0.1 chargers: the energy limit reached (the platform
    sends RequestStopTransaction itself), the 12-hour cap's sweep, and an Ended the charger
    queued while its connection was gone and sent after reconnecting."""
    from charging.session.sweeps import sessions_stop_overlong

    for identity in ("CP-201L", "CP-201C", "CP-201Q"):
        booted_station(identity)
    by_limit, by_cap, queued = (driver(f"+99670020110{n}") for n in (1, 2, 3))
    with (
        Charger201(ocpp_server.ws_url("CP-201L"), "CP-201L") as limited,
        Charger201(ocpp_server.ws_url("CP-201C"), "CP-201C") as capped,
    ):
        sid_limit = start(by_limit, "CP-201L", 1, {"type": "energy", "energy_kwh": "2"})
        tx_limit = limited.wait_transaction(1)
        wait_until(lambda: session_in(sid_limit, "charging"), what="charging")
        limited.meter(1, 2950, power_w=7000)  # 1.95 kWh: the lookahead reaches 2 kWh
        sid_cap = start(by_cap, "CP-201C", 1)
        tx_cap = capped.wait_transaction(1)
        wait_until(lambda: session_in(sid_cap, "charging"), what="charging")
        capped.meter(1, 2000)
        ChargingSession.objects.filter(pk=sid_cap).update(
            charging_started_at=timezone.now() - timedelta(hours=13)
        )
        assert sessions_stop_overlong() == 1
        limited.wait_ended(tx_limit)
        capped.wait_ended(tx_cap)
    limit_session = wait_until(lambda: session_in(sid_limit, "completed"), what="billed")
    cap_session = wait_until(lambda: session_in(sid_cap, "completed"), what="billed")
    assert limited.cp.received.count(("RequestStopTransaction", {"transactionId": tx_limit})) == 1
    assert (limit_session.stop_reason, limit_session.energy_wh) == ("energy_limit", 1950)
    assert limit_session.final_cost == Decimal("28.40")  # 1.95 kWh x 12 + 5
    assert (cap_session.stop_reason, cap_session.final_cost) == ("max_duration", Decimal("17.00"))

    with Charger201(ocpp_server.ws_url("CP-201Q"), "CP-201Q", evses=1) as charger:
        sid = start(queued, "CP-201Q", 1)
        tx = charger.wait_transaction(1)
        wait_until(lambda: session_in(sid, "charging"), what="charging")
        charger.meter(1, 1800)
        seq = charger.cp.seq[tx]
    # the car left while the charger was cut off: it ended the transaction then, and sends
    # the queued Ended once it is back (a new connection, a new boot)
    with Charger201(ocpp_server.ws_url("CP-201Q"), "CP-201Q", evses=1) as back:
        ended = call.TransactionEvent(
            event_type="Ended",
            timestamp=now_iso(),
            trigger_reason="EVCommunicationLost",
            seq_no=seq + 1,
            transaction_info={"transaction_id": tx, "stopped_reason": "EVDisconnected"},
            evse={"id": 1, "connector_id": 1},
            meter_value=energy(2100, "Transaction.End"),
            offline=True,
        )
        back.run(back.cp.call(ended, suppress=False))
        back.run(back.cp.call(ended, suppress=False))  # sent twice: one effect
    session = wait_until(lambda: session_in(sid, "completed"), what="billed")
    assert (session.energy_wh, session.final_cost) == (1100, Decimal("18.20"))
    record = OcppTransaction.objects.get(remote_id=tx)
    assert (record.stop_reason, record.offline_events, record.meter_stop) == (
        "EVDisconnected",
        1,
        2100,
    )
    assert Wallet.objects.get(client__phone="+996700201103").balance == Decimal("481.80")
    assert not ledger_invariant_violations()
