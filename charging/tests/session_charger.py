"""A charger that really charges, for end-to-end session tests: the ocpp library's
ChargePoint, on its own loop in a thread (ThreadedCharger), that

- answers RemoteStartTransaction (Accepted unless told otherwise) and then, like a real
  charger once the car is plugged in, sends StartTransaction with the id tag it was given;
- answers RemoteStopTransaction with Accepted and then sends StopTransaction;
- sends MeterValues when the test moves its meter (`charger.meter(...)`).

Behaviour keywords: remote_start="Rejected", remote_start_delay=5.0 (a slow answer),
auto_start=False (the car is never plugged in), start_before_answer=True (the
StartTransaction goes out BEFORE the answer, as some chargers do).
"""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime

from ocpp.routing import after, on
from ocpp.v16 import call, call_result

from ocpp_bridge.tests.command_charger import AnsweringChargePoint, ThreadedCharger


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


class ChargingChargePoint(AnsweringChargePoint):
    def _setup(self) -> None:
        if not hasattr(self, "registers"):
            self.registers: dict[int, int] = {}
            self.transactions: dict[int, int] = {}  # connector -> transaction id
            self.stopped: list[int] = []
            self.changed = threading.Condition()

    async def _start(self, connector_id: int, id_tag: str) -> None:
        self._setup()
        meter = self.registers.setdefault(connector_id, 1000)
        answer = await self.call(
            call.StartTransaction(
                connector_id=connector_id, id_tag=id_tag, meter_start=meter, timestamp=now_iso()
            )
        )
        with self.changed:
            self.transactions[connector_id] = answer.transaction_id
            self.changed.notify_all()

    @on("RemoteStartTransaction")
    async def on_remote_start(self, id_tag, connector_id=None, charging_profile=None):
        self.received.append(
            ("RemoteStartTransaction", {"idTag": id_tag, "connectorId": connector_id})
        )
        if self.behaviour.get("start_before_answer"):
            # the library reads no frame while a handler runs, so the StartTransaction's
            # answer is read after ours; the central system has it well before our answer
            self._early = asyncio.get_running_loop().create_task(
                self._start(connector_id or 1, id_tag)
            )
            await asyncio.sleep(0.5)
        await asyncio.sleep(self.behaviour.get("remote_start_delay", 0))
        return call_result.RemoteStartTransaction(
            status=self.behaviour.get("remote_start", "Accepted")
        )

    @after("RemoteStartTransaction")
    async def after_remote_start(self, id_tag, connector_id=None, charging_profile=None):
        if (
            self.behaviour.get("remote_start", "Accepted") == "Accepted"
            and self.behaviour.get("auto_start", True)
            and not self.behaviour.get("start_before_answer")
        ):
            await self._start(connector_id or 1, id_tag)

    @on("RemoteStopTransaction")
    async def on_remote_stop(self, transaction_id):
        self.received.append(("RemoteStopTransaction", {"transactionId": transaction_id}))
        return call_result.RemoteStopTransaction(
            status=self.behaviour.get("remote_stop", "Accepted")
        )

    @after("RemoteStopTransaction")
    async def after_remote_stop(self, transaction_id):
        if self.behaviour.get("remote_stop", "Accepted") != "Accepted":
            return
        self._setup()
        connector = next((c for c, t in self.transactions.items() if t == transaction_id), 1)
        await self.stop_transaction(connector, reason="Remote")

    async def stop_transaction(
        self, connector_id: int, reason: str = "Local", id_tag: str | None = None
    ) -> None:
        self._setup()
        transaction_id = self.transactions.pop(connector_id)
        await self.call(
            call.StopTransaction(
                meter_stop=self.registers[connector_id],
                timestamp=now_iso(),
                transaction_id=transaction_id,
                reason=reason,
                id_tag=id_tag,
            )
        )
        with self.changed:
            self.stopped.append(transaction_id)
            self.changed.notify_all()

    async def send_meter(
        self, connector_id: int, wh: int, power_w: int | None, soc: int | None
    ) -> None:
        self._setup()
        self.registers[connector_id] = wh
        values = [
            {
                "value": str(wh),
                "measurand": "Energy.Active.Import.Register",
                "unit": "Wh",
                "context": "Sample.Periodic",
            }
        ]
        if power_w is not None:
            values.append(
                {
                    "value": str(power_w),
                    "measurand": "Power.Active.Import",
                    "unit": "W",
                    "context": "Sample.Periodic",
                }
            )
        if soc is not None:
            values.append(
                {
                    "value": str(soc),
                    "measurand": "SoC",
                    "unit": "Percent",
                    "context": "Sample.Periodic",
                }
            )
        await self.call(
            call.MeterValues(
                connector_id=connector_id,
                transaction_id=self.transactions[connector_id],
                meter_value=[{"timestamp": now_iso(), "sampled_value": values}],
            )
        )


class SessionCharger(ThreadedCharger):
    charge_point_class = ChargingChargePoint

    def _run_on_loop(self, coroutine, timeout: float = 15):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def status(self, connector_id: int, status: str = "Available") -> None:
        self.call(
            call.StatusNotification(connector_id=connector_id, error_code="NoError", status=status)
        )

    def wait_transaction(self, connector_id: int = 1, timeout: float = 15) -> int:
        cp = self.cp
        cp._setup()
        with cp.changed:
            if not cp.changed.wait_for(lambda: connector_id in cp.transactions, timeout):
                raise AssertionError(f"no transaction on connector {connector_id}")
            return cp.transactions[connector_id]

    def wait_stopped(self, transaction_id: int, timeout: float = 15) -> None:
        cp = self.cp
        cp._setup()
        with cp.changed:
            if not cp.changed.wait_for(lambda: transaction_id in cp.stopped, timeout):
                raise AssertionError(f"transaction {transaction_id} was not stopped")

    def meter(
        self, connector_id: int, wh: int, *, power_w: int | None = None, soc: int | None = None
    ) -> None:
        self._run_on_loop(self.cp.send_meter(connector_id, wh, power_w, soc))

    def start_locally(self, connector_id: int, id_tag: str) -> int:
        """An id tag presented at the charger: StartTransaction; returns its id."""
        self._run_on_loop(self.cp._start(connector_id, id_tag))
        return self.cp.transactions[connector_id]

    def stop_locally(self, connector_id: int, reason: str = "EVDisconnected") -> None:
        self._run_on_loop(self.cp.stop_transaction(connector_id, reason=reason))
