"""An in-memory ChargerPort for protocol tests: records calls, no Django, no socket."""

from __future__ import annotations

from datetime import UTC, datetime

from ocpp_bridge.protocol.ports import (
    BootDecision,
    DataTransferAnswer,
    IdTagInfo,
    StartDecision,
)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


class FakePort:
    def __init__(self, boot_status: str = "Accepted"):
        self.boot_status = boot_status
        self.calls: list[tuple[str, object]] = []
        self.next_tx = 1
        self.fail_with: Exception | None = None

    def _record(self, name: str, arg: object = None) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.calls.append((name, arg))

    def count(self, name: str) -> int:
        return sum(1 for n, _ in self.calls if n == name)

    async def boot(self, info):
        self._record("boot", info)
        return BootDecision(status=self.boot_status, interval=300, current_time=NOW)

    async def heartbeat(self):
        self._record("heartbeat")
        return NOW

    async def status_notification(self, report):
        self._record("status", report)

    async def authorize(self, id_tag):
        self._record("authorize", id_tag)
        if id_tag == "NOBODY":  # never issued
            return IdTagInfo(status="Invalid", known=False)
        return IdTagInfo(status="Accepted" if id_tag == "GOOD" else "Invalid")

    async def start_transaction(self, start):
        self._record("start", start)
        self.next_tx += 1
        return StartDecision(transaction_id=self.next_tx - 1, id_tag_info=IdTagInfo("Accepted"))

    async def meter_values(self, report):
        self._record("meter", report)

    async def stop_transaction(self, stop):
        self._record("stop", stop)
        return None

    async def data_transfer(self, vendor_id, message_id, data):
        self._record("data_transfer", (vendor_id, message_id, data))
        return DataTransferAnswer(status="UnknownVendorId")

    async def diagnostics_status(self, status):
        self._record("diagnostics", status)

    async def firmware_status(self, status, request_id, signed):
        self._record("firmware", (status, request_id, signed))

    async def security_event(self, kind, timestamp, tech_info):
        self._record("security_event", (kind, timestamp, tech_info))

    async def log_status(self, status, request_id):
        self._record("log_status", (status, request_id))

    async def sign_certificate(self, csr):
        self._record("sign_certificate", csr)
        return "Accepted"

    async def transaction_event(self, event):
        self._record("transaction_event", event)
        return IdTagInfo(status="Accepted" if event.id_token == "GOOD" else "Invalid")

    async def notify_report(self, report_data):
        self._record("notify_report", report_data)

    async def notify_event(self, events):
        self._record("notify_event", events)

    async def charger_report(self, kind, payload):
        self._record("charger_report", (kind, payload))

    async def reservation_update(self, reservation_id, update):
        self._record("reservation_update", (reservation_id, update))
