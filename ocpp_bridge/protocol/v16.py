"""OCPP 1.6J central-system session: one per charger connection.

`handle_text` takes one frame from the charger and returns the frame to send back
(or None). It validates against the official schemas, gates everything behind an
accepted BootNotification, answers a retried CALL (same id, same payload) from a
small cache so its effect happens once, and turns every failure into the CALLERROR
code OCPP-J 1.6 names. Effects go through the `ChargerPort`.
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
from .ports import (
    BootInfo,
    ChargerPort,
    IdTagInfo,
    MeterReport,
    MeterValue,
    SampledValue,
    StatusReport,
    TransactionStart,
    TransactionStop,
)
from .replies import PendingReplies
from .timeutil import format_timestamp, parse_timestamp

VERSION = "1.6"
log = logging.getLogger("ocpp_bridge.protocol")

# Actions the CSMS sends to the charger; a charger sending one of them is a peer
# that recognises the action but we do not support it in that direction.
CSMS_INITIATED = frozenset(
    {
        "CancelReservation",
        "CertificateSigned",
        "ChangeAvailability",
        "ChangeConfiguration",
        "ClearCache",
        "ClearChargingProfile",
        "DeleteCertificate",
        "ExtendedTriggerMessage",
        "GetCompositeSchedule",
        "GetConfiguration",
        "GetDiagnostics",
        "GetInstalledCertificateIds",
        "GetLocalListVersion",
        "GetLog",
        "InstallCertificate",
        "RemoteStartTransaction",
        "RemoteStopTransaction",
        "ReserveNow",
        "Reset",
        "SendLocalList",
        "SetChargingProfile",
        "SignedUpdateFirmware",
        "TriggerMessage",
        "UnlockConnector",
        "UpdateFirmware",
    }
)

# what the central system may send: its own calls, and DataTransfer, which OCPP 1.6 Core
# lets either side send (vendor integrations depend on it)
CSMS_MAY_SEND = CSMS_INITIATED | {"DataTransfer"}

REPLAY_CACHE_SIZE = 64


def _id_tag_info(info: IdTagInfo) -> dict:
    out: dict = {"status": info.status}
    if info.expiry_date is not None:
        out["expiryDate"] = format_timestamp(info.expiry_date)
    if info.parent_id_tag:
        out["parentIdTag"] = info.parent_id_tag
    return out


def _meter_values(raw: list[dict]) -> tuple[MeterValue, ...]:
    return tuple(
        MeterValue(
            timestamp=parse_timestamp(mv["timestamp"]),
            sampled_values=tuple(
                SampledValue(
                    value=sv["value"],
                    measurand=sv.get("measurand", "Energy.Active.Import.Register"),
                    unit=sv.get("unit", ""),
                    phase=sv.get("phase", ""),
                    location=sv.get("location", ""),
                    context=sv.get("context", "Sample.Periodic"),
                    format=sv.get("format", "Raw"),
                )
                for sv in mv["sampledValue"]
            ),
        )
        for mv in raw
    )


class ChargePointSessionV16:
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
        self._handlers: dict[str, Callable[[dict], Awaitable[dict]]] = {
            "BootNotification": self._boot,
            "Heartbeat": self._heartbeat,
            "StatusNotification": self._status,
            "Authorize": self._authorize,
            "StartTransaction": self._start,
            "MeterValues": self._meter_values,
            "StopTransaction": self._stop,
            "DataTransfer": self._data_transfer,
            "DiagnosticsStatusNotification": self._diagnostics_status,
            "FirmwareStatusNotification": self._firmware_status,
            "SecurityEventNotification": self._security_event,
            "LogStatusNotification": self._log_status,
            "SignedFirmwareStatusNotification": self._signed_firmware_status,
            "SignCertificate": self._sign_certificate,
        }

    def error_frame(self, message_id: str, error: OcppError) -> str:
        return error_frame(
            message_id, spelled_for(error.code, VERSION), error.description, error.details
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
            if call.action in CSMS_INITIATED:
                raise OcppError(NOT_SUPPORTED, f"{call.action} is sent by the central system")
            raise OcppError(NOT_IMPLEMENTED, f"Unknown action {call.action}")
        schemas.validate_request(VERSION, call.action, call.payload)
        check_bounds(call.payload)
        if call.action != "BootNotification" and not self.accepted:
            raise OcppError(SECURITY_ERROR, "BootNotification has not been accepted")
        payload = await handler(call.payload)
        if self.validate_responses:
            schemas.validate_response(VERSION, call.action, payload)
        return payload

    # --- handlers: payload (validated) -> response payload -------------------------

    async def _boot(self, p: dict) -> dict:
        decision = await self.port.boot(
            BootInfo(
                vendor=p["chargePointVendor"],
                model=p["chargePointModel"],
                charge_point_serial=p.get("chargePointSerialNumber", ""),
                charge_box_serial=p.get("chargeBoxSerialNumber", ""),
                firmware_version=p.get("firmwareVersion", ""),
                iccid=p.get("iccid", ""),
                imsi=p.get("imsi", ""),
                meter_type=p.get("meterType", ""),
                meter_serial=p.get("meterSerialNumber", ""),
            )
        )
        self.accepted = decision.status == "Accepted"
        return {
            "status": decision.status,
            "interval": decision.interval,
            "currentTime": format_timestamp(decision.current_time),
        }

    async def _heartbeat(self, p: dict) -> dict:
        return {"currentTime": format_timestamp(await self.port.heartbeat())}

    async def _status(self, p: dict) -> dict:
        stamp = p.get("timestamp")
        await self.port.status_notification(
            StatusReport(
                connector_id=p["connectorId"],
                status=p["status"],
                error_code=p["errorCode"],
                info=p.get("info", ""),
                vendor_id=p.get("vendorId", ""),
                vendor_error_code=p.get("vendorErrorCode", ""),
                timestamp=parse_timestamp(stamp) if stamp else None,
            )
        )
        return {}

    async def _authorize(self, p: dict) -> dict:
        return {"idTagInfo": _id_tag_info(await self.port.authorize(p["idTag"]))}

    async def _start(self, p: dict) -> dict:
        decision = await self.port.start_transaction(
            TransactionStart(
                connector_id=p["connectorId"],
                id_tag=p["idTag"],
                meter_start=p["meterStart"],
                timestamp=parse_timestamp(p["timestamp"]),
                reservation_id=p.get("reservationId"),
            )
        )
        return {
            "transactionId": decision.transaction_id,
            "idTagInfo": _id_tag_info(decision.id_tag_info),
        }

    async def _meter_values(self, p: dict) -> dict:
        await self.port.meter_values(
            MeterReport(
                connector_id=p["connectorId"],
                transaction_id=p.get("transactionId"),
                meter_values=_meter_values(p["meterValue"]),
            )
        )
        return {}

    async def _stop(self, p: dict) -> dict:
        info = await self.port.stop_transaction(
            TransactionStop(
                transaction_id=p["transactionId"],
                meter_stop=p["meterStop"],
                timestamp=parse_timestamp(p["timestamp"]),
                id_tag=p.get("idTag"),
                reason=p.get("reason", ""),
                transaction_data=_meter_values(p.get("transactionData", [])),
            )
        )
        return {"idTagInfo": _id_tag_info(info)} if info is not None else {}

    async def _data_transfer(self, p: dict) -> dict:
        answer = await self.port.data_transfer(p["vendorId"], p.get("messageId", ""), p.get("data"))
        out: dict = {"status": answer.status}
        if answer.data is not None:
            out["data"] = answer.data
        return out

    async def _diagnostics_status(self, p: dict) -> dict:
        await self.port.diagnostics_status(p["status"])
        return {}

    async def _firmware_status(self, p: dict) -> dict:
        await self.port.firmware_status(p["status"], None, signed=False)
        return {}

    async def _signed_firmware_status(self, p: dict) -> dict:
        await self.port.firmware_status(p["status"], p.get("requestId"), signed=True)
        return {}

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
