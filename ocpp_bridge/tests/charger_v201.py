"""An OCPP 2.0.1 charger for end-to-end tests: the ocpp library's v201 ChargePoint on its
own event loop in a thread, connected to a real server process. It

- boots and reports its EVSEs Available;
- answers RequestStartTransaction Accepted and then, like a charger whose car is plugged
  in, reports the transaction Started (seqNo 0) with the id token it was given and its
  energy register;
- reports Updated events when the test moves its meter (`charger.meter(...)`);
- answers RequestStopTransaction Accepted and then reports the transaction Ended.
Every CSMS call it receives is kept in `received` as (action, payload as sent).
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from datetime import UTC, datetime

from ocpp.charge_point import snake_to_camel_case
from ocpp.routing import on
from ocpp.v201 import ChargePoint, call, call_result

from ocpp_bridge.tests.charger import connect

WAIT = 60  # seconds a helper waits for the charger before the test fails


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def energy(wh: int, context: str = "Sample.Periodic", power_w: int | None = None) -> list:
    sampled = [{"value": wh, "context": context, "unitOfMeasure": {"unit": "Wh"}}]
    if power_w is not None:
        sampled.append(
            {
                "value": power_w,
                "measurand": "Power.Active.Import",
                "context": context,
                "unitOfMeasure": {"unit": "W"},
            }
        )
    return [{"timestamp": now_iso(), "sampledValue": sampled}]


class ChargingStation201(ChargePoint):
    def setup(self) -> None:
        self.received: list[tuple[str, dict]] = []
        self.registers: dict[int, int] = {}
        self.transactions: dict[int, str] = {}  # evse -> the charger's transaction id
        self.seq: dict[str, int] = {}
        self.ended: list[str] = []
        self.reported = False
        self.changed = threading.Condition()

    async def event(self, event_type: str, evse: int, trigger: str, **extra) -> dict:
        tx = self.transactions[evse]
        seq = self.seq[tx] = self.seq.get(tx, -1) + 1
        answer = await self.call(
            call.TransactionEvent(
                event_type=event_type,
                timestamp=now_iso(),
                trigger_reason=trigger,
                seq_no=seq,
                transaction_info={"transaction_id": tx, **extra.pop("info", {})},
                evse={"id": evse, "connector_id": 1},
                **extra,
            ),
            suppress=False,
        )
        return snake_to_camel_case(answer.id_token_info or {})

    async def begin(self, evse: int, id_token: str, kind: str = "Central") -> dict:
        self.transactions[evse] = f"TX-{uuid.uuid4().hex[:12]}"
        register = self.registers.setdefault(evse, 1000)
        info = await self.event(
            "Started",
            evse,
            "RemoteStart",
            id_token={"id_token": id_token, "type": kind},
            meter_value=energy(register, "Transaction.Begin"),
            info={"charging_state": "Charging"},
        )
        with self.changed:
            self.changed.notify_all()
        return info

    @on("RequestStartTransaction")
    async def on_request_start(self, id_token, remote_start_id, evse_id=None, **rest):
        self.received.append(
            (
                "RequestStartTransaction",
                {
                    "idToken": snake_to_camel_case(id_token),
                    "remoteStartId": remote_start_id,
                    "evseId": evse_id,
                },
            )
        )
        evse = evse_id or 1
        loop = asyncio.get_running_loop()
        # the charger starts once its answer is out, as a real one does with the car plugged
        loop.call_soon(lambda: loop.create_task(self.begin(evse, id_token["id_token"])))
        return call_result.RequestStartTransaction(status="Accepted")

    @on("RequestStopTransaction")
    async def on_request_stop(self, transaction_id, **rest):
        self.received.append(("RequestStopTransaction", {"transactionId": transaction_id}))
        evse = next(e for e, tx in self.transactions.items() if tx == transaction_id)
        loop = asyncio.get_running_loop()
        loop.call_soon(lambda: loop.create_task(self.end(evse, "RemoteStop", "Remote")))
        return call_result.RequestStopTransaction(status="Accepted")

    REPORT = [
        {
            "component": {"name": "OCPPCommCtrlr"},
            "variable": {"name": "HeartbeatInterval"},
            "variable_attribute": [{"type": "Actual", "value": "300", "mutability": "ReadWrite"}],
            "variable_characteristics": {
                "unit": "s",
                "data_type": "integer",
                "supports_monitoring": False,
            },
        },
        {
            "component": {"name": "EVSE", "evse": {"id": 1}},
            "variable": {"name": "Power"},
            "variable_attribute": [
                {"type": "Actual", "value": "0", "mutability": "ReadOnly"},
                {"type": "MaxSet", "value": "22000", "mutability": "ReadOnly"},
            ],
            "variable_characteristics": {
                "unit": "W",
                "data_type": "decimal",
                "supports_monitoring": True,
            },
        },
    ]

    @on("GetBaseReport")
    async def on_get_base_report(self, request_id, report_base, **rest):
        self.received.append(
            ("GetBaseReport", {"requestId": request_id, "reportBase": report_base})
        )

        async def report():
            # in two parts, as a long report comes (tbc: to be continued)
            for seq, part in enumerate(self.REPORT):
                await self.call(
                    call.NotifyReport(
                        request_id=request_id,
                        generated_at=now_iso(),
                        seq_no=seq,
                        report_data=[part],
                        tbc=seq < len(self.REPORT) - 1,
                    )
                )
            with self.changed:
                self.reported = True
                self.changed.notify_all()

        loop = asyncio.get_running_loop()
        loop.call_soon(lambda: loop.create_task(report()))
        return call_result.GetBaseReport(status="Accepted")

    @on("GetVariables")
    async def on_get_variables(self, get_variable_data, **rest):
        return call_result.GetVariables(
            get_variable_result=[
                {
                    "attribute_status": "Accepted",
                    "attribute_value": "300",
                    "component": item["component"],
                    "variable": item["variable"],
                }
                for item in get_variable_data
            ]
        )

    @on("SetVariables")
    async def on_set_variables(self, set_variable_data, **rest):
        items = [snake_to_camel_case(item) for item in set_variable_data]
        self.received.append(("SetVariables", {"setVariableData": items}))
        status = getattr(self, "set_variables_status", "Accepted")
        return call_result.SetVariables(
            set_variable_result=[
                {
                    "attribute_status": status,
                    "component": item["component"],
                    "variable": item["variable"],
                }
                for item in set_variable_data
            ]
        )

    async def end(self, evse: int, trigger: str, reason: str) -> None:
        tx = self.transactions[evse]
        await self.event(
            "Ended",
            evse,
            trigger,
            meter_value=energy(self.registers[evse], "Transaction.End"),
            info={"stopped_reason": reason, "charging_state": "Idle"},
        )
        with self.changed:
            self.ended.append(tx)
            self.changed.notify_all()


class Charger201:
    """The station in a thread; the test calls its helpers synchronously."""

    def __init__(self, url: str, identity: str, evses: int = 2):
        self.url, self.identity, self.evses = url, identity, evses
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Charger201:
        self.thread.start()
        if not self.ready.wait(WAIT):
            raise RuntimeError("the 2.0.1 charger did not boot")
        return self

    def __exit__(self, *exc) -> None:
        self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(WAIT)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._main())

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        async with connect(self.url, self.identity, subprotocols=("ocpp2.0.1",)) as ws:
            self.cp = ChargingStation201(self.identity, ws)
            self.cp.setup()
            listener = asyncio.create_task(self.cp.start())
            boot = await self.cp.call(
                call.BootNotification(
                    charging_station={"model": "T201", "vendor_name": "EvPower Test"},
                    reason="PowerUp",
                )
            )
            assert boot.status == "Accepted", boot
            for evse in range(1, self.evses + 1):
                await self.status(evse, "Available")
            self.ready.set()
            await self._stop.wait()
            listener.cancel()

    async def status(self, evse: int, status: str) -> None:
        await self.cp.call(
            call.StatusNotification(
                timestamp=now_iso(), connector_status=status, evse_id=evse, connector_id=1
            )
        )

    def run(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(WAIT)

    def meter(self, evse: int, register_wh: int, power_w: int | None = None) -> dict:
        self.cp.registers[evse] = register_wh
        return self.run(
            self.cp.event(
                "Updated",
                evse,
                "MeterValuePeriodic",
                meter_value=energy(register_wh, power_w=power_w),
            )
        )

    def wait_transaction(self, evse: int) -> str:
        with self.cp.changed:
            if not self.cp.changed.wait_for(lambda: evse in self.cp.transactions, WAIT):
                raise AssertionError(f"no transaction on EVSE {evse}")
        return self.cp.transactions[evse]

    def wait_reported(self) -> None:
        with self.cp.changed:
            if not self.cp.changed.wait_for(lambda: self.cp.reported, WAIT):
                raise AssertionError("no NotifyReport")

    def wait_ended(self, tx: str) -> None:
        with self.cp.changed:
            if not self.cp.changed.wait_for(lambda: tx in self.cp.ended, WAIT):
                raise AssertionError(f"transaction {tx} did not end")
