"""OCPP 2.0.1 central-system session: the 2.0.1 messages mapped onto the same `ChargerPort`
as 1.6 (the frames, the replay cache, the boot gate and the error codes: session.py).

An EVSE is what the platform calls a connector: `evseId` becomes the connector number
(chargers with one connector per EVSE, the usual build). A transaction is named by the
charger's own string id and reported as events with sequence numbers; the port applies
each event once.
"""

from __future__ import annotations

from decimal import Decimal

from .ports import (
    BootInfo,
    IdTagInfo,
    MeterReport,
    MeterValue,
    SampledValue,
    StatusReport,
    TransactionEvent,
)
from .session import ChargePointSession, Handler
from .timeutil import format_timestamp, parse_timestamp

VERSION = "2.0.1"

CSMS_INITIATED = frozenset(
    {
        "CancelReservation",
        "CertificateSigned",
        "ChangeAvailability",
        "ClearCache",
        "ClearChargingProfile",
        "ClearDisplayMessage",
        "ClearVariableMonitoring",
        "CostUpdated",
        "CustomerInformation",
        "DeleteCertificate",
        "GetBaseReport",
        "GetChargingProfiles",
        "GetCompositeSchedule",
        "GetDisplayMessages",
        "GetInstalledCertificateIds",
        "GetLocalListVersion",
        "GetLog",
        "GetMonitoringReport",
        "GetReport",
        "GetTransactionStatus",
        "GetVariables",
        "InstallCertificate",
        "PublishFirmware",
        "RequestStartTransaction",
        "RequestStopTransaction",
        "ReserveNow",
        "Reset",
        "SendLocalList",
        "SetChargingProfile",
        "SetDisplayMessage",
        "SetMonitoringBase",
        "SetMonitoringLevel",
        "SetNetworkProfile",
        "SetVariableMonitoring",
        "SetVariables",
        "TriggerMessage",
        "UnlockConnector",
        "UnpublishFirmware",
        "UpdateFirmware",
    }
)
CSMS_MAY_SEND = CSMS_INITIATED | {"DataTransfer"}

# reports stored as the charger sent them -> the answer's payload
STORED_REPORTS: dict[str, dict] = {
    "NotifyMonitoringReport": {},
    "NotifyChargingLimit": {},
    "ClearedChargingLimit": {},
    "ReportChargingProfiles": {},
    "NotifyCustomerInformation": {},
    "NotifyDisplayMessages": {},
    "PublishFirmwareStatusNotification": {},
    "NotifyEVChargingSchedule": {"status": "Accepted"},
    # no ISO 15118 schedule is computed yet: the EV's needs are noted, not planned for
    "NotifyEVChargingNeeds": {"status": "Rejected"},
}

ENERGY = "Energy.Active.Import.Register"  # 2.0.1's default measurand, as in 1.6


def _id_token_info(info: IdTagInfo, token_type: str) -> dict:
    # 2.0.1 tells a token nobody issued (Unknown) from one refused (Invalid)
    status = "Unknown" if info.status == "Invalid" and not info.known else info.status
    out: dict = {"status": status}
    if info.expiry_date is not None:
        out["cacheExpiryDateTime"] = format_timestamp(info.expiry_date)
    if info.parent_id_tag:
        out["groupIdToken"] = {"idToken": info.parent_id_tag, "type": token_type}
    return out


def _number(value: float | int, multiplier: int) -> str:
    """A sampled value as text in its unit, the multiplier applied (10^multiplier)."""
    number = Decimal(str(value)).scaleb(multiplier)
    return format(number.normalize(), "f") if number == number.to_integral() else str(number)


def meter_values(raw: list[dict]) -> tuple[MeterValue, ...]:
    """2.0.1 meterValue objects as the port's plain meter values (units as the charger
    named them, kWh or Wh; the platform normalises them as for 1.6)."""
    out = []
    for mv in raw:
        samples = []
        for sv in mv["sampledValue"]:
            unit = sv.get("unitOfMeasure") or {}
            samples.append(
                SampledValue(
                    value=_number(sv["value"], unit.get("multiplier", 0)),
                    measurand=sv.get("measurand", ENERGY),
                    unit=unit.get("unit", ""),  # none: Wh for energy (metering)
                    phase=sv.get("phase", ""),
                    location=sv.get("location", ""),
                    context=sv.get("context", "Sample.Periodic"),
                )
            )
        out.append(
            MeterValue(timestamp=parse_timestamp(mv["timestamp"]), sampled_values=tuple(samples))
        )
    return tuple(out)


class ChargePointSessionV201(ChargePointSession):
    VERSION = VERSION
    CSMS_INITIATED = CSMS_INITIATED
    # while Pending the charger may answer the CSMS's reports requests (B02)
    WHILE_PENDING = frozenset({"NotifyReport"})

    def handlers(self) -> dict[str, Handler]:
        return {
            "BootNotification": self._boot,
            "Heartbeat": self._heartbeat,
            "StatusNotification": self._status,
            "Authorize": self._authorize,
            "TransactionEvent": self._transaction_event,
            "MeterValues": self._meter_values,
            "DataTransfer": self._data_transfer,
            "FirmwareStatusNotification": self._firmware_status,
            "SecurityEventNotification": self._security_event,
            "LogStatusNotification": self._log_status,
            "SignCertificate": self._sign_certificate,
            "NotifyEvent": self._notify_event,
            "NotifyReport": self._notify_report,
            "ReservationStatusUpdate": self._reservation_status,
            # stored as sent (ChargerReport); their blocks are managed later
            **{kind: self._stored_report(kind, answer) for kind, answer in STORED_REPORTS.items()},
            # the PKI behind these comes later: refused, as the spec allows
            "Get15118EVCertificate": self._ev_certificate,
            "GetCertificateStatus": self._failed_status,
        }

    # --- handlers: payload (validated) -> response payload -------------------------

    async def _boot(self, p: dict) -> dict:
        station = p["chargingStation"]
        modem = station.get("modem") or {}
        decision = await self.port.boot(
            BootInfo(
                vendor=station["vendorName"],
                model=station["model"],
                charge_point_serial=station.get("serialNumber", ""),
                firmware_version=station.get("firmwareVersion", ""),
                iccid=modem.get("iccid", ""),
                imsi=modem.get("imsi", ""),
                reason=p["reason"],
            )
        )
        self.boot_answered(decision.status)
        return {
            "currentTime": format_timestamp(decision.current_time),
            "interval": decision.interval,
            "status": decision.status,
        }

    async def _status(self, p: dict) -> dict:
        await self.port.status_notification(
            StatusReport(
                connector_id=p["evseId"],
                status=p["connectorStatus"],
                error_code="NoError",  # 2.0.1 reports faults through NotifyEvent
                timestamp=parse_timestamp(p["timestamp"]),
            )
        )
        return {}

    async def _authorize(self, p: dict) -> dict:
        token = p["idToken"]
        info = await self.port.authorize(token["idToken"])
        return {"idTokenInfo": _id_token_info(info, token["type"])}

    async def _transaction_event(self, p: dict) -> dict:
        info = p["transactionInfo"]
        token = p.get("idToken")
        evse = p.get("evse") or {}
        answer = await self.port.transaction_event(
            TransactionEvent(
                event_type=p["eventType"],
                transaction_id=info["transactionId"],
                seq_no=p["seqNo"],
                timestamp=parse_timestamp(p["timestamp"]),
                trigger_reason=p["triggerReason"],
                evse_id=evse.get("id"),
                id_token=token["idToken"] if token else None,
                charging_state=info.get("chargingState", ""),
                stopped_reason=info.get("stoppedReason", ""),
                remote_start_id=info.get("remoteStartId"),
                reservation_id=p.get("reservationId"),
                offline=p.get("offline", False),
                meter_values=meter_values(p.get("meterValue", [])),
            )
        )
        if token is None or answer is None:
            return {}
        return {"idTokenInfo": _id_token_info(answer, token["type"])}

    async def _meter_values(self, p: dict) -> dict:
        await self.port.meter_values(
            MeterReport(
                connector_id=p["evseId"],
                transaction_id=None,  # in a transaction, meter values come as its events
                meter_values=meter_values(p["meterValue"]),
            )
        )
        return {}

    async def _firmware_status(self, p: dict) -> dict:
        await self.port.firmware_status(p["status"], p.get("requestId"), signed=True)
        return {}

    async def _notify_report(self, p: dict) -> dict:
        # a report without data (an empty part of a report) changes nothing
        await self.port.notify_report(p.get("reportData", []))
        return {}

    async def _notify_event(self, p: dict) -> dict:
        # times checked here, as for every other message: a bad one is the charger's error
        # (PropertyConstraintViolation), never a failure of ours it would retry for ever
        events = [
            {**item, "timestamp": parse_timestamp(item["timestamp"]).isoformat()}
            for item in p["eventData"]
        ]
        await self.port.notify_event(events)
        return {}

    async def _reservation_status(self, p: dict) -> dict:
        await self.port.reservation_update(p["reservationId"], p["reservationUpdateStatus"])
        return {}

    def _stored_report(self, kind: str, answer: dict) -> Handler:
        async def store(p: dict) -> dict:
            await self.port.charger_report(kind, p)
            return dict(answer)

        return store

    async def _failed_status(self, p: dict) -> dict:
        return {"status": "Failed"}

    async def _ev_certificate(self, p: dict) -> dict:
        return {"status": "Failed", "exiResponse": ""}
