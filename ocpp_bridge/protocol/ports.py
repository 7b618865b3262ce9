"""The domain port: what the protocol layer needs from the platform, as plain data.

One port instance serves one charger connection. The Django side implements it
(`ocpp_bridge.domain_port`); tests implement it with in-memory fakes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class BootInfo:
    vendor: str
    model: str
    charge_point_serial: str = ""
    charge_box_serial: str = ""
    firmware_version: str = ""
    iccid: str = ""
    imsi: str = ""
    meter_type: str = ""
    meter_serial: str = ""
    reason: str = ""  # 2.0.1: why it booted (PowerUp, RemoteReset, FirmwareUpdate...)


@dataclass(frozen=True)
class BootDecision:
    status: str  # Accepted | Pending | Rejected
    interval: int
    current_time: datetime


@dataclass(frozen=True)
class StatusReport:
    connector_id: int  # 0 = the whole station
    status: str
    error_code: str
    info: str = ""
    vendor_id: str = ""
    vendor_error_code: str = ""
    timestamp: datetime | None = None


@dataclass(frozen=True)
class IdTagInfo:
    status: str  # Accepted | Blocked | Expired | Invalid | ConcurrentTx
    expiry_date: datetime | None = None
    parent_id_tag: str | None = None
    known: bool = True  # False: no such token was ever issued (2.0.1 says Unknown)


@dataclass(frozen=True)
class SampledValue:
    value: str
    measurand: str = "Energy.Active.Import.Register"
    unit: str = ""
    phase: str = ""
    location: str = ""
    context: str = "Sample.Periodic"
    format: str = "Raw"


@dataclass(frozen=True)
class MeterValue:
    timestamp: datetime
    sampled_values: tuple[SampledValue, ...]


@dataclass(frozen=True)
class MeterReport:
    connector_id: int
    transaction_id: int | None
    meter_values: tuple[MeterValue, ...]


@dataclass(frozen=True)
class TransactionStart:
    connector_id: int
    id_tag: str
    meter_start: int
    timestamp: datetime
    reservation_id: int | None = None


@dataclass(frozen=True)
class StartDecision:
    transaction_id: int
    id_tag_info: IdTagInfo


@dataclass(frozen=True)
class TransactionStop:
    transaction_id: int
    meter_stop: int
    timestamp: datetime
    id_tag: str | None = None
    reason: str = ""
    transaction_data: tuple[MeterValue, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class TransactionEvent:
    """One event of a transaction the charger names by its own id (OCPP 2.0.1): Started,
    Updated or Ended, numbered by `seq_no` so that a replay is seen as one."""

    event_type: str  # Started | Updated | Ended
    transaction_id: str
    seq_no: int
    timestamp: datetime
    trigger_reason: str
    evse_id: int | None = None  # the connector; named at least in the first event
    id_token: str | None = None
    charging_state: str = ""
    stopped_reason: str = ""
    remote_start_id: int | None = None
    reservation_id: int | None = None
    offline: bool = False  # queued while the charger was offline
    meter_values: tuple[MeterValue, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class DataTransferAnswer:
    status: str  # Accepted | Rejected | UnknownMessageId | UnknownVendorId
    data: str | None = None


class ChargerPort(Protocol):
    """Effects of charger-initiated messages. Each call returns once its effect is committed."""

    async def boot(self, info: BootInfo) -> BootDecision: ...
    async def heartbeat(self) -> datetime: ...
    async def status_notification(self, report: StatusReport) -> None: ...
    async def authorize(self, id_tag: str) -> IdTagInfo: ...
    async def start_transaction(self, start: TransactionStart) -> StartDecision: ...
    async def meter_values(self, report: MeterReport) -> None: ...
    async def stop_transaction(self, stop: TransactionStop) -> IdTagInfo | None: ...
    async def transaction_event(self, event: TransactionEvent) -> IdTagInfo | None: ...
    async def notify_report(self, report_data: list[dict]) -> None: ...
    async def notify_event(self, events: list[dict]) -> None: ...
    async def charger_report(self, kind: str, payload: dict) -> None: ...
    async def reservation_update(self, reservation_id: int, update: str) -> None: ...
    async def data_transfer(
        self, vendor_id: str, message_id: str, data: str | None
    ) -> DataTransferAnswer: ...
    async def diagnostics_status(self, status: str) -> None: ...
    async def firmware_status(self, status: str, request_id: int | None, signed: bool) -> None: ...
    async def security_event(self, kind: str, timestamp: datetime, tech_info: str) -> None: ...
    async def log_status(self, status: str, request_id: int | None) -> None: ...
    async def sign_certificate(self, csr: str) -> str: ...
