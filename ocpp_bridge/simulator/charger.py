"""One connection's worth of charger: boot, statuses, heartbeats and transactions."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ocpp.charge_point import remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.exceptions import NotImplementedError as OcppNotImplemented
from ocpp.exceptions import NotSupportedError, OCPPError
from ocpp.v16 import ChargePoint, call
from ocpp.v16.enums import (
    AuthorizationStatus,
    ChargePointErrorCode,
    ChargePointStatus,
    Measurand,
    Reason,
    RegistrationStatus,
)
from websockets.exceptions import ConnectionClosed

from .config import SimulatorConfig, SimulatorError
from .csms_calls import CsmsCallsMixin
from .meter import MeterReading, SimulatedMeter, meter_value, now_iso

VENDOR, MODEL, FIRMWARE = "EvPower", "Simulator", "sim-1.0"
REBOOT_SECONDS = 2.0
UNPLUG_SECONDS = 2.0  # between Finishing and Available: the driver unplugs
LOG_CHARS = 400

Log = Callable[[str], None]


class _QuietUnhandled(logging.Filter):
    """The ocpp library logs a traceback for every call it has no handler for; answering
    NotImplemented is the expected behaviour of this simulator, not an error."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, OcppNotImplemented | NotSupportedError)


_lib_log = logging.getLogger("evpower.simulator.ocpp")
_lib_log.setLevel(logging.ERROR)  # we log every message ourselves, one line each
_lib_log.addFilter(_QuietUnhandled())


@dataclass
class OpenTransaction:
    transaction_id: int
    connector: int
    id_tag: str
    begin: dict  # the Transaction.Begin meter value, repeated in StopTransaction
    ends_at: float  # time.monotonic()
    metered_at: float


@dataclass
class ChargerState:
    """What a charger keeps across reconnections and reboots."""

    meters: dict[int, SimulatedMeter]
    configuration: dict[str, tuple[str, bool]]  # key -> (value, read-only)
    unavailable: set[int] = field(default_factory=set)  # connector ids; 0 = whole station
    open_tx: OpenTransaction | None = None
    booted: bool = False

    @classmethod
    def new(cls, config: SimulatorConfig) -> ChargerState:
        register = int(time.time()) // 10  # a plausible lifetime total, growing run to run
        connectors = range(1, config.connectors + 1)
        sampled = (Measurand.energy_active_import_register, Measurand.power_active_import,
                   Measurand.soc, Measurand.voltage)
        return cls(
            meters={n: SimulatedMeter(register_wh=register) for n in connectors},
            configuration={
                "HeartbeatInterval": (f"{config.heartbeat:g}", False),
                "MeterValueSampleInterval": (f"{config.meter_interval:g}", False),
                "MeterValuesSampledData": (",".join(sampled), True),
                "NumberOfConnectors": (str(config.connectors), True),
                "AuthorizeRemoteTxRequests": ("false", True),
                "SupportedFeatureProfiles": ("Core,RemoteTrigger", True),
            })

    def seconds(self, key: str) -> float:
        return float(self.configuration[key][0])


def brief(payload) -> str:
    """A payload as one short line; sampled values as `Measurand[.phase]=value unit`."""
    data = payload if isinstance(payload, dict) else remove_nones(serialize_as_dict(payload))
    data = dict(data)
    for key in ("meter_value", "transaction_data"):
        if key in data:
            data[key] = [{"timestamp": mv["timestamp"], "sampled_value": [
                f"{sv.get('measurand', '')}{'.' + sv['phase'] if sv.get('phase') else ''}="
                f"{sv['value']}{sv.get('unit', '')}" for sv in mv["sampled_value"]]}
                for mv in data[key]]
    text = json.dumps(snake_to_camel_case(data), separators=(",", ":"), default=str)
    return text if len(text) <= LOG_CHARS else text[:LOG_CHARS - 3] + "..."


class SimulatedChargePoint(CsmsCallsMixin, ChargePoint):
    """`serve` returns "done" (once mode finished) or "reboot" (after a Reset); a lost
    connection surfaces as an exception."""

    def __init__(self, config: SimulatorConfig, connection, state: ChargerState, log: Log):
        super().__init__(config.identity, connection, response_timeout=30, logger=_lib_log)
        self.config, self.state, self.log = config, state, log
        self.statuses: dict[int, str] = {}
        self.remote_starts: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
        self.stop_reason: str | None = None
        self.reboot_type: str | None = None
        self._signal = asyncio.Event()  # a call from the central system wants attention
        self._tasks: set[asyncio.Task] = set()

    # --- talking to the central system ------------------------------------------

    async def send(self, request):
        action = type(request).__name__
        try:
            response = await self.call(request, suppress=False)
        except OCPPError as exc:
            self.log(f"→ {action} {brief(request)}  ← CALLERROR {exc.code}: {exc.description}")
            raise
        self.log(f"→ {action} {brief(request)}  ← {brief(response)}")
        return response

    def answer(self, action: str, request: dict, result):
        """Log a call from the central system and the answer we give."""
        self.log(f"← {action} {brief(request)}  → {brief(result)}")
        return result

    def boot_request(self) -> call.BootNotification:
        return call.BootNotification(
            charge_point_vendor=VENDOR, charge_point_model=MODEL,
            charge_point_serial_number=f"SIM-{self.config.identity}"[:25],
            firmware_version=FIRMWARE)

    async def status(self, connector: int, status: str) -> None:
        self.statuses[connector] = status
        await self.send(call.StatusNotification(
            connector_id=connector, error_code=ChargePointErrorCode.no_error, status=status,
            timestamp=now_iso()))

    def idle_status(self, connector: int) -> str:
        if connector in self.state.unavailable or 0 in self.state.unavailable:
            return ChargePointStatus.unavailable
        return ChargePointStatus.available

    # --- the charger's life on this connection ------------------------------------

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
            return main.result()  # raises what the charging flow raised
        receiver.result()  # raises ConnectionClosed
        raise ConnectionError("connection ended")

    async def run(self) -> str:
        await self.boot()
        heartbeat = asyncio.create_task(self._heartbeats())
        try:
            await self.status(0, self.idle_status(0))
            tx = self.state.open_tx
            for n in range(1, self.config.connectors + 1):
                charging = tx is not None and tx.connector == n  # resumed after a drop
                await self.status(n, ChargePointStatus.charging if charging else
                                  self.idle_status(n))
            return await self._charge()
        finally:
            heartbeat.cancel()

    async def boot(self) -> None:
        while True:
            result = await self.send(self.boot_request())
            if result.status == RegistrationStatus.accepted:
                self.state.booted = True
                return
            wait = result.interval or self.state.seconds("HeartbeatInterval")
            self.log(f"registration {result.status}: BootNotification again in {wait:g} s")
            await asyncio.sleep(wait)

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.state.seconds("HeartbeatInterval"))
            try:
                await self.send(call.Heartbeat())
            except (OCPPError, TimeoutError) as exc:
                self.log(f"heartbeat failed: {exc}")
            except ConnectionClosed:
                return  # the receiver reports the lost connection

    async def _charge(self) -> str:
        first = True
        while True:
            if self.state.open_tx is None:
                request = await self._next_start(pause=0 if first else self.config.pause_seconds)
                first = False
                if request is None:
                    return await self._reboot()
                connector, id_tag, remote = request
                if not await self.start_transaction(connector, id_tag, authorize=not remote):
                    continue
            await self.run_transaction()
            if self.config.once:
                return "done"
            if self.reboot_type:
                return await self._reboot()

    async def wait(self, seconds: float) -> None:
        """Sleep, waking early when a call from the central system wants attention."""
        try:
            await asyncio.wait_for(self._signal.wait(), max(seconds, 0.0))
        except TimeoutError:
            pass
        self._signal.clear()

    def poke(self) -> None:
        self._signal.set()

    async def _next_start(self, pause: float) -> tuple[int, str, bool] | None:
        """The next transaction (connector, id tag, remote?): a remote start, else our own
        after the pause. None when a reset asks for a reboot."""
        start_at = time.monotonic() + pause
        while True:
            if self.reboot_type:
                return None
            if not self.remote_starts.empty():
                return (*self.remote_starts.get_nowait(), True)
            left = start_at - time.monotonic()
            if left <= 0 and self.idle_status(1) == ChargePointStatus.available:
                return 1, self.config.id_tag, False
            await self.wait(left if left > 0 else max(self.config.pause_seconds, 1.0))

    async def start_transaction(self, connector: int, id_tag: str, *, authorize: bool) -> bool:
        if authorize:
            result = await self.send(call.Authorize(id_tag=id_tag))
            if result.id_tag_info["status"] != AuthorizationStatus.accepted:
                self._tag_refused(id_tag, result.id_tag_info["status"])
                return False
        await self.status(connector, ChargePointStatus.preparing)
        meter = self.state.meters[connector]
        meter.plug_in()
        begin, stamp = meter.reading(), now_iso()
        result = await self.send(call.StartTransaction(
            connector_id=connector, id_tag=id_tag, meter_start=begin.energy_wh, timestamp=stamp))
        now = time.monotonic()
        self.state.open_tx = OpenTransaction(
            transaction_id=result.transaction_id, connector=connector, id_tag=id_tag,
            begin=meter_value(begin, stamp, "Transaction.Begin"),
            ends_at=now + self.config.session_seconds, metered_at=now)
        if result.id_tag_info["status"] != AuthorizationStatus.accepted:
            await self.stop_transaction(Reason.de_authorized)  # refused after all: end it
            self._tag_refused(id_tag, result.id_tag_info["status"])
            return False
        await self.status(connector, ChargePointStatus.charging)
        return True

    def _tag_refused(self, id_tag: str, status: str) -> None:
        message = f"id tag {id_tag} was not accepted ({status})"
        if self.config.once:
            raise SimulatorError(f"{message}: create it (e.g. manage.py seed_demo) or pass "
                                 f"--id-tag")
        self.log(f"{message}; trying again in {self.config.pause_seconds:g} s")

    async def run_transaction(self) -> None:
        """Meter the open transaction until its time is up or something stops it."""
        tx = self.state.open_tx
        while self.stop_requested() is None:
            left = tx.ends_at - time.monotonic()
            if left <= 0:
                break
            await self.wait(min(self.state.seconds("MeterValueSampleInterval"), left))
            if self.stop_requested() is not None or time.monotonic() >= tx.ends_at:
                break
            await self.send(call.MeterValues(
                connector_id=tx.connector, transaction_id=tx.transaction_id,
                meter_value=[meter_value(self.meter(tx), now_iso(), "Sample.Periodic")]))
        await self.stop_transaction(self.stop_requested() or Reason.local)

    def stop_requested(self) -> str | None:
        if self.stop_reason is None and self.reboot_type is not None:
            return Reason.soft_reset if self.reboot_type == "Soft" else Reason.hard_reset
        return self.stop_reason

    def meter(self, tx: OpenTransaction) -> MeterReading:
        """Advance the transaction's meter by the real time since its last reading."""
        now = time.monotonic()
        reading = self.state.meters[tx.connector].advance(now - tx.metered_at)
        tx.metered_at = now
        return reading

    async def stop_transaction(self, reason: str) -> None:
        tx = self.state.open_tx
        end, stamp = self.meter(tx), now_iso()
        await self.send(call.StopTransaction(
            meter_stop=end.energy_wh, timestamp=stamp, transaction_id=tx.transaction_id,
            reason=reason, id_tag=tx.id_tag,
            transaction_data=[tx.begin, meter_value(end, stamp, "Transaction.End")]))
        self.state.open_tx, self.stop_reason = None, None
        await self.status(tx.connector, ChargePointStatus.finishing)
        await asyncio.sleep(min(UNPLUG_SECONDS, self.config.meter_interval))
        await self.status(tx.connector, self.idle_status(tx.connector))
        if 0 in self.state.unavailable:  # a ChangeAvailability scheduled for the station
            await self.status(0, ChargePointStatus.unavailable)

    async def _reboot(self) -> str:
        self.log(f"rebooting ({self.reboot_type} reset)")
        await asyncio.sleep(REBOOT_SECONDS)
        return "reboot"

    def spawn(self, coro) -> None:
        """Send something on our own initiative without blocking the receive loop."""
        async def guarded():
            try:
                await coro
            except (OCPPError, TimeoutError, ConnectionClosed) as exc:
                self.log(f"could not send a triggered message: {exc}")

        task = asyncio.ensure_future(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
