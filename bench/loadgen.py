"""OCPP 1.6J and 2.0.1 load generator used by bench/ocpp_throughput.py.

Every simulated charger is one coroutine on one raw `websockets` client
connection. The generator is kept as cheap as possible so that, on a small
machine shared with the server under test, the client is not what limits the
figures:

* no `ocpp` library on the client side: frames are JSON text built from
  %-format templates (the payloads never contain user data, so no escaping is
  needed), each with a unique message id;
* replies are decoded with `json.loads` only to check type and message id;
* no permessage-deflate (`compression=None`), no client keepalive pings;
* timestamps are formatted at most once per second and shared.

The load is open-loop per charger: charger i of N sends at
`start + (i/N + k) * N/rate` for k = 0, 1, 2 ..., so the aggregate offered
rate is `rate` and sends are spread evenly in time. OCPP allows one
outstanding CALL per direction, so when a reply is late the next send waits
for it and is then sent at once (the charger tries to catch up with its
schedule, it never has two calls in flight). Latency is measured from just
before `send()` to the reception of the matching CALLRESULT.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections import Counter
from dataclasses import dataclass, field

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

PASSWORD = "bench-password-0001"  # noqa: S105 - the bench stations' shared test password
ID_TAG = "BENCHTAG"

# Pre-built frame templates. Only the message id and a few numbers/timestamps
# vary, so %-formatting a constant template is all a send costs.
BOOT = (
    '[2,"%s","BootNotification",{"chargePointVendor":"EvPowerBench","chargePointModel":"Sim-1",'
    '"chargePointSerialNumber":"%s","firmwareVersion":"1.0"}]'
)
STATUS = (
    '[2,"%s","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"Available",'
    '"timestamp":"%s"}]'
)
START = (
    '[2,"%s","StartTransaction",{"connectorId":1,"idTag":"' + ID_TAG + '","meterStart":0,'
    '"timestamp":"%s"}]'
)
HEARTBEAT = '[2,"%s","Heartbeat",{}]'
METER = (
    '[2,"%s","MeterValues",{"connectorId":1,"transactionId":%d,"meterValue":[{"timestamp":"%s",'
    '"sampledValue":[{"value":"%d","context":"Sample.Periodic",'
    '"measurand":"Energy.Active.Import.Register","location":"Outlet","unit":"Wh"}]}]}]'
)
STOP = (
    '[2,"%s","StopTransaction",{"transactionId":%d,"idTag":"' + ID_TAG + '","meterStop":%d,'
    '"timestamp":"%s","reason":"Local"}]'
)

# Energy added between two MeterValues of one charger (Wh).
ENERGY_STEP_WH = 7

_ts_cache: tuple[int, str] = (0, "")


def now_iso() -> str:
    """ISO 8601 UTC timestamp, second resolution, cached for the current second."""
    global _ts_cache
    sec = int(time.time())
    if _ts_cache[0] != sec:
        _ts_cache = (sec, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(sec)))
    return _ts_cache[1]


class CallError(Exception):
    """The server answered a CALL with a CALLERROR."""

    def __init__(self, action: str, code: str, description: str):
        super().__init__(f"{action}: CALLERROR {code} {description!r}")
        self.action, self.code, self.description = action, code, description


class ReplyTimeout(Exception):
    pass


@dataclass
class StepRecorder:
    """Latencies and errors of one load step (shared by all chargers)."""

    recv_times: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    sent: int = 0
    errors: Counter = field(default_factory=Counter)

    def add(self, t_recv: float, latency: float) -> None:
        self.recv_times.append(t_recv)
        self.latencies.append(latency)


@dataclass
class Stats:
    """Process-wide counters reported at the end of a run."""

    errors: Counter = field(default_factory=Counter)  # phase + reason -> count
    error_samples: dict = field(default_factory=dict)  # reason -> first full message
    server_calls: Counter = field(default_factory=Counter)  # action -> count

    def error(self, phase: str, exc: BaseException) -> str:
        reason = describe_error(exc)
        key = f"{phase}: {reason}"
        self.errors[key] += 1
        self.error_samples.setdefault(key, str(exc)[:300])
        return key


def describe_error(exc: BaseException) -> str:
    """Short, aggregatable description (no message ids) of a failure."""
    if isinstance(exc, InvalidStatus):
        return f"handshake refused HTTP {exc.response.status_code}"
    if isinstance(exc, CallError):
        return f"{exc.action} CALLERROR {exc.code}: {exc.description[:120]}"
    if isinstance(exc, ConnectionClosed):
        if exc.rcvd is None:
            return "connection closed (no close frame received)"
        return f"connection closed (code {exc.rcvd.code} {exc.rcvd.reason})".strip()
    if isinstance(exc, (ReplyTimeout, TimeoutError)):
        return f"timeout: {exc}" if str(exc) else "timeout"
    return f"{type(exc).__name__}: {str(exc)[:160]}"


def _reply_to_server_call(msg: list) -> str:
    """Minimal answers to CALLs a central system may send after boot."""
    action = msg[2]
    if action == "GetConfiguration":
        payload = {"configurationKey": [], "unknownKey": []}
    elif action in (
        "ChangeConfiguration",
        "SetChargingProfile",
        "ClearChargingProfile",
        "ChangeAvailability",
        "UnlockConnector",
        "Reset",
    ):
        payload = {"status": "Accepted"}
    elif action in ("TriggerMessage", "RemoteStartTransaction", "RemoteStopTransaction"):
        payload = {"status": "Rejected"}
    else:
        return json.dumps([4, msg[1], "NotImplemented", "bench charger", {}])
    return json.dumps([3, msg[1], payload])


class Charger:
    SUBPROTOCOL = "ocpp1.6"

    def __init__(self, index: int, identity: str, url: str, phase: float, stats: Stats):
        self.index = index
        self.identity = identity
        self.url = url
        self.phase = phase  # in [0, 1): offset of this charger inside one send interval
        self.stats = stats
        self.ws = None
        self.seq = 0
        self.transaction_id: int | None = None
        self.energy_wh = 0
        self.dead: str | None = None  # reason, once the charger stopped working

    def _next_id(self) -> str:
        self.seq += 1
        return f"{self.index}-{self.seq}"

    async def open(self, open_timeout: float) -> None:
        token = base64.b64encode(f"{self.identity}:{PASSWORD}".encode()).decode()
        self.ws = await connect(
            self.url,
            subprotocols=[self.SUBPROTOCOL],
            additional_headers={"Authorization": f"Basic {token}"},
            compression=None,  # real chargers rarely deflate; inflating costs CPU on both ends
            ping_interval=None,  # keepalive traffic would only add noise to the figures
            proxy=None,  # loopback only, never through an environment proxy
            open_timeout=open_timeout,
            close_timeout=2,
        )
        if self.ws.subprotocol != self.SUBPROTOCOL:
            raise RuntimeError(
                f"server did not select {self.SUBPROTOCOL} (got {self.ws.subprotocol!r})"
            )

    async def call(self, action: str, msg_id: str, frame: str, timeout: float):
        """Send one CALL and wait for its CALLRESULT payload (one outstanding call)."""
        ws = self.ws
        try:
            async with asyncio.timeout(timeout):
                await ws.send(frame)
                while True:
                    msg = json.loads(await ws.recv())
                    kind = msg[0]
                    if kind == 2:  # server-initiated CALL: answer it, keep waiting
                        self.stats.server_calls[msg[2]] += 1
                        await ws.send(_reply_to_server_call(msg))
                        continue
                    if msg[1] != msg_id:
                        self.stats.errors[f"{action}: reply with unexpected id"] += 1
                        continue
                    if kind == 3:
                        return msg[2]
                    raise CallError(action, msg[2], msg[3] if len(msg) > 3 else "")
        except TimeoutError:
            raise ReplyTimeout(f"no reply to {action} within {timeout:g}s") from None

    async def boot(self, timeout: float) -> None:
        """BootNotification, StatusNotification, StartTransaction (keeps transactionId)."""
        mid = self._next_id()
        reply = await self.call("BootNotification", mid, BOOT % (mid, self.identity), timeout)
        if reply.get("status") != "Accepted":
            raise RuntimeError(f"BootNotification status {reply.get('status')!r}")
        mid = self._next_id()
        await self.call("StatusNotification", mid, STATUS % (mid, now_iso()), timeout)
        mid = self._next_id()
        reply = await self.call("StartTransaction", mid, START % (mid, now_iso()), timeout)
        status = (reply.get("idTagInfo") or {}).get("status")
        if status != "Accepted" or not isinstance(reply.get("transactionId"), int):
            raise RuntimeError(f"StartTransaction refused: {reply!r}"[:200])
        self.transaction_id = reply["transactionId"]

    async def run_step(
        self, rate_per_charger: float, start: float, end: float, rec: StepRecorder, timeout: float
    ) -> None:
        """Alternate Heartbeat / MeterValues on this charger's schedule until `end`."""
        interval = 1.0 / rate_per_charger
        next_t = start + self.phase * interval
        clock = time.perf_counter
        while True:
            now = clock()
            if next_t >= end or now >= end:
                return
            if next_t > now:
                await asyncio.sleep(next_t - now)
            mid = self._next_id()
            action, frame = self.measure_frame(mid)
            rec.sent += 1
            t_send = clock()
            try:
                await self.call(action, mid, frame, timeout)
            except CallError as exc:
                # A CALLERROR is an answer, not a success: count it, keep going.
                rec.errors[self.stats.error("measure", exc)] += 1
            except Exception as exc:  # timeout or lost connection: the charger is out
                reason = self.stats.error("measure", exc)
                rec.errors[reason] += 1
                self.dead = reason
                return
            else:
                t_recv = clock()
                rec.add(t_recv, t_recv - t_send)
            next_t += interval

    def measure_frame(self, mid: str) -> tuple[str, str]:
        """Heartbeat and MeterValues, alternating."""
        if self.seq & 1:
            return "Heartbeat", HEARTBEAT % mid
        self.energy_wh += ENERGY_STEP_WH
        return "MeterValues", METER % (mid, self.transaction_id, now_iso(), self.energy_wh)

    async def stop(self, timeout: float) -> None:
        mid = self._next_id()
        frame = STOP % (mid, self.transaction_id, self.energy_wh, now_iso())
        await self.call("StopTransaction", mid, frame, timeout)

    async def close(self) -> None:
        if self.ws is not None:
            # Closing is best effort: the server may already have dropped us,
            # and that was recorded where it happened.
            with contextlib.suppress(Exception):
                await self.ws.close()


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, -(-len(sorted_values) * pct // 100))  # ceil
    return sorted_values[int(rank) - 1]


# --- OCPP 2.0.1: the same load, in 2.0.1's words ---------------------------------------
BOOT_201 = (
    '[2,"%s","BootNotification",{"reason":"PowerUp","chargingStation":{"model":"Sim-1",'
    '"vendorName":"EvPowerBench","serialNumber":"%s","firmwareVersion":"1.0"}}]'
)
STATUS_201 = (
    '[2,"%s","StatusNotification",{"timestamp":"%s","connectorStatus":"Available",'
    '"evseId":1,"connectorId":1}]'
)
TX_EVENT = (
    '[2,"%s","TransactionEvent",{"eventType":"%s","timestamp":"%s","triggerReason":"%s",'
    '"seqNo":%d,"transactionInfo":{"transactionId":"%s"},"evse":{"id":1,"connectorId":1},%s'
    '"meterValue":[{"timestamp":"%s","sampledValue":[{"value":%d,"context":"%s",'
    '"measurand":"Energy.Active.Import.Register","location":"Outlet",'
    '"unitOfMeasure":{"unit":"Wh"}}]}]}]'
)
ID_TOKEN = '"idToken":{"idToken":"' + ID_TAG + '","type":"ISO14443"},'


class Charger201(Charger):
    """Boot, StatusNotification and a Started TransactionEvent; then Heartbeat and
    TransactionEvent Updated alternate (the 2.0.1 pair of 1.6's Heartbeat / MeterValues)."""

    SUBPROTOCOL = "ocpp2.0.1"

    def _event(self, mid: str, kind: str, trigger: str, context: str, token: str = "") -> str:
        self.tx_seq += 1
        stamp = now_iso()
        return TX_EVENT % (
            mid, kind, stamp, trigger, self.tx_seq, self.remote_id, token, stamp,
            self.energy_wh, context,
        )  # fmt: skip

    async def boot(self, timeout: float) -> None:
        mid = self._next_id()
        reply = await self.call("BootNotification", mid, BOOT_201 % (mid, self.identity), timeout)
        if reply.get("status") != "Accepted":
            raise RuntimeError(f"BootNotification status {reply.get('status')!r}")
        mid = self._next_id()
        await self.call("StatusNotification", mid, STATUS_201 % (mid, now_iso()), timeout)
        self.remote_id, self.tx_seq = f"bench-{self.identity}-{time.time_ns()}", -1
        mid = self._next_id()
        frame = self._event(mid, "Started", "Authorized", "Transaction.Begin", ID_TOKEN)
        reply = await self.call("TransactionEvent", mid, frame, timeout)
        if (reply.get("idTokenInfo") or {}).get("status") != "Accepted":
            raise RuntimeError(f"TransactionEvent Started refused: {reply!r}"[:200])

    def measure_frame(self, mid: str) -> tuple[str, str]:
        if self.seq & 1:
            return "Heartbeat", HEARTBEAT % mid
        self.energy_wh += ENERGY_STEP_WH
        return "TransactionEvent", self._event(
            mid, "Updated", "MeterValuePeriodic", "Sample.Periodic"
        )

    async def stop(self, timeout: float) -> None:
        mid = self._next_id()
        frame = self._event(mid, "Ended", "StopAuthorized", "Transaction.End")
        await self.call("TransactionEvent", mid, frame, timeout)
