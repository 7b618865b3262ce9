"""The charger simulator: its meter, its options, and its conversation with a central
system — here a small fake one in the same process, built on the ocpp library; the run
against our real server is the end-to-end check."""

from __future__ import annotations

import asyncio
import random
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from itertools import pairwise

import pytest
from django.core.management.base import CommandError
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

from ocpp_bridge.management.commands.simulate_charger import Command, build_config
from ocpp_bridge.simulator import (
    SimulatedMeter,
    SimulatorConfig,
    SimulatorError,
    meter_value,
    run_simulator,
)
from ocpp_bridge.simulator import charger as charger_module

IDENTITY, PASSWORD = "SIM-1", "sim-password-00001"
AUTH = "Basic U0lNLTE6c2ltLXBhc3N3b3JkLTAwMDAx"  # SIM-1:sim-password-00001


# --- meter and options ------------------------------------------------------------


def test_meter_register_only_moves_forward_and_soc_stops_at_full():
    # given
    meter = SimulatedMeter(register_wh=1_000_000, rng=random.Random(7))
    meter.plug_in()

    # when: a long session, sampled every 5 minutes
    readings = [meter.advance(300) for _ in range(200)]

    # then
    energies = [r.energy_wh for r in readings]
    assert all(a <= b for a, b in pairwise(energies))
    assert energies[0] > 1_000_000
    assert readings[-1].soc_percent == 100 and readings[-1].power_w == 0
    assert all(r.power_w <= 7400 and 220 < r.voltage_v < 240 for r in readings)


def test_meter_value_reports_energy_power_soc_and_voltage_on_l1():
    reading = SimulatedMeter(register_wh=5000, rng=random.Random(1)).advance(60)

    value = meter_value(reading, "2025-01-01T00:00:00.000Z", "Sample.Periodic")

    by_measurand = {s["measurand"]: s for s in value["sampled_value"]}
    assert by_measurand["Energy.Active.Import.Register"]["unit"] == "Wh"
    assert by_measurand["Energy.Active.Import.Register"]["value"] == str(reading.energy_wh)
    assert by_measurand["Power.Active.Import"]["unit"] == "W"
    assert by_measurand["SoC"]["unit"] == "Percent"
    assert (by_measurand["Voltage"]["unit"], by_measurand["Voltage"]["phase"]) == ("V", "L1")


def parse(*argv: str) -> dict:
    return vars(Command().create_parser("manage.py", "simulate_charger").parse_args(argv))


def test_options_default_to_a_local_server_and_the_demo_tag():
    config = build_config(parse(IDENTITY, "--password", PASSWORD))

    assert config == SimulatorConfig(
        identity=IDENTITY, password=PASSWORD, url=f"ws://127.0.0.1:8000/ocpp/{IDENTITY}"
    )


def test_options_are_read_into_the_config():
    config = build_config(
        parse(
            IDENTITY,
            "--password",
            PASSWORD,
            "--url",
            "ws://h/ocpp/x",
            "--connectors",
            "4",
            "--id-tag",
            "TAG",
            "--heartbeat",
            "10",
            "--meter-interval",
            "2",
            "--session-seconds",
            "30",
            "--once",
        )
    )

    assert (config.url, config.connectors, config.id_tag) == ("ws://h/ocpp/x", 4, "TAG")
    assert (config.heartbeat, config.meter_interval, config.session_seconds) == (10, 2, 30)
    assert config.once


@pytest.mark.parametrize(
    "argv",
    [
        ("--password", PASSWORD, "--heartbeat", "0"),
        ("--password", PASSWORD, "--meter-interval", "-1"),
        (),  # no password
    ],
)
def test_options_refuse_nonsense(argv):
    with pytest.raises(CommandError):
        parse(IDENTITY, *argv)


def test_connector_count_is_bounded():
    with pytest.raises(CommandError, match="--connectors"):
        build_config(parse(IDENTITY, "--password", PASSWORD, "--connectors", "0"))


# --- a fake central system ------------------------------------------------------------


class FakeCentralSystem(ChargePoint):
    """Accepts everything and records what the charger sent, in order."""

    def __init__(self, connection, *, tag_status: str = "Accepted"):
        super().__init__("central", connection)
        self.received: list[tuple[str, dict]] = []
        self.tag_status = tag_status

    def _got(self, action: str, payload: dict):
        self.received.append((action, payload))

    def actions(self, action: str) -> list[dict]:
        return [p for a, p in self.received if a == action]

    @on(Action.boot_notification)
    def boot(self, **p):
        self._got("BootNotification", p)
        return call_result.BootNotification(
            current_time=datetime.now(UTC).isoformat(), interval=300, status="Accepted"
        )

    @on(Action.heartbeat)
    def heartbeat(self, **p):
        self._got("Heartbeat", p)
        return call_result.Heartbeat(current_time=datetime.now(UTC).isoformat())

    @on(Action.status_notification)
    def status(self, **p):
        self._got("StatusNotification", p)
        return call_result.StatusNotification()

    @on(Action.authorize)
    def authorize(self, **p):
        self._got("Authorize", p)
        return call_result.Authorize(id_tag_info={"status": self.tag_status})

    @on(Action.start_transaction)
    def start_transaction(self, **p):
        self._got("StartTransaction", p)
        return call_result.StartTransaction(
            transaction_id=41 + len(self.actions("StartTransaction")),
            id_tag_info={"status": "Accepted"},
        )

    @on(Action.meter_values)
    def meter_values(self, **p):
        self._got("MeterValues", p)
        return call_result.MeterValues()

    @on(Action.stop_transaction)
    def stop_transaction(self, **p):
        self._got("StopTransaction", p)
        return call_result.StopTransaction()


@asynccontextmanager
async def central_system(*, refuse: int | None = None, tag_status: str = "Accepted"):
    """Yields (url, the connected central systems: one per connection)."""
    systems: list[FakeCentralSystem] = []

    def check_handshake(connection, request):
        if refuse or request.headers.get("Authorization") != AUTH:
            return connection.respond(refuse or 401, "refused\n")
        return None

    async def handler(ws):
        system = FakeCentralSystem(ws, tag_status=tag_status)
        systems.append(system)
        try:
            await system.start()
        except ConnectionClosed:
            pass

    async with serve(
        handler, "127.0.0.1", 0, subprotocols=["ocpp1.6"], process_request=check_handshake
    ) as server:
        port = server.sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}/ocpp/{IDENTITY}", systems


def fast_config(url: str, **overrides) -> SimulatorConfig:
    options = {
        "identity": IDENTITY,
        "password": PASSWORD,
        "url": url,
        "heartbeat": 0.3,
        "meter_interval": 0.1,
        "session_seconds": 0.5,
        "pause_seconds": 60,
    }
    return SimulatorConfig(**{**options, **overrides})


async def until(predicate, timeout: float = 60.0):
    """Until `predicate` holds; the timeout only guards against a hang (a busy machine
    may be slow, never wrong: this failed once at 5 s with the suite under load)."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


@pytest.fixture(autouse=True)
def quick_unplug_and_reboot(monkeypatch):
    monkeypatch.setattr(charger_module, "UNPLUG_SECONDS", 0.05)
    monkeypatch.setattr(charger_module, "REBOOT_SECONDS", 0.05)


def statuses(system: FakeCentralSystem, connector: int) -> list[str]:
    return [
        p["status"] for p in system.actions("StatusNotification") if p["connector_id"] == connector
    ]


def test_once_boots_reports_status_and_charges_one_transaction():
    lines: list[str] = []

    async def scenario():
        async with central_system() as (url, systems):
            await run_simulator(fast_config(url, once=True), log=lines.append)
            return systems

    # when
    (system,) = asyncio.run(scenario())

    # then the conversation went in order
    order = [a for a, _ in system.received if a not in ("Heartbeat", "MeterValues")]
    assert order == [
        "BootNotification",
        *["StatusNotification"] * 3,
        "Authorize",
        "StatusNotification",
        "StartTransaction",
        "StatusNotification",
        "StopTransaction",
        "StatusNotification",
        "StatusNotification",
    ]
    boot = system.actions("BootNotification")[0]
    assert (boot["charge_point_vendor"], boot["charge_point_model"]) == ("EvPower", "Simulator")
    assert [statuses(system, n)[0] for n in (0, 1, 2)] == ["Available"] * 3
    assert statuses(system, 1)[1:] == ["Preparing", "Charging", "Finishing", "Available"]
    # and the energy register only went up, from meterStart to meterStop
    start, stop = system.actions("StartTransaction")[0], system.actions("StopTransaction")[0]
    energies = [start["meter_start"]] + [
        int(s["value"])
        for mv in system.actions("MeterValues")
        for m in mv["meter_value"]
        for s in m["sampled_value"]
        if s["measurand"] == "Energy.Active.Import.Register"
    ]
    assert len(energies) >= 3
    assert energies == sorted(energies) and energies[-1] <= stop["meter_stop"]
    assert stop["transaction_id"] == 42 and stop["reason"] == "Local"
    contexts = [m["sampled_value"][0]["context"] for m in stop["transaction_data"]]
    assert contexts == ["Transaction.Begin", "Transaction.End"]
    # one log line per message, with the answer
    assert any(
        line.startswith("→ StartTransaction") and '"transactionId":42' in line for line in lines
    )


def test_refused_credentials_stop_with_a_clear_message():
    async def scenario():
        async with central_system() as (url, _):
            await run_simulator(
                SimulatorConfig(identity=IDENTITY, password="wrong-password-0001", url=url),
                log=print,
            )

    with pytest.raises(SimulatorError, match="HTTP 401"):
        asyncio.run(scenario())


def test_unknown_station_stops_with_a_clear_message():
    async def scenario():
        async with central_system(refuse=404) as (url, _):
            await run_simulator(fast_config(url), log=print)

    with pytest.raises(SimulatorError, match="HTTP 404.*station_add"):
        asyncio.run(scenario())


def test_once_fails_when_the_tag_is_refused():
    async def scenario():
        async with central_system(tag_status="Invalid") as (url, _):
            await run_simulator(fast_config(url, once=True), log=print)

    with pytest.raises(SimulatorError, match="DEMO-TAG-1 was not accepted"):
        asyncio.run(scenario())


def test_answers_calls_from_the_central_system():
    answers: dict[str, object] = {}

    async def scenario():
        async with central_system() as (url, systems):
            config = fast_config(url, session_seconds=60)
            charger = asyncio.create_task(run_simulator(config, log=lambda line: None))
            await until(lambda: systems and systems[0].actions("StartTransaction"))
            cs = systems[0]
            answers["config"] = await cs.call(call.GetConfiguration())
            answers["unknown"] = await cs.call(call.GetConfiguration(key=["Nope"]))
            answers["change"] = await cs.call(
                call.ChangeConfiguration(key="HeartbeatInterval", value="0.2")
            )
            answers["read-only"] = await cs.call(
                call.ChangeConfiguration(key="NumberOfConnectors", value="9")
            )
            answers["unsupported"] = await cs.call(call.ChangeConfiguration(key="X", value="1"))
            answers["busy start"] = await cs.call(call.RemoteStartTransaction(id_tag="T"))
            answers["trigger"] = await cs.call(
                call.TriggerMessage(requested_message="StatusNotification", connector_id=1)
            )
            answers["unavailable"] = await cs.call(
                call.ChangeAvailability(connector_id=2, type="Inoperative")
            )
            await until(lambda: statuses(cs, 2)[-1] == "Unavailable")
            answers["stop"] = await cs.call(call.RemoteStopTransaction(transaction_id=42))
            await until(lambda: cs.actions("StopTransaction"))
            answers["stop reason"] = cs.actions("StopTransaction")[0]["reason"]
            await until(lambda: statuses(cs, 1)[-1] == "Available")
            answers["start"] = await cs.call(
                call.RemoteStartTransaction(id_tag="REMOTE-1", connector_id=1)
            )
            await until(lambda: len(cs.actions("StartTransaction")) == 2)
            answers["remote tag"] = cs.actions("StartTransaction")[1]["id_tag"]
            answers["authorized"] = len(cs.actions("Authorize"))
            answers["unlock"] = await cs.call(call.UnlockConnector(connector_id=1))
            await until(lambda: len(cs.actions("StopTransaction")) == 2)
            answers["unlock reason"] = cs.actions("StopTransaction")[1]["reason"]
            answers["reset"] = await cs.call(call.Reset(type="Soft"))
            await until(lambda: len(systems) == 2 and systems[1].actions("BootNotification"))
            charger.cancel()

    asyncio.run(scenario())

    keys = {k["key"]: k for k in answers["config"].configuration_key}
    assert keys["HeartbeatInterval"] == {
        "key": "HeartbeatInterval",
        "value": "0.3",
        "readonly": False,
    }
    assert keys["NumberOfConnectors"]["readonly"] is True
    assert answers["unknown"].unknown_key == ["Nope"]
    assert answers["change"].status == "Accepted"
    assert answers["read-only"].status == "Rejected"
    assert answers["unsupported"].status == "NotSupported"
    assert answers["busy start"].status == "Rejected"  # connector 1 is charging
    assert answers["trigger"].status == "Accepted"
    assert answers["unavailable"].status == "Accepted"
    assert (answers["stop"].status, answers["stop reason"]) == ("Accepted", "Remote")
    assert (answers["start"].status, answers["remote tag"]) == ("Accepted", "REMOTE-1")
    assert answers["authorized"] == 1  # remote starts skip Authorize (AuthorizeRemoteTxRequests)
    assert (answers["unlock"].status, answers["unlock reason"]) == ("Unlocked", "UnlockCommand")
    assert answers["reset"].status == "Accepted"


def test_reconnects_and_resumes_the_open_transaction_after_a_drop():
    async def scenario():
        async with central_system() as (url, systems):
            # long enough that the reconnect (with backoff) lands mid-session even on a
            # busy machine: the point is the transaction surviving the drop
            config = fast_config(url, session_seconds=5)
            charger = asyncio.create_task(run_simulator(config, log=lambda line: None))
            # the drop comes once the charger HAS its transaction id (it reports Charging
            # after the answer): the central system merely receiving the start is too early
            await until(lambda: systems and "Charging" in statuses(systems[0], 1))
            await systems[0]._connection.close()  # the network drops mid-session
            await until(
                lambda: len(systems) == 2 and systems[1].actions("StopTransaction"), timeout=20
            )
            charger.cancel()
            return systems

    first, second = asyncio.run(scenario())

    assert first.actions("StartTransaction") and not first.actions("StopTransaction")
    assert statuses(second, 1)[0] == "Charging"  # still charging after the reconnect
    assert second.actions("StopTransaction")[0]["transaction_id"] == 42
    assert not second.actions("StartTransaction")


def test_a_driver_can_start_on_the_free_connector_while_the_simulator_charges():
    """The simulator's own sessions use every connector but the last: a remote start on
    the last one runs beside them (issue: the demo's second connector refused starts)."""
    answers = {}

    async def scenario():
        async with central_system() as (url, systems):
            config = fast_config(url, session_seconds=60)
            charger = asyncio.create_task(run_simulator(config, log=lambda line: None))
            await until(lambda: systems and "Charging" in statuses(systems[0], 1))
            cs = systems[0]
            answers["start"] = await cs.call(
                call.RemoteStartTransaction(id_tag="APP-1", connector_id=2)
            )
            await until(lambda: "Charging" in statuses(cs, 2))
            answers["again"] = await cs.call(
                call.RemoteStartTransaction(id_tag="APP-2", connector_id=2)
            )
            answers["stop"] = await cs.call(call.RemoteStopTransaction(transaction_id=43))
            await until(lambda: cs.actions("StopTransaction"))
            answers["stops"] = [
                (p["transaction_id"], p["reason"]) for p in cs.actions("StopTransaction")
            ]
            answers["starts"] = [
                (p["connector_id"], p["id_tag"]) for p in cs.actions("StartTransaction")
            ]
            charger.cancel()

    asyncio.run(scenario())

    assert answers["start"].status == "Accepted"
    assert answers["again"].status == "Rejected"  # connector 2 is busy now
    assert answers["starts"] == [(1, "DEMO-TAG-1"), (2, "APP-1")]
    # only the driver's transaction stopped; the simulator's own one goes on
    assert answers["stops"] == [(43, "Remote")]


def test_rfid_connectors_option_picks_where_the_simulator_charges_by_itself():
    assert build_config(parse(IDENTITY, "--password", PASSWORD)).own_connectors == (1,)
    four = build_config(parse(IDENTITY, "--password", PASSWORD, "--connectors", "4"))
    assert four.own_connectors == (1, 2, 3)
    chosen = build_config(parse(IDENTITY, "--password", PASSWORD, "--rfid-connectors", "2,1"))
    assert chosen.own_connectors == (1, 2)
    assert (
        build_config(
            parse(IDENTITY, "--password", PASSWORD, "--rfid-connectors", "none")
        ).own_connectors
        == ()
    )
    with pytest.raises(CommandError, match="--rfid-connectors"):
        build_config(parse(IDENTITY, "--password", PASSWORD, "--rfid-connectors", "3"))


def test_after_a_power_cut_the_interrupted_transaction_ends_with_power_loss(tmp_path):
    """A restart mid-charge (the demo stopped with Ctrl-C, say) must not leave the session
    charging forever: like a real charger, the simulator stores its open transaction and
    ends it after the restart at the last reading it stored."""
    state_file = tmp_path / "charger.json"

    async def scenario():
        async with central_system() as (url, systems):
            config = fast_config(url, session_seconds=60, state_file=str(state_file))
            first = asyncio.create_task(run_simulator(config, log=lambda line: None))
            await until(lambda: systems and len(systems[0].actions("MeterValues")) >= 2)
            first.cancel()  # the power goes: nothing more is sent
            await asyncio.gather(first, return_exceptions=True)
            second = asyncio.create_task(run_simulator(config, log=lambda line: None))
            await until(
                lambda: len(systems) == 2 and len(systems[1].actions("StartTransaction")) == 1
            )
            second.cancel()
            await asyncio.gather(second, return_exceptions=True)
            return systems

    before, after = asyncio.run(scenario())

    last_sent = before.actions("MeterValues")[-1]["meter_value"][0]
    stored_wh = int(last_sent["sampled_value"][0]["value"])
    (stop,) = after.actions("StopTransaction")
    assert (stop["transaction_id"], stop["reason"]) == (42, "PowerLoss")
    assert (stop["meter_stop"], stop["timestamp"]) == (stored_wh, last_sent["timestamp"])
    order = [a for a, _ in after.received if a != "Heartbeat"]
    assert order[:2] == ["BootNotification", "StopTransaction"]  # before anything new
    # the register never goes backwards across the restart
    assert after.actions("StartTransaction")[0]["meter_start"] >= stored_wh


def test_shutdown_ends_open_transactions_before_the_simulator_exits(tmp_path):
    state_file = tmp_path / "charger.json"

    async def scenario():
        async with central_system() as (url, systems):
            shutdown = asyncio.Event()
            config = fast_config(url, session_seconds=60, state_file=str(state_file))
            charger = asyncio.create_task(
                run_simulator(config, log=lambda line: None, shutdown=shutdown)
            )
            await until(lambda: systems and "Charging" in statuses(systems[0], 1))
            shutdown.set()
            await asyncio.wait_for(charger, 10)  # returns by itself
            return systems

    (system,) = asyncio.run(scenario())

    assert [(p["transaction_id"], p["reason"]) for p in system.actions("StopTransaction")] == [
        (42, "Reboot")
    ]
    assert '"transactions": []' in state_file.read_text()  # nothing left to replay
