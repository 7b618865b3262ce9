"""The simulated charger speaking OCPP 2.0.1 (`simulate_charger --ocpp 2.0.1`): boot,
statuses, heartbeats, its own RFID sessions on its own EVSEs, and a driver's app sessions
started and stopped by the central system, all reported as TransactionEvents with sequence
numbers. The meters and cars are the 1.6 simulator's (meter.py, state.py).

Open transactions live in the charger's state, as in the 1.6 simulator: a dropped
connection resumes them (the event numbers go on), and with a state file a power cut
ends each with stoppedReason PowerLoss at the last reading stored before it."""

from __future__ import annotations

import asyncio
import math
import time
import uuid

from ocpp.charge_point import remove_nones, serialize_as_dict
from ocpp.exceptions import OCPPError
from ocpp.routing import on
from ocpp.v201 import ChargePoint, call, call_result

from .charger import Log, _lib_log
from .config import SimulatorConfig
from .meter import MeterReading, now_iso
from .state import ChargerState, OpenTransaction

VENDOR, MODEL, FIRMWARE = "EvPower", "Simulator-201", "sim-2.0"


def meter_value(reading: MeterReading, context: str) -> dict:
    """One 2.0.1 meterValue: numbers, units in unitOfMeasure (snake_case for the library)."""

    def sample(value, measurand: str, unit: str, **extra) -> dict:
        return {
            "value": value,
            "context": context,
            "measurand": measurand,
            "unit_of_measure": {"unit": unit},
            **extra,
        }

    return {
        "timestamp": now_iso(),
        "sampled_value": [
            sample(reading.energy_wh, "Energy.Active.Import.Register", "Wh", location="Outlet"),
            sample(reading.power_w, "Power.Active.Import", "W", location="Outlet"),
            sample(reading.soc_percent, "SoC", "Percent", location="EV"),
            sample(reading.voltage_v, "Voltage", "V", phase="L1"),
        ],
    }


# stoppedReason -> the Ended event's triggerReason
ENDED_BY = {
    "Remote": "RemoteStop",
    "ImmediateReset": "ResetCommand",
    "PowerLoss": "AbnormalCondition",
}


class SimulatedStation201(ChargePoint):
    """`serve` returns "done" (once mode), "reboot" (after a Reset) or "shutdown"."""

    def __init__(
        self,
        config: SimulatorConfig,
        connection,
        state: ChargerState,
        log: Log,
        shutdown: asyncio.Event | None = None,
    ):
        super().__init__(config.identity, connection, response_timeout=30, logger=_lib_log)
        self.config, self.state, self.log = config, state, log
        self.shutdown = shutdown or asyncio.Event()
        self.transactions = state.open_txs  # EVSE -> its open transaction
        self.stop_requested: dict[int, str] = {}  # EVSE -> stoppedReason
        self.reboot = False
        self.once_done = False
        self.heartbeat = config.heartbeat
        self._tasks: set[asyncio.Task] = set()

    # --- talking to the central system ------------------------------------------

    async def send(self, request):
        action = type(request).__name__
        try:
            response = await self.call(request, suppress=False)
        except OCPPError as exc:
            self.log(f"→ {action}  ← CALLERROR {exc.code}: {exc.description}")
            raise
        shown = remove_nones(serialize_as_dict(response))
        self.log(f"→ {action} {brief(request)}  ← {shown}")
        return response

    async def status(self, evse: int, status: str) -> None:
        await self.send(
            call.StatusNotification(
                timestamp=now_iso(), connector_status=status, evse_id=evse, connector_id=1
            )
        )

    async def event(self, kind: str, evse: int, trigger: str, value: dict, **extra):
        tx = self.transactions[evse]
        tx.seq_no += 1
        self.state.save()  # an event number is never used twice, even across a power cut
        info = {"transaction_id": tx.transaction_id, **extra.pop("info", {})}
        return await self.send(
            call.TransactionEvent(
                event_type=kind,
                timestamp=now_iso(),
                trigger_reason=trigger,
                seq_no=tx.seq_no,
                transaction_info=info,
                evse={"id": evse, "connector_id": 1},
                meter_value=[value],
                **extra,
            )
        )

    # --- the station's life on this connection ------------------------------------

    async def serve(self) -> str:
        receiver = asyncio.create_task(self.start())
        main = asyncio.create_task(self.run())
        try:
            await asyncio.wait({receiver, main}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (receiver, main, *self._tasks):
                task.cancel()
            await asyncio.gather(receiver, main, *self._tasks, return_exceptions=True)
        if main.done() and not main.cancelled():
            return main.result()
        receiver.result()
        raise ConnectionError("connection ended")

    async def run(self) -> str:
        await self.boot()
        await self._end_interrupted()
        for evse in range(1, self.config.connectors + 1):
            await self.status(evse, "Occupied" if evse in self.transactions else "Available")
        for evse in list(self.transactions):  # resumed after a dropped connection
            self.spawn(self._run(evse))
        self.spawn(self._heartbeats())
        own = [self.spawn(self._own_sessions(evse)) for evse in self.config.own_connectors]
        while True:
            if self.reboot:
                await self._end_all("ImmediateReset")
                return "reboot"
            if self.shutdown.is_set():
                await self._end_all("Reboot")
                return "shutdown"
            if self.config.once and own and all(task.done() for task in own):
                return "done"
            await asyncio.sleep(0.2)

    async def boot(self) -> None:
        while True:
            result = await self.send(
                call.BootNotification(
                    charging_station={
                        "model": MODEL,
                        "vendor_name": VENDOR,
                        "serial_number": f"SIM-{self.config.identity}"[:25],
                        "firmware_version": FIRMWARE,
                    },
                    reason="PowerUp",
                )
            )
            if result.status == "Accepted":
                self.heartbeat = result.interval or self.heartbeat
                self.state.booted = True
                return
            wait = result.interval or self.config.heartbeat
            self.log(f"registration {result.status}: BootNotification again in {wait:g} s")
            await asyncio.sleep(wait)

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            await self.send(call.Heartbeat())

    def spawn(self, coroutine) -> asyncio.Task:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --- transactions -------------------------------------------------------------

    async def _own_sessions(self, evse: int) -> None:
        """The station's own card, again and again (once: one session)."""
        while not self.shutdown.is_set():
            if evse not in self.transactions:
                answer = await self.send(
                    call.Authorize(id_token={"id_token": self.config.id_tag, "type": "ISO14443"})
                )
                if answer.id_token_info["status"] == "Accepted":
                    await self._transaction(
                        evse,
                        self.config.id_tag,
                        "ISO14443",
                        "Authorized",
                        seconds=self.config.session_seconds,
                    )
                else:
                    self.log(f"card {self.config.id_tag} refused: {answer.id_token_info}")
            if self.config.once:
                return
            await asyncio.sleep(self.config.pause_seconds)

    async def _transaction(
        self,
        evse: int,
        token: str,
        kind: str,
        trigger: str,
        *,
        seconds: float | None = None,
        remote_start_id: int | None = None,
    ) -> None:
        meter = self.state.meters[evse]
        meter.plug_in()
        begin = meter_value(meter.reading(), "Transaction.Begin")
        now = time.monotonic()
        self.transactions[evse] = OpenTransaction(
            transaction_id=f"SIM-{uuid.uuid4().hex[:16]}",
            connector=evse,
            id_tag=token,
            begin=begin,
            ends_at=math.inf if seconds is None else now + seconds,
            metered_at=now,
        )
        await self.status(evse, "Occupied")
        info = {"charging_state": "Charging"}
        if remote_start_id is not None:
            info["remote_start_id"] = remote_start_id
        await self.event(
            "Started", evse, trigger, begin, id_token={"id_token": token, "type": kind}, info=info
        )
        await self._run(evse)

    async def _run(self, evse: int) -> None:
        """Meter the EVSE's open transaction until its time is up or something stops it."""
        tx, meter = self.transactions[evse], self.state.meters[evse]
        while evse not in self.stop_requested and time.monotonic() < tx.ends_at:
            await asyncio.sleep(min(self.config.meter_interval, tx.ends_at - time.monotonic()))
            if evse in self.stop_requested:
                break
            reading = meter.advance(self.config.meter_interval)
            tx.last = meter_value(reading, "Sample.Periodic")  # saved with the event number
            await self.event("Updated", evse, "MeterValuePeriodic", tx.last)
        reason = self.stop_requested.pop(evse, "Local")
        await self._end(evse, reason, meter_value(meter.reading(), "Transaction.End"))

    async def _end(self, evse: int, reason: str, value: dict) -> None:
        trigger = ENDED_BY.get(reason, "StopAuthorized")
        info = {"stopped_reason": reason, "charging_state": "Idle"}
        await self.event("Ended", evse, trigger, value, info=info)
        del self.transactions[evse]
        self.state.save()
        await self.status(evse, "Available")

    async def _end_interrupted(self) -> None:
        """Transactions a power cut ended (restored from the state file): each ends with
        stoppedReason PowerLoss at the last reading stored before the power went."""
        for evse, tx in sorted(self.transactions.items()):
            if tx.interrupted:
                last = tx.last or tx.begin
                samples = [{**s, "context": "Transaction.End"} for s in last["sampled_value"]]
                await self._end(evse, "PowerLoss", {**last, "sampled_value": samples})

    async def _end_all(self, reason: str) -> None:
        for evse in list(self.transactions):
            self.stop_requested[evse] = reason
        while self.transactions:
            await asyncio.sleep(0.1)

    # --- calls from the central system --------------------------------------------

    @on("RequestStartTransaction")
    async def on_request_start(self, id_token, remote_start_id, evse_id=None, **rest):
        evse = evse_id or next(
            (n for n in range(1, self.config.connectors + 1) if n not in self.transactions), 0
        )
        if not evse or evse in self.transactions or evse > self.config.connectors:
            return call_result.RequestStartTransaction(status="Rejected")
        self.spawn(
            self._transaction(
                evse,
                id_token["id_token"],
                id_token["type"],
                "RemoteStart",
                remote_start_id=remote_start_id,
            )
        )
        return call_result.RequestStartTransaction(status="Accepted")

    @on("RequestStopTransaction")
    async def on_request_stop(self, transaction_id, **rest):
        evse = next(
            (n for n, tx in self.transactions.items() if tx.transaction_id == transaction_id), None
        )
        if evse is None:
            return call_result.RequestStopTransaction(status="Rejected")
        self.stop_requested[evse] = "Remote"
        return call_result.RequestStopTransaction(status="Accepted")

    @on("Reset")
    async def on_reset(self, type, evse_id=None, **rest):  # noqa: A002 - the OCPP field name
        self.reboot = True
        return call_result.Reset(status="Accepted")

    @on("UnlockConnector")
    async def on_unlock(self, evse_id, connector_id, **rest):
        return call_result.UnlockConnector(status="Unlocked")

    @on("ChangeAvailability")
    async def on_change_availability(self, operational_status, evse=None, **rest):
        return call_result.ChangeAvailability(status="Accepted")

    @on("ClearCache")
    async def on_clear_cache(self, **rest):
        return call_result.ClearCache(status="Accepted")

    @on("TriggerMessage")
    async def on_trigger(self, requested_message, evse=None, **rest):
        if requested_message == "Heartbeat":
            self.spawn(self.send(call.Heartbeat()))
        elif requested_message == "StatusNotification":
            evse_id = (evse or {}).get("id", 1)
            busy = evse_id in self.transactions
            self.spawn(self.status(evse_id, "Occupied" if busy else "Available"))
        else:
            return call_result.TriggerMessage(status="NotImplemented")
        return call_result.TriggerMessage(status="Accepted")

    @on("GetVariables")
    async def on_get_variables(self, get_variable_data, **rest):
        known = {("OCPPCommCtrlr", "HeartbeatInterval"): str(int(self.heartbeat))}
        return call_result.GetVariables(
            get_variable_result=[
                {
                    "attribute_status": "Accepted" if value is not None else "UnknownVariable",
                    "component": item["component"],
                    "variable": item["variable"],
                    **({"attribute_value": value} if value is not None else {}),
                }
                for item in get_variable_data
                for value in [known.get((item["component"]["name"], item["variable"]["name"]))]
            ]
        )

    @on("SetVariables")
    async def on_set_variables(self, set_variable_data, **rest):
        results = []
        for item in set_variable_data:
            name = (item["component"]["name"], item["variable"]["name"])
            status = "Accepted"
            if name == ("OCPPCommCtrlr", "HeartbeatInterval"):
                self.heartbeat = float(item["attribute_value"])
            elif name == ("SecurityCtrlr", "BasicAuthPassword"):
                self.log("new Basic-auth password accepted (used at the next connection)")
                self.state.password = item["attribute_value"]
            else:
                status = "UnknownVariable"
            results.append(
                {
                    "attribute_status": status,
                    "component": item["component"],
                    "variable": item["variable"],
                }
            )
        return call_result.SetVariables(set_variable_result=results)

    @on("GetTransactionStatus")
    async def on_transaction_status(self, transaction_id=None, **rest):
        open_ids = {tx.transaction_id for tx in self.transactions.values()}
        ongoing = transaction_id in open_ids if transaction_id else None
        return call_result.GetTransactionStatus(messages_in_queue=False, ongoing_indicator=ongoing)

    @on("DataTransfer")
    async def on_data_transfer(self, vendor_id, **rest):
        return call_result.DataTransfer(status="UnknownVendorId")


def brief(request) -> str:
    data = remove_nones(serialize_as_dict(request))
    data.pop("meter_value", None)
    return str(data)[:300]
