"""What every OCPP-J central-system session does, whatever the version: one per charger
connection. `handle_text` takes one frame from the charger and returns the frame to send
back (or None). It validates against the version's official schemas, gates everything
behind an accepted BootNotification (a Pending boot allows only what the version lets a
pending charger send), answers a retried CALL (same id, same payload) from a small cache
so its effect happens once, and turns every failure into the CALLERROR code the version
names, spelled its way. Effects go through the `ChargerPort`; each version's subclass maps
its messages onto it (v16.py, v201.py).
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from . import schemas
from .bounds import check_bounds
from .errors import (
    FORMAT_VIOLATION,
    INTERNAL_ERROR,
    NOT_IMPLEMENTED,
    NOT_SUPPORTED,
    SECURITY_ERROR,
    OcppError,
    spelled_for,
)
from .frames import (
    Call,
    CallError,
    CallResult,
    Frame,
    FrameError,
    error_frame,
    parse_frame,
    peek_call_id,
    result_frame,
)
from .ports import ChargerPort
from .replies import PendingReplies
from .timeutil import format_timestamp, parse_timestamp

log = logging.getLogger("ocpp_bridge.protocol")

REPLAY_CACHE_SIZE = 64

Handler = Callable[[dict], Awaitable[dict]]


class ChargePointSession:
    VERSION = ""
    # actions only the central system sends: a charger sending one gets NotSupported
    CSMS_INITIATED: frozenset[str] = frozenset()
    # what a charger whose boot is Pending may still send (besides BootNotification)
    WHILE_PENDING: frozenset[str] = frozenset()

    def __init__(
        self,
        port: ChargerPort,
        *,
        accepted: bool = False,
        validate_responses: bool = False,
        max_frame_chars: int = 65536,
    ):
        self.port = port
        self.max_frame_chars = max_frame_chars
        self.accepted = accepted  # registration Accepted by a BootNotification (persisted)
        self.validate_responses = validate_responses
        self.replies = PendingReplies()
        self.last_frame: Frame | None = None  # the frame handle_text last parsed (for logs)
        self._replayed: OrderedDict[str, tuple[str, str, str]] = OrderedDict()
        self.pending = False  # the last BootNotification was answered Pending
        self._handlers: dict[str, Handler] = self.handlers()

    def handlers(self) -> dict[str, Handler]:
        raise NotImplementedError

    def error_frame(self, message_id: str, error: OcppError) -> str:
        return error_frame(
            message_id, spelled_for(error.code, self.VERSION), error.description, error.details
        )

    async def handle_text(self, text: str) -> str | None:
        self.last_frame = None
        if len(text) > self.max_frame_chars:
            return self.error_frame(
                peek_call_id(text),
                OcppError(FORMAT_VIOLATION, f"Frame exceeds {self.max_frame_chars} characters"),
            )
        try:
            frame = parse_frame(text)
        except FrameError as exc:
            return self.error_frame(exc.message_id, exc)
        self.last_frame = frame
        if isinstance(frame, CallResult | CallError):
            self.replies.resolve(frame)  # answers to our own calls; never answered back
            return None
        return await self._handle_call(frame)

    async def _handle_call(self, call: Call) -> str:
        fingerprint = json.dumps(call.payload, sort_keys=True, separators=(",", ":"))
        seen = self._replayed.get(call.message_id)
        if seen is not None and seen[0] == call.action and seen[1] == fingerprint:
            return seen[2]  # a retry of a CALL we already answered: same answer, no new effect
        try:
            payload = await self._dispatch(call)
            reply = result_frame(call.message_id, payload)
        except OcppError as exc:
            return self.error_frame(call.message_id, exc)
        except Exception:
            log.exception("handler for %s failed", call.action)
            failure = OcppError(INTERNAL_ERROR, f"{call.action} could not be processed")
            return self.error_frame(call.message_id, failure)
        self._remember(call.message_id, (call.action, fingerprint, reply))
        return reply

    def _remember(self, message_id: str, entry: tuple[str, str, str]) -> None:
        self._replayed[message_id] = entry
        self._replayed.move_to_end(message_id)
        if len(self._replayed) > REPLAY_CACHE_SIZE:
            self._replayed.popitem(last=False)

    async def _dispatch(self, call: Call) -> dict:
        handler = self._handlers.get(call.action)
        if handler is None:
            if call.action in self.CSMS_INITIATED:
                raise OcppError(NOT_SUPPORTED, f"{call.action} is sent by the central system")
            raise OcppError(NOT_IMPLEMENTED, f"Unknown action {call.action}")
        schemas.validate_request(self.VERSION, call.action, call.payload)
        check_bounds(call.payload)
        if call.action != "BootNotification" and not self.accepted:
            if not (self.pending and call.action in self.WHILE_PENDING):
                raise OcppError(SECURITY_ERROR, "BootNotification has not been accepted")
        payload = await handler(call.payload)
        if self.validate_responses:
            schemas.validate_response(self.VERSION, call.action, payload)
        return payload

    def boot_answered(self, status: str) -> None:
        self.accepted, self.pending = status == "Accepted", status == "Pending"

    # --- handlers both versions share (the same payloads in 1.6 and 2.0.1) ---------

    async def _heartbeat(self, p: dict) -> dict:
        return {"currentTime": format_timestamp(await self.port.heartbeat())}

    async def _data_transfer(self, p: dict) -> dict:
        answer = await self.port.data_transfer(p["vendorId"], p.get("messageId", ""), p.get("data"))
        out: dict = {"status": answer.status}
        if answer.data is not None:
            out["data"] = answer.data
        return out

    async def _security_event(self, p: dict) -> dict:
        await self.port.security_event(
            p["type"], parse_timestamp(p["timestamp"]), p.get("techInfo", "")
        )
        return {}

    async def _log_status(self, p: dict) -> dict:
        await self.port.log_status(p["status"], p.get("requestId"))
        return {}

    async def _sign_certificate(self, p: dict) -> dict:
        return {"status": await self.port.sign_certificate(p["csr"])}
