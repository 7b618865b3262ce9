"""OCPP-J RPC frames: parsing the text a peer sent and building the text we send."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from .errors import MESSAGE_TYPE_NOT_SUPPORTED, PROTOCOL_ERROR, RPC_FRAMEWORK, OcppError

CALL, CALLRESULT, CALLERROR = 2, 3, 4
UNKNOWN_ID = "-1"  # the spec's id for a CALLERROR about a frame whose id can't be read
MAX_ID_LENGTH = 36


@dataclass(frozen=True)
class Call:
    message_id: str
    action: str
    payload: dict
    kind = CALL


@dataclass(frozen=True)
class CallResult:
    message_id: str
    payload: dict
    kind = CALLRESULT


@dataclass(frozen=True)
class CallError:
    message_id: str
    code: str
    description: str
    details: dict
    kind = CALLERROR


Frame = Call | CallResult | CallError


class FrameError(OcppError):
    """A frame we cannot even route; carries the id to answer with."""

    def __init__(self, code: str, description: str, message_id: str = UNKNOWN_ID):
        super().__init__(code, description)
        self.message_id = message_id


_LEADING_ID = re.compile(r'^\s*\[\s*2\s*,\s*"([^"\\]{1,36})"')


def peek_call_id(text: str) -> str:
    """The id of a CALL read from its first bytes, for frames too big to parse."""
    match = _LEADING_ID.match(text[:64])
    return match.group(1) if match else UNKNOWN_ID


def parse_frame(text: str) -> Frame:
    try:
        msg = json.loads(text)
    except (ValueError, RecursionError):
        raise FrameError(RPC_FRAMEWORK, "Frame is not valid JSON") from None
    if not isinstance(msg, list) or not msg:
        raise FrameError(RPC_FRAMEWORK, "Frame must be a non-empty JSON array")
    message_id = _readable_id(msg)
    kind = msg[0]
    if kind is True or kind is False or not isinstance(kind, int):
        raise FrameError(RPC_FRAMEWORK, "MessageTypeId must be an integer", message_id)
    if kind == CALL:
        return _parse_call(msg, message_id)
    if kind == CALLRESULT:
        if len(msg) != 3 or not isinstance(msg[2], dict):
            raise FrameError(RPC_FRAMEWORK, "CALLRESULT must be [3, id, {payload}]", message_id)
        return CallResult(message_id, msg[2])
    if kind == CALLERROR:
        if len(msg) != 5 or not all(isinstance(x, str) for x in msg[2:4]):
            raise FrameError(
                RPC_FRAMEWORK,
                "CALLERROR must be [4, id, code, description, {details}]",
                message_id,
            )
        details = msg[4] if isinstance(msg[4], dict) else {}
        return CallError(message_id, msg[2], msg[3], details)
    raise FrameError(MESSAGE_TYPE_NOT_SUPPORTED, f"Unknown MessageTypeId {kind}", message_id)


def _readable_id(msg: list) -> str:
    if len(msg) < 2:
        return UNKNOWN_ID
    mid = msg[1]
    if not isinstance(mid, str) or not mid or len(mid) > MAX_ID_LENGTH:
        return UNKNOWN_ID
    return mid


def _parse_call(msg: list, message_id: str) -> Call:
    if message_id == UNKNOWN_ID:
        raise FrameError(RPC_FRAMEWORK, "UniqueId must be a string of 1..36 characters")
    if len(msg) != 4:
        raise FrameError(RPC_FRAMEWORK, "CALL must be [2, id, action, {payload}]", message_id)
    action, payload = msg[2], msg[3]
    if not isinstance(action, str) or not action:
        raise FrameError(RPC_FRAMEWORK, "Action must be a non-empty string", message_id)
    if not isinstance(payload, dict):
        raise FrameError(PROTOCOL_ERROR, "Payload must be a JSON object", message_id)
    return Call(message_id, action, payload)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def call_frame(message_id: str, action: str, payload: dict) -> str:
    return _dumps([CALL, message_id, action, payload])


def result_frame(message_id: str, payload: dict) -> str:
    return _dumps([CALLRESULT, message_id, payload])


def error_frame(
    message_id: str, code: str, description: str = "", details: dict | None = None
) -> str:
    return _dumps([CALLERROR, message_id, code, description, details or {}])
