"""One connection's worth of charger: boot, statuses, heartbeats and transactions."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable

from ocpp.charge_point import remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.exceptions import NotImplementedError as OcppNotImplemented
from ocpp.exceptions import NotSupportedError, OCPPError
from ocpp.v16 import ChargePoint, call
from ocpp.v16.enums import (
    AuthorizationStatus,
    ChargePointErrorCode,
    ChargePointStatus,
    Reason,
    RegistrationStatus,
)
from websockets.exceptions import ConnectionClosed

from .config import SimulatorConfig, SimulatorError
from .csms_calls import CsmsCallsMixin
from .meter import MeterReading, meter_value, now_iso
from .state import ChargerState, OpenTransaction

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


def brief(payload) -> str:
    """A payload as one short line; sampled values as `Measurand[.phase]=value unit`."""
    data = payload if isinstance(payload, dict) else remove_nones(serialize_as_dict(payload))
    data = dict(data)
    for key in ("meter_value", "transaction_data"):
        if key in data:
            data[key] = [
                {
                    "timestamp": mv["timestamp"],
                    "sampled_value": [
                        f"{sv.get('measurand', '')}{'.' + sv['phase'] if sv.get('phase') else ''}="
                        f"{sv['value']}{sv.get('unit', '')}"
                        for sv in mv["sampled_value"]
                    ],
                }
                for mv in data[key]
            ]
    text = json.dumps(snake_to_camel_case(data), separators=(",", ":"), default=str)
    return text if len(text) <= LOG_CHARS else text[: LOG_CHARS - 3] + "..."


class SimulatedChargePoint(CsmsCallsMixin, ChargePoint):
    """`serve` returns "done" (once mode finished), "reboot" (after a Reset) or "shutdown"
    (the `shutdown` event was set and every transaction has ended); a lost connection
    surfaces as an exception.

    Each connector's transaction runs as a task of its own, so the simulator can charge
    its own id tag on one connector while a driver starts another one from the app."""

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
        self.statuses: dict[int, str] = {}
        self.stop_reasons: dict[int, str] = {}  # connector -> why its transaction must end
        self.reserved: set[int] = set()  # accepted remote starts, not begun yet
        self.reboot_type: str | None = None
        self.once_done = False
        self._signal = asyncio.Event()
        self._tasks: set[asyncio.Task] = set()  # messages sent on our own initiative
        self._tx_tasks: dict[int, asyncio.Task] = {}  # a running transaction per connector
        self._own_tasks: list[asyncio.Task] = []

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
            charge_point_vendor=VENDOR,
            charge_point_model=MODEL,
            charge_point_serial_number=f"SIM-{self.config.identity}"[:25],
            firmware_version=FIRMWARE,
        )

    async def status(self, connector: int, status: str) -> None:
        self.statuses[connector] = status
        await self.send(
            call.StatusNotification(
                connector_id=connector,
                error_code=ChargePointErrorCode.no_error,
                status=status,
                timestamp=now_iso(),
            )
        )

    def idle_status(self, connector: int) -> str:
        if connector in self.state.unavailable or 0 in self.state.unavailable:
            return ChargePointStatus.unavailable
        return ChargePointStatus.available

    def free(self, connector: int) -> bool:
        """Nothing runs or is about to start on it, and it is in service."""
        return (
            connector not in self.state.open_txs
            and connector not in self.reserved
            and connector not in self._tx_tasks
            and self.idle_status(connector) == ChargePointStatus.available
        )

    # --- the charger's life on this connection ------------------------------------

    async def serve(self) -> str:
        receiver = asyncio.create_task(self.start())
        main = asyncio.create_task(self.run())
        watcher = asyncio.create_task(self._watch_shutdown())
        try:
            await asyncio.wait({receiver, main}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            tasks = (
                receiver,
                main,
                watcher,
                *self._own_tasks,
                *self._tx_tasks.values(),
                *self._tasks,
            )
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if main.done() and not main.cancelled():
            return main.result()  # raises what the charging flow raised
        receiver.result()  # raises ConnectionClosed
        raise ConnectionError("connection ended")

    async def _watch_shutdown(self) -> None:
        await self.shutdown.wait()
        self.poke()

    async def run(self) -> str:
        await self.boot()
        heartbeat = asyncio.create_task(self._heartbeats())
        try:
            await self._end_interrupted()
            await self.status(0, self.idle_status(0))
            for n in range(1, self.config.connectors + 1):
                charging = n in self.state.open_txs  # resumed after a dropped connection
                await self.status(
                    n, ChargePointStatus.charging if charging else self.idle_status(n)
                )
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

    async def _end_interrupted(self) -> None:
        """Transactions a power cut ended (restored from the state file): each is stopped
        with reason PowerLoss at the last reading stored before the power went."""
        for connector, tx in sorted(self.state.open_txs.items()):
            if not tx.interrupted:
                continue
            end = ended(tx.last or tx.begin)
            await self.send(
                call.StopTransaction(
                    meter_stop=energy_wh(end),
                    timestamp=end["timestamp"],
                    transaction_id=tx.transaction_id,
                    reason=Reason.power_loss,
                    id_tag=tx.id_tag,
                    transaction_data=[tx.begin, end],
                )
            )
            del self.state.open_txs[connector]
            self.state.save()

    async def _charge(self) -> str:
        for n in list(self.state.open_txs):  # resumed after a dropped connection
            self._begin(n, start=None)
        self._own_tasks = [
            asyncio.create_task(self._own_sessions(n))
            for n in self.config.own_connectors
            if n in self.state.meters
        ]
        while True:
            self._raise_failure()
            if not self._tx_tasks:
                if self.reboot_type:
                    return await self._reboot()
                if self.shutdown.is_set():
                    return "shutdown"
                if self.config.once and self.once_done:
                    return "done"
            await self.wait(1.0)

    def _raise_failure(self) -> None:
        """A transaction or session loop that failed ends this connection's life with its
        error, as the single sequential flow did before (the runner then reconnects)."""
        for task in [*self._own_tasks, *self._tx_tasks.values()]:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise task.exception()

    def stopping(self) -> bool:
        return self.reboot_type is not None or self.shutdown.is_set()

    async def wait(self, seconds: float) -> None:
        """Sleep, waking early when a call from the central system wants attention."""
        signal = self._signal  # poke() replaces it: every waiter of this one wakes
        try:
            await asyncio.wait_for(signal.wait(), max(seconds, 0.0))
        except TimeoutError:
            pass

    def poke(self) -> None:
        self._signal.set()
        self._signal = asyncio.Event()

    async def _own_sessions(self, connector: int) -> None:
        """The simulator's own driver: a session with `id_tag` on this connector, again
        and again after the pause (once, in once mode)."""
        pause = 0.0
        while await self._until_free(connector, pause):
            await self._begin(connector, start=(self.config.id_tag, False))
            if self.config.once:
                self.once_done = True
                self.poke()
                return
            pause = self.config.pause_seconds

    async def _until_free(self, connector: int, pause: float) -> bool:
        """Wait out the pause and until the connector is free; False when stopping."""
        start_at = time.monotonic() + pause
        while not self.stopping():
            left = start_at - time.monotonic()
            if left <= 0 and self.free(connector):
                return True
            await self.wait(left if left > 0 else max(self.config.pause_seconds, 1.0))
        return False

    def _begin(self, connector: int, *, start: tuple[str, bool] | None) -> asyncio.Task:
        """Run a transaction on `connector` as a task of its own: `start` (id tag, remote?)
        begins a new one, None resumes the open one."""
        task = asyncio.create_task(self._transaction(connector, start))
        self._tx_tasks[connector] = task
        self.reserved.discard(connector)

        def finished(done: asyncio.Task) -> None:
            if self._tx_tasks.get(connector) is done:
                del self._tx_tasks[connector]
            self.poke()

        task.add_done_callback(finished)
        return task

    async def _transaction(self, connector: int, start: tuple[str, bool] | None) -> None:
        if start is not None:
            id_tag, remote = start
            if not await self.start_transaction(connector, id_tag, authorize=not remote):
                return
        await self.run_transaction(connector)

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
        result = await self.send(
            call.StartTransaction(
                connector_id=connector, id_tag=id_tag, meter_start=begin.energy_wh, timestamp=stamp
            )
        )
        now = time.monotonic()
        self.state.open_txs[connector] = OpenTransaction(
            transaction_id=result.transaction_id,
            connector=connector,
            id_tag=id_tag,
            begin=meter_value(begin, stamp, "Transaction.Begin"),
            ends_at=now + self.config.session_seconds,
            metered_at=now,
        )
        self.state.save()
        if result.id_tag_info["status"] != AuthorizationStatus.accepted:
            await self.stop_transaction(connector, Reason.de_authorized)  # refused after all
            self._tag_refused(id_tag, result.id_tag_info["status"])
            return False
        await self.status(connector, ChargePointStatus.charging)
        return True

    def _tag_refused(self, id_tag: str, status: str) -> None:
        message = f"id tag {id_tag} was not accepted ({status})"
        if self.config.once:
            raise SimulatorError(
                f"{message}: create it (e.g. manage.py seed_demo) or pass --id-tag"
            )
        self.log(f"{message}; trying again in {self.config.pause_seconds:g} s")

    async def run_transaction(self, connector: int) -> None:
        """Meter the connector's open transaction until its time is up or something
        stops it."""
        tx = self.state.open_txs[connector]
        while self.stop_requested(connector) is None:
            left = tx.ends_at - time.monotonic()
            if left <= 0:
                break
            await self.wait(min(self.state.seconds("MeterValueSampleInterval"), left))
            if self.stop_requested(connector) is not None or time.monotonic() >= tx.ends_at:
                break
            tx.last = meter_value(self.meter(tx), now_iso(), "Sample.Periodic")
            self.state.save()  # what a power cut from now on would stop it at
            await self.send(
                call.MeterValues(
                    connector_id=connector, transaction_id=tx.transaction_id, meter_value=[tx.last]
                )
            )
        await self.stop_transaction(connector, self.stop_requested(connector) or Reason.local)

    def stop_requested(self, connector: int) -> str | None:
        reason = self.stop_reasons.get(connector)
        if reason is None and self.reboot_type is not None:
            return Reason.soft_reset if self.reboot_type == "Soft" else Reason.hard_reset
        if reason is None and self.shutdown.is_set():
            return Reason.reboot  # the charger is being switched off
        return reason

    def meter(self, tx: OpenTransaction) -> MeterReading:
        """Advance the transaction's meter by the real time since its last reading."""
        now = time.monotonic()
        reading = self.state.meters[tx.connector].advance(now - tx.metered_at)
        tx.metered_at = now
        return reading

    async def stop_transaction(self, connector: int, reason: str) -> None:
        tx = self.state.open_txs[connector]
        end, stamp = self.meter(tx), now_iso()
        await self.send(
            call.StopTransaction(
                meter_stop=end.energy_wh,
                timestamp=stamp,
                transaction_id=tx.transaction_id,
                reason=reason,
                id_tag=tx.id_tag,
                transaction_data=[tx.begin, meter_value(end, stamp, "Transaction.End")],
            )
        )
        del self.state.open_txs[connector]
        self.stop_reasons.pop(connector, None)
        self.state.save()
        await self.status(connector, ChargePointStatus.finishing)
        await asyncio.sleep(min(UNPLUG_SECONDS, self.config.meter_interval))
        # free before it says so: a central system may send RemoteStartTransaction the moment
        # it reads Available, while this task still waits for that status's answer (it was
        # refused then, under load, and the simulator test waited for a start in vain)
        if self._tx_tasks.get(connector) is asyncio.current_task():
            del self._tx_tasks[connector]
        await self.status(connector, self.idle_status(connector))
        if 0 in self.state.unavailable and not self.state.open_txs:
            await self.status(0, ChargePointStatus.unavailable)  # scheduled for the station

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


def ended(value: dict) -> dict:
    """A stored meter value as the Transaction.End reading of a StopTransaction."""
    return {
        **value,
        "sampled_value": [
            {**sample, "context": "Transaction.End"} for sample in value["sampled_value"]
        ],
    }


def energy_wh(value: dict) -> int:
    return next(
        int(sample["value"])
        for sample in value["sampled_value"]
        if sample.get("measurand") == "Energy.Active.Import.Register"
    )
