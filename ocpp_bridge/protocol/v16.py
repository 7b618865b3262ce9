"""OCPP 1.6J central-system session: the 1.6 messages mapped onto the `ChargerPort`
(the frames, the replay cache, the boot gate and the error codes: session.py)."""

from __future__ import annotations

import logging

from .ports import (
    BootInfo,
    IdTagInfo,
    MeterReport,
    MeterValue,
    SampledValue,
    StatusReport,
    TransactionStart,
    TransactionStop,
)
from .session import ChargePointSession, Handler
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


class ChargePointSessionV16(ChargePointSession):
    VERSION = VERSION
    CSMS_INITIATED = CSMS_INITIATED

    def handlers(self) -> dict[str, Handler]:
        return {
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
        self.boot_answered(decision.status)
        return {
            "status": decision.status,
            "interval": decision.interval,
            "currentTime": format_timestamp(decision.current_time),
        }

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

    async def _diagnostics_status(self, p: dict) -> dict:
        await self.port.diagnostics_status(p["status"])
        return {}

    async def _firmware_status(self, p: dict) -> dict:
        await self.port.firmware_status(p["status"], None, signed=False)
        return {}

    async def _signed_firmware_status(self, p: dict) -> dict:
        await self.port.firmware_status(p["status"], p.get("requestId"), signed=True)
        return {}
