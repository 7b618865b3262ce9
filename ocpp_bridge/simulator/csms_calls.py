"""How the simulated charger answers calls from the central system.

Handlers (`@on`) only decide and answer. Anything that sends a message of its own runs
in an `@after` hook, once the answer is on the wire: the receive loop waits while a
handler runs, so awaiting a reply inside one would deadlock.
"""

from __future__ import annotations

from ocpp.routing import after, on
from ocpp.v16 import call, call_result
from ocpp.v16.enums import (
    Action,
    AvailabilityStatus,
    ConfigurationStatus,
    MessageTrigger,
    Reason,
    RemoteStartStopStatus,
    ResetStatus,
    TriggerMessageStatus,
    UnlockStatus,
)

from .meter import meter_value, now_iso

TRIGGERS = frozenset(
    {
        MessageTrigger.boot_notification,
        MessageTrigger.heartbeat,
        MessageTrigger.status_notification,
        MessageTrigger.meter_values,
        MessageTrigger.diagnostics_status_notification,
        MessageTrigger.firmware_status_notification,
    }
)


def _positive_number(value: str) -> bool:
    try:
        return float(value) > 0
    except ValueError:
        return False


class CsmsCallsMixin:
    """Mixed into `SimulatedChargePoint`; uses its state and its `answer`, `send`,
    `status`, `spawn`, `poke`, `free`, `stopping` and `_begin`."""

    def _connector_ok(self, connector: int | None, *, allow_zero: bool = False) -> bool:
        low = 0 if allow_zero else 1
        return connector is None or low <= connector <= self.config.connectors

    def _busy(self, connector: int) -> bool:
        if connector == 0:
            return bool(self.state.open_txs)
        return connector in self.state.open_txs

    def _connector_of(self, transaction_id) -> int | None:
        return next(
            (n for n, tx in self.state.open_txs.items() if tx.transaction_id == transaction_id),
            None,
        )

    @on(Action.reset)
    def on_reset(self, **request):
        return self.answer("Reset", request, call_result.Reset(ResetStatus.accepted))

    @after(Action.reset)
    def after_reset(self, **request):
        self.reboot_type = request["type"]  # an open transaction stops first
        self.poke()

    @on(Action.remote_start_transaction)
    def on_remote_start(self, **request):
        connector = request.get("connector_id") or 1
        ok = self._connector_ok(connector) and self.free(connector) and not self.stopping()
        if ok:  # held for this start until its transaction task runs (after the answer)
            self.reserved.add(connector)
        status = RemoteStartStopStatus.accepted if ok else RemoteStartStopStatus.rejected
        return self.answer(
            "RemoteStartTransaction", request, call_result.RemoteStartTransaction(status)
        )

    @after(Action.remote_start_transaction)
    def after_remote_start(self, **request):
        connector = request.get("connector_id") or 1
        if connector in self.reserved:
            self._begin(connector, start=(request["id_tag"], True))

    @on(Action.remote_stop_transaction)
    def on_remote_stop(self, **request):
        ok = self._connector_of(request["transaction_id"]) is not None
        status = RemoteStartStopStatus.accepted if ok else RemoteStartStopStatus.rejected
        return self.answer(
            "RemoteStopTransaction", request, call_result.RemoteStopTransaction(status)
        )

    @after(Action.remote_stop_transaction)
    def after_remote_stop(self, **request):
        connector = self._connector_of(request["transaction_id"])
        if connector is not None:
            self.stop_reasons[connector] = Reason.remote
            self.poke()

    @on(Action.change_availability)
    def on_change_availability(self, **request):
        connector, inoperative = request["connector_id"], request["type"] == "Inoperative"
        if not self._connector_ok(connector, allow_zero=True):
            status = AvailabilityStatus.rejected
        else:
            # a running transaction finishes first: Scheduled, applied when it stops
            busy = inoperative and self._busy(connector)
            status = AvailabilityStatus.scheduled if busy else AvailabilityStatus.accepted
            if inoperative:
                self.state.unavailable.add(connector)
            else:
                self.state.unavailable.discard(connector)
        return self.answer("ChangeAvailability", request, call_result.ChangeAvailability(status))

    @after(Action.change_availability)
    def after_change_availability(self, **request):
        connector = request["connector_id"]
        if self._connector_ok(connector, allow_zero=True):
            affected = range(self.config.connectors + 1) if connector == 0 else [connector]
            self.spawn(self._report_idle(affected))
            self.poke()

    async def _report_idle(self, connectors) -> None:
        for n in connectors:
            if not self._busy(n):
                await self.status(n, self.idle_status(n))

    @on(Action.get_configuration)
    def on_get_configuration(self, **request):
        config = self.state.configuration
        keys = request.get("key") or list(config)
        known = [
            {"key": k, "value": config[k][0], "readonly": config[k][1]} for k in keys if k in config
        ]
        unknown = [k for k in keys if k not in config]
        return self.answer(
            "GetConfiguration",
            request,
            call_result.GetConfiguration(configuration_key=known, unknown_key=unknown or None),
        )

    @on(Action.change_configuration)
    def on_change_configuration(self, **request):
        key, value = request["key"], request["value"]
        if key not in self.state.configuration:
            status = ConfigurationStatus.not_supported
        elif self.state.configuration[key][1] or not _positive_number(value):
            status = ConfigurationStatus.rejected  # read-only, or not a number of seconds
        else:
            self.state.configuration[key] = (value, False)  # read live by the loops
            status = ConfigurationStatus.accepted
        return self.answer("ChangeConfiguration", request, call_result.ChangeConfiguration(status))

    @on(Action.trigger_message)
    def on_trigger_message(self, **request):
        if request["requested_message"] not in TRIGGERS:
            status = TriggerMessageStatus.not_implemented
        elif not self._connector_ok(request.get("connector_id"), allow_zero=True):
            status = TriggerMessageStatus.rejected
        else:
            status = TriggerMessageStatus.accepted
        return self.answer("TriggerMessage", request, call_result.TriggerMessage(status))

    @after(Action.trigger_message)
    def after_trigger_message(self, **request):
        what, connector = request["requested_message"], request.get("connector_id")
        if what in TRIGGERS and self._connector_ok(connector, allow_zero=True):
            self.spawn(self._triggered(what, connector))

    async def _triggered(self, what: str, connector: int | None) -> None:
        if what == MessageTrigger.boot_notification:
            await self.send(self.boot_request())
        elif what == MessageTrigger.heartbeat:
            await self.send(call.Heartbeat())
        elif what == MessageTrigger.status_notification:
            for n in [connector] if connector is not None else sorted(self.statuses):
                await self.status(n, self.statuses.get(n, self.idle_status(n)))
        elif what == MessageTrigger.meter_values:
            n = connector or min(self.state.open_txs, default=1)
            tx = self.state.open_txs.get(n)
            reading = self.meter(tx) if tx is not None else self.state.meters[n].reading()
            await self.send(
                call.MeterValues(
                    connector_id=n,
                    transaction_id=tx.transaction_id if tx is not None else None,
                    meter_value=[meter_value(reading, now_iso(), "Trigger")],
                )
            )
        elif what == MessageTrigger.diagnostics_status_notification:
            await self.send(call.DiagnosticsStatusNotification(status="Idle"))
        else:
            await self.send(call.FirmwareStatusNotification(status="Idle"))

    @on(Action.unlock_connector)
    def on_unlock_connector(self, **request):
        ok = self._connector_ok(request["connector_id"])
        status = UnlockStatus.unlocked if ok else UnlockStatus.not_supported
        return self.answer("UnlockConnector", request, call_result.UnlockConnector(status))

    @after(Action.unlock_connector)
    def after_unlock_connector(self, **request):
        if request["connector_id"] in self.state.open_txs:
            # unlocking ends the transaction
            self.stop_reasons[request["connector_id"]] = Reason.unlock_command
            self.poke()
