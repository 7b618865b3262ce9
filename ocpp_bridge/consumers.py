"""The charger WebSocket: authenticate the handshake, negotiate the subprotocol, pass
each frame to the protocol session and send back what it returns. No business rules."""

from __future__ import annotations

import asyncio
import json
import logging
import time

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings
from django.utils import timezone
from redis.exceptions import RedisError

from evpower.channels_dispatch import dispatch_until_stopped
from evpower.correlation import frame_correlation_id, set_correlation_id, socket_correlation_id
from evpower.metrics.registry import handshake_refusal_observed
from evpower.security_events import security_event_record
from evpower.ws_deny import deny_handshake
from stations.live import post_status
from stations.models import Station
from stations.services import station_connected, station_disconnected, station_seen

from .command_runner import CommandRunner
from .db import run_db
from .domain_port import DjangoChargerPort
from .handshake import Handshake, Verdict, handshake_decide, handshake_screen, password_work
from .message_log import message_log
from .metrics import ocpp_message_observed
from .password_gate import gate as password_gate
from .protocol.frames import Call, CallError, call_frame
from .protocol.secrets import masked
from .protocol.v16 import ChargePointSessionV16
from .protocol.v201 import ChargePointSessionV201
from .protocol.versions import SUBPROTOCOLS, choose_version
from .ratelimit import TokenBucket

log = logging.getLogger("ocpp_bridge")
SEEN_WRITE_SECONDS = 30  # liveness is coarse; don't write last_seen_at for every frame
CLOSE_REPLACED = 4000
CLOSE_NO_SUBPROTOCOL = 1002
CHANNEL_RETRY_SECONDS = 0.5


class OcppConsumer(AsyncWebsocketConsumer):
    station_id: int | None = None
    session: ChargePointSessionV16 | ChargePointSessionV201 | None = None

    async def __call__(self, scope, receive, send):
        # Channels' own __call__, except that the channel-layer receive survives a lost
        # Redis connection: stock, the exception would kill every charger's consumer at
        # once (sockets dropped, stations left marked connected). Here each consumer keeps
        # its socket and simply listens again once Redis is back. Its end cannot hang on a
        # receive that ignores cancellation (evpower/channels_dispatch.py).
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.channel_name = await self.channel_layer.new_channel()
        self.base_send = send
        try:
            await dispatch_until_stopped([receive, self._channel_receive], self.dispatch)
        except StopConsumer:
            pass

    async def _channel_receive(self) -> dict:
        while True:
            try:
                return await self.channel_layer.receive(self.channel_name)
            except (ConnectionError, OSError, RedisError) as exc:
                log.warning("channel layer unavailable (%s); retrying", exc)
                await asyncio.sleep(CHANNEL_RETRY_SECONDS)

    async def dispatch(self, message: dict) -> None:
        # Channels closes stale DB connections around every event through its single
        # thread-sensitive executor: one hop per frame that all chargers queue on. This
        # consumer touches the database only through run_db, whose threads manage their own.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        self.identity = self.scope["url_route"]["kwargs"]["identity"]
        # this connection's lines (handshake, disconnect) share one id; frames get their own
        self.correlation_id = set_correlation_id(socket_correlation_id(self.identity))
        headers = {
            k.decode("latin-1").lower(): v.decode("latin-1")
            for k, v in self.scope.get("headers", [])
        }
        client = self.scope.get("client") or ("", 0)
        if not password_gate.try_enter():  # before any lookup or hash
            handshake_refusal_observed(reason="busy")
            # not logged one by one: in a storm the log lines cost more than the refusals
            # (the gate logs a count now and then; the metric counts each)
            await deny_handshake(
                self,
                503,
                {"error": "too many handshakes in progress; retry shortly"},
                retry_after=settings.OCPP_HANDSHAKE_RETRY_AFTER,
            )
            return
        try:
            verdict = await self._authenticate(
                Handshake(
                    identity=self.identity,
                    headers=headers,
                    client_ip=client[0],
                    tls=self.scope.get("scheme") == "wss",
                )
            )
        finally:
            password_gate.leave()
        if verdict.status:
            handshake_refusal_observed(reason=verdict.code or "other")
            await self._deny(verdict.status, verdict.reason)
            return
        station: Station = verdict.station
        offered = self.scope.get("subprotocols") or []
        version = choose_version(
            offered,
            pin=station.ocpp_version_pin,
            allow_missing=station.allow_missing_subprotocol,
        )
        if version is None:
            handshake_refusal_observed(reason="no_subprotocol")
            # OCPP-J: answer the handshake without a subprotocol, then close at once.
            await self.accept()
            await self.close(code=CLOSE_NO_SUBPROTOCOL)
            return
        self.station_id = station.pk
        previous = await run_db(
            station_connected,
            station_id=station.pk,
            channel=self.channel_name,
            now=timezone.now(),
            ocpp_version=version,
        )
        if previous and previous != self.channel_name:
            await self._replace(previous, client[0])
        self._last_seen = time.monotonic()
        self.bucket = TokenBucket(settings.OCPP_RATE_PER_SECOND, settings.OCPP_RATE_BURST)
        session_class = ChargePointSessionV201 if version == "2.0.1" else ChargePointSessionV16
        self.session = session_class(
            DjangoChargerPort(
                station_id=station.pk,
                identity=self.identity,
                on_seen=self._mark_seen,
                location_id=station.location_id,
                channel_name=self.channel_name,
            ),
            # a charger that switched versions boots again before anything else
            accepted=station.registration_status == Station.Registration.ACCEPTED
            and station.last_boot_at is not None
            and station.ocpp_version == version,
            max_frame_chars=settings.OCPP_MAX_FRAME_BYTES,
            validate_responses=settings.DEBUG,
        )
        self.commands = CommandRunner(self)
        await self.accept(SUBPROTOCOLS[version] if offered else None)
        self.location_id = station.location_id
        await self._publish_online(True)
        log.info("charger %s connected", self.identity)

    async def _authenticate(self, hs: Handshake) -> Verdict:
        """Lookups on the database pool, the password hash on the gate's own threads."""
        step = await run_db(handshake_screen, hs)
        if isinstance(step, Verdict):
            return step
        outcome = await password_gate.run(password_work, step)
        return await run_db(handshake_decide, hs, step, outcome)

    async def _deny(self, status: int, reason: str, retry_after: int | None = None) -> None:
        log.info("refused charger %s: %s %s", self.identity, status, reason)
        await deny_handshake(self, status, {"error": reason}, retry_after=retry_after)

    async def _replace(self, previous_channel: str, client_ip: str) -> None:
        """A second authenticated connection wins; the old socket is told to close."""
        try:  # bounded: a Redis outage must not hold the new connection's handshake
            await asyncio.wait_for(
                self.channel_layer.send(previous_channel, {"type": "ocpp.replaced"}),
                settings.OCPP_COMMAND_DELIVERY_SECONDS,
            )
        except Exception as exc:
            log.warning(
                "charger %s: could not tell the replaced connection (%s)",
                self.identity,
                type(exc).__name__,
            )
        await run_db(
            security_event_record,
            station_id=self.station_id,
            identity=self.identity,
            kind="ConnectionReplaced",
            remote_addr=client_ip,
            tech_info=f"new connection replaced {previous_channel}",
        )
        log.warning("charger %s: new connection replaced the previous one", self.identity)

    async def ocpp_replaced(self, event: dict) -> None:
        await self.close(code=CLOSE_REPLACED)

    async def ocpp_command(self, event: dict) -> None:
        """A command for this charger from any process (see ocpp_bridge.commands)."""
        if self.session is None:
            await self.channel_layer.send(
                event["reply_to"], {"type": "ocpp.reply", "outcome": "offline"}
            )
            return
        try:
            await self.commands.submit(event)
        except Exception:  # a command must never take the charger's socket down with it
            log.exception("could not take command %s for %s", event.get("action"), self.identity)

    async def _publish_online(self, online: bool) -> None:
        # posted, not awaited: the apps' live view must never hold up a charger's
        # handshake or cost it its socket (stations/live_delivery.py)
        post_status(
            station_id=self.station_id,
            location_id=self.location_id,
            event={"kind": "online", "online": online},
        )

    def _mark_seen(self) -> None:
        self._last_seen = time.monotonic()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None):
        if self.session is None:
            return
        if text_data is None:  # OCPP-J is text frames only
            text_data = (bytes_data or b"").decode("utf-8", errors="replace")
        set_correlation_id(frame_correlation_id(self.identity, text_data))
        wait = self.bucket.reserve()
        if wait:
            await asyncio.sleep(wait)
        began = time.perf_counter()  # after the rate limit's deliberate wait
        reply = await self.session.handle_text(text_data)
        frame = self.session.last_frame
        self._log_in(text_data, frame)
        if reply is not None:
            await self._send(reply, frame)
        ocpp_message_observed(frame=frame, reply=reply, seconds=time.perf_counter() - began)
        if time.monotonic() - self._last_seen > SEEN_WRITE_SECONDS:
            self._last_seen = time.monotonic()
            await run_db(station_seen, station_id=self.station_id, now=timezone.now())

    def _log_in(self, text: str, frame) -> None:
        message_log.record(
            station_id=self.station_id,
            identity=self.identity,
            direction="in",
            raw=text[: settings.OCPP_MAX_FRAME_BYTES],
            message_type=frame.kind if frame is not None else None,
            message_id=frame.message_id if frame is not None else "",
            action=frame.action if isinstance(frame, Call) else "",
            error_code=frame.code if isinstance(frame, CallError) else "",
        )

    async def send_call(self, message_id: str, action: str, payload: dict) -> None:
        await self.send(text_data=call_frame(message_id, action, payload))
        message_log.record(
            station_id=self.station_id,
            identity=self.identity,
            direction="out",
            raw=call_frame(message_id, action, masked(action, payload)),
            message_type=2,
            message_id=message_id,
            action=action,
        )

    async def _send(self, reply: str, request) -> None:
        """Send a reply; log it with the action of the call it answers."""
        await self.send(text_data=reply)
        if reply.startswith("[3,") and request is not None:
            # the common case: a result for the call we just handled, nothing to re-read
            kind, message_id, error_code = 3, request.message_id, ""
        else:
            kind, message_id, *rest = json.loads(reply)
            error_code = rest[0] if kind == 4 else ""
        message_log.record(
            station_id=self.station_id,
            identity=self.identity,
            direction="out",
            raw=reply,
            message_type=kind,
            message_id=message_id,
            action=request.action if isinstance(request, Call) else "",
            error_code=error_code,
        )

    async def disconnect(self, code: int) -> None:
        set_correlation_id(getattr(self, "correlation_id", None))
        if self.station_id is None:
            return
        still_ours = await run_db(
            station_disconnected,
            station_id=self.station_id,
            channel=self.channel_name,
            now=timezone.now(),
        )
        if still_ours:  # a replaced socket closing doesn't take the station offline
            await self._publish_online(False)
        if self.session is not None:
            await self.commands.close()
        log.info("charger %s disconnected (%s)", self.identity, code)
