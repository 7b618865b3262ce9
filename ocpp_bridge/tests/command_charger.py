"""A charger for command tests: the ocpp library's ChargePoint answering CSMS calls,
running on its own event loop in a thread while the test calls send_command()."""

from __future__ import annotations

import asyncio
import json
import threading

from ocpp.charge_point import snake_to_camel_case
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result

from ocpp_bridge.tests.charger import connect


class AnsweringChargePoint(ChargePoint):
    slow_seconds = 0.0
    received: list[tuple[str, dict]]

    @on("Reset")
    async def on_reset(self, type):  # noqa: A002 - the OCPP field name
        self.received.append(("Reset", {"type": type}))
        return call_result.Reset(status="Accepted")

    @on("UnlockConnector")
    async def on_unlock(self, connector_id):
        return call_result.UnlockConnector(status="Unlocked")

    @on("GetConfiguration")
    async def on_get_configuration(self, key=None):
        return call_result.GetConfiguration(
            configuration_key=[
                {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
                {"key": "NumberOfConnectors", "readonly": True, "value": "2"},
            ]
        )

    @on("ChangeConfiguration")
    async def on_change_configuration(self, key, value):
        self.received.append(("ChangeConfiguration", {"key": key, "value": value}))
        return call_result.ChangeConfiguration(
            status="Rejected" if key == "Locked" or self.refuse_keys else "Accepted"
        )

    @on("TriggerMessage")
    async def on_trigger(self, requested_message, connector_id=None):
        request = {"requestedMessage": requested_message}
        if connector_id is not None:
            request["connectorId"] = connector_id
        self.received.append(("TriggerMessage", request))
        gate = getattr(self, "behaviour", {}).get("gate")
        if gate is not None:  # a threading.Event: the answer waits until the test sets it
            await asyncio.get_running_loop().run_in_executor(None, gate.wait)
        await asyncio.sleep(self.slow_seconds)  # a slow charger, for timeouts
        return call_result.TriggerMessage(status="Accepted")

    @on("RemoteStartTransaction")
    async def on_remote_start(self, id_tag, connector_id=None, charging_profile=None):
        return call_result.RemoteStartTransaction(status="Rejected")

    # --- for the admin actions' tests (ocpp_bridge/tests/test_admin_actions.py) ---

    @on("ChangeAvailability")
    async def on_change_availability(self, connector_id, type):  # noqa: A002 - OCPP name
        self.received.append(("ChangeAvailability", {"connectorId": connector_id, "type": type}))
        return call_result.ChangeAvailability(
            status=getattr(self, "behaviour", {}).get("availability", "Accepted")
        )

    @on("RemoteStopTransaction")
    async def on_remote_stop(self, transaction_id):
        self.received.append(("RemoteStopTransaction", {"transactionId": transaction_id}))
        return call_result.RemoteStopTransaction(status="Accepted")

    @on("UpdateFirmware")
    async def on_update_firmware(self, location, retrieve_date, retries=None, retry_interval=None):
        self.received.append(
            ("UpdateFirmware", {"location": location, "retrieveDate": retrieve_date})
        )
        return call_result.UpdateFirmware()

    @on("GetDiagnostics")
    async def on_get_diagnostics(
        self, location, retries=None, retry_interval=None, start_time=None, stop_time=None
    ):
        self.received.append(("GetDiagnostics", {"location": location}))
        return call_result.GetDiagnostics(file_name="diag-T.zip")

    # --- local list, reservations, charging profiles (stations/tests/test_e2e_*.py) ---
    # Each records the payload exactly as sent (camelCase) in `received`. Answers come
    # from the ThreadedCharger's keyword arguments, e.g. local_list_answers=["VersionMismatch"]
    # (one per SendLocalList, then Accepted), reserve_status="Occupied".

    @staticmethod
    def _as_sent(request: dict) -> dict:
        # the ocpp library parses SetChargingProfile numbers as Decimal (for multipleOf);
        # back to JSON's floats so tests compare with what the central system sent
        return json.loads(json.dumps(snake_to_camel_case(request), default=float))

    def _answer(self, key: str, default: str) -> str:
        return getattr(self, "behaviour", {}).get(key, default)

    @on("DataTransfer")
    async def on_data_transfer(self, vendor_id, message_id=None, data=None):
        self.received.append(
            ("DataTransfer", {"vendorId": vendor_id, "messageId": message_id, "data": data})
        )
        if vendor_id != "com.acme":
            return call_result.DataTransfer(status="UnknownVendorId")
        return call_result.DataTransfer(status="Accepted", data=f"pong:{data}")

    @on("SendLocalList")
    async def on_send_local_list(self, **request):
        payload = snake_to_camel_case(request)
        self.received.append(("SendLocalList", payload))
        answers = getattr(self, "behaviour", {}).get("local_list_answers") or []
        status = answers.pop(0) if answers else "Accepted"
        if status == "Accepted":
            self.local_list_version = payload["listVersion"]
        return call_result.SendLocalList(status=status)

    @on("GetLocalListVersion")
    async def on_get_local_list_version(self):
        self.received.append(("GetLocalListVersion", {}))
        version = getattr(self, "behaviour", {}).get("local_list_version")
        return call_result.GetLocalListVersion(
            list_version=version if version is not None else getattr(self, "local_list_version", 0)
        )

    @on("ReserveNow")
    async def on_reserve_now(self, **request):
        self.received.append(("ReserveNow", snake_to_camel_case(request)))
        return call_result.ReserveNow(status=self._answer("reserve_status", "Accepted"))

    @on("CancelReservation")
    async def on_cancel_reservation(self, reservation_id):
        self.received.append(("CancelReservation", {"reservationId": reservation_id}))
        return call_result.CancelReservation(status=self._answer("cancel_status", "Accepted"))

    @on("SetChargingProfile")
    async def on_set_charging_profile(self, **request):
        self.received.append(("SetChargingProfile", self._as_sent(request)))
        return call_result.SetChargingProfile(status=self._answer("profile_status", "Accepted"))

    @on("ClearChargingProfile")
    async def on_clear_charging_profile(self, **request):
        self.received.append(("ClearChargingProfile", snake_to_camel_case(request)))
        return call_result.ClearChargingProfile(status=self._answer("clear_status", "Accepted"))

    @on("GetCompositeSchedule")
    async def on_get_composite_schedule(self, **request):
        self.received.append(("GetCompositeSchedule", snake_to_camel_case(request)))
        return call_result.GetCompositeSchedule(
            status="Accepted",
            connector_id=request["connector_id"],
            schedule_start="2030-01-01T00:00:00Z",
            charging_schedule={
                "charging_rate_unit": request.get("charging_rate_unit") or "A",
                "charging_schedule_period": [{"start_period": 0, "limit": 16.0}],
            },
        )


class ThreadedCharger:
    """Connects, boots, and keeps answering until stop()."""

    charge_point_class: type[ChargePoint] = AnsweringChargePoint

    def __init__(self, url: str, identity: str, password: str | None = None, **behaviour):
        self.url, self.identity, self.password = url, identity, password
        self.behaviour = behaviour
        self.received: list[tuple[str, dict]] = []
        self.ready = threading.Event()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_until_complete, args=(self._run(),), daemon=True
        )
        self._stop: asyncio.Event | None = None

    async def _run(self) -> None:
        self._stop = asyncio.Event()
        kwargs = {"password": self.password} if self.password else {}
        async with connect(self.url, self.identity, **kwargs) as ws:
            cp = self.charge_point_class(self.identity, ws)
            cp.received = self.received
            cp.slow_seconds = self.behaviour.get("slow_seconds", 0.0)
            cp.refuse_keys = self.behaviour.get("refuse_keys", False)
            cp.behaviour = self.behaviour
            reader = asyncio.create_task(cp.start())
            await cp.call(call.BootNotification(charge_point_vendor="T", charge_point_model="T"))
            self.cp = cp
            self.ready.set()
            await self._stop.wait()
            reader.cancel()

    def __enter__(self) -> ThreadedCharger:
        self.thread.start()
        if not self.ready.wait(15):
            raise RuntimeError("charger did not connect")
        return self

    def call(self, request, timeout: float = 15):
        """Send a CALL as the charger (e.g. call.StartTransaction(...)) from the test's
        thread and return the central system's answer (a call_result dataclass)."""
        return asyncio.run_coroutine_threadsafe(self.cp.call(request), self.loop).result(timeout)

    def stop(self) -> None:
        if self._stop is not None and self.thread.is_alive():
            self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(10)

    def __exit__(self, *exc) -> None:
        self.stop()
