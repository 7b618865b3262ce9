"""A charger for command tests: the ocpp library's ChargePoint answering CSMS calls,
running on its own event loop in a thread while the test calls send_command()."""

from __future__ import annotations

import asyncio
import threading

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
        return call_result.GetConfiguration(configuration_key=[
            {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
            {"key": "NumberOfConnectors", "readonly": True, "value": "2"}])

    @on("ChangeConfiguration")
    async def on_change_configuration(self, key, value):
        self.received.append(("ChangeConfiguration", {"key": key, "value": value}))
        return call_result.ChangeConfiguration(
            status="Rejected" if key == "Locked" or self.refuse_keys else "Accepted")

    @on("TriggerMessage")
    async def on_trigger(self, requested_message, connector_id=None):
        await asyncio.sleep(self.slow_seconds)  # a slow charger, for timeouts and queueing
        return call_result.TriggerMessage(status="Accepted")

    @on("RemoteStartTransaction")
    async def on_remote_start(self, id_tag, connector_id=None, charging_profile=None):
        return call_result.RemoteStartTransaction(status="Rejected")


class ThreadedCharger:
    """Connects, boots, and keeps answering until stop()."""

    def __init__(self, url: str, identity: str, password: str | None = None, **behaviour):
        self.url, self.identity, self.password = url, identity, password
        self.behaviour = behaviour
        self.received: list[tuple[str, dict]] = []
        self.ready = threading.Event()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._run(),),
                                       daemon=True)
        self._stop: asyncio.Event | None = None

    async def _run(self) -> None:
        self._stop = asyncio.Event()
        kwargs = {"password": self.password} if self.password else {}
        async with connect(self.url, self.identity, **kwargs) as ws:
            cp = AnsweringChargePoint(self.identity, ws)
            cp.received = self.received
            cp.slow_seconds = self.behaviour.get("slow_seconds", 0.0)
            cp.refuse_keys = self.behaviour.get("refuse_keys", False)
            reader = asyncio.create_task(cp.start())
            await cp.call(call.BootNotification(charge_point_vendor="T", charge_point_model="T"))
            self.ready.set()
            await self._stop.wait()
            reader.cancel()

    def __enter__(self) -> ThreadedCharger:
        self.thread.start()
        if not self.ready.wait(15):
            raise RuntimeError("charger did not connect")
        return self

    def stop(self) -> None:
        if self._stop is not None and self.thread.is_alive():
            self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(10)

    def __exit__(self, *exc) -> None:
        self.stop()
