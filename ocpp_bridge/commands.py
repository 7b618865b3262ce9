"""Commands to chargers: the one way for any process to call a charger and get its answer.

    result = send_command(station=station, action="Reset", payload={"type": "Soft"})

Callable from a view, an admin action, a Celery task or a management command, in any
process. The station row names the channel of the consumer holding its socket (see
`stations.services.station_connected`); the command travels there through the channel
layer, the consumer sends the CALL and relays the charger's CALLRESULT/CALLERROR back on
a reply channel. Addressing the socket's own channel (not a group) means there is no
group membership to expire on long-lived connections or to lose when Redis restarts.

Failures are distinct and fast: an offline station is answered at once, a socket whose
process no longer answers within ACK_SECONDS counts as offline, a full queue is BUSY,
a payload that breaks the schema is INVALID and never sent. UNREACHABLE says that the
station is connected but this process cannot reach the process holding its socket: the
in-memory channel layer of a process without Redis (`evpower.channel_layer`), or a channel
layer that is down.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time

from asgiref.sync import async_to_sync
from channels import DEFAULT_CHANNEL_LAYER
from channels.layers import InMemoryChannelLayer, channel_layers, get_channel_layer
from django.conf import settings
from redis.exceptions import RedisError

from evpower.channel_layer import reachable_from_this_process
from evpower.correlation import current_correlation_id
from evpower.metrics.registry import ocpp_command_observed
from stations import credentials
from stations.charger_port import CommandResult
from stations.models import Station
from stations.selectors import station_is_online
from stations.services import station_set_password

from .command_translation import translate
from .models import CommandRecord
from .protocol import schemas, v16, v201
from .protocol.errors import OcppError
from .protocol.outcomes import is_refusal
from .protocol.secrets import masked
from .services import command_finish, command_start

Status = CommandRecord.Status
MAY_SEND = {v16.VERSION: v16.CSMS_MAY_SEND, v201.VERSION: v201.CSMS_MAY_SEND}
ACK_SECONDS = 3.0  # how long the socket's process may take to take the command in hand


def send_command(
    *,
    station: Station,
    action: str,
    payload: dict | None = None,
    timeout: float | None = None,
    requested_by: str = "",
) -> CommandResult:
    payload = payload or {}
    timeout = timeout or settings.OCPP_CALL_TIMEOUT
    version, action, payload, refused = _in_station_terms(station.pk, action, payload)
    record = command_start(
        station=station, action=action, payload=masked(action, payload), requested_by=requested_by
    )
    began = time.monotonic()
    outcome = refused or _precheck(station, version, action, payload)
    if outcome is None:
        try:
            outcome = _send_and_wait(
                station.connection_channel,
                {
                    "command_id": record.pk,
                    "action": action,
                    "payload": payload,
                    "deadline": time.time() + timeout,
                    "correlation_id": current_correlation_id(),  # the charger side logs with it
                },
                timeout,
            )
        except (RedisError, OSError) as exc:  # the channel layer itself is down
            outcome = {
                "status": Status.UNREACHABLE,
                "error_description": (
                    f"the channel layer is unavailable ({type(exc).__name__}: {exc})"
                )[:300],
            }
    result = CommandResult(
        command_id=record.pk, duration_ms=int((time.monotonic() - began) * 1000), **outcome
    )
    command_finish(record=record, result=result, payload=payload)
    ocpp_command_observed(action=action, result=result.status)
    return result


async def send_command_from_socket(
    *, station_id: int, channel: str, action: str, payload: dict, requested_by: str
) -> CommandResult:
    """send_command for the event loop of the process holding the charger's socket
    (the domain port deciding a limit stop): same record, same runner, no thread hop to
    wait on."""
    from .db import run_db  # the event-loop side only

    timeout = settings.OCPP_CALL_TIMEOUT
    version, action, payload, refused = await run_db(_in_station_terms, station_id, action, payload)
    record = await run_db(
        command_start,
        station=Station(pk=station_id),
        action=action,
        payload=masked(action, payload),
        requested_by=requested_by,
    )
    began = time.monotonic()
    outcome = refused or await _deliver(
        get_channel_layer(),
        channel,
        {
            "command_id": record.pk,
            "action": action,
            "payload": payload,
            "deadline": time.time() + timeout,
            "correlation_id": current_correlation_id(),
        },
        timeout,
    )
    result = CommandResult(
        command_id=record.pk, duration_ms=int((time.monotonic() - began) * 1000), **outcome
    )
    await run_db(command_finish, record=record, result=result, payload=payload)
    ocpp_command_observed(action=action, result=result.status)
    return result


def _in_station_terms(
    station_id: int, action: str, payload: dict
) -> tuple[str, str, dict, dict | None]:
    """(version, action, payload) as the station's OCPP version says it, and the INVALID
    outcome when it has no way to say it."""
    version = Station.objects.filter(pk=station_id).values_list("ocpp_version", flat=True).first()
    version = version if version in MAY_SEND else "1.6"
    try:
        return (
            version,
            *translate(station_id=station_id, version=version, action=action, payload=payload),
            None,
        )
    except OcppError as exc:
        refused = {
            "status": Status.INVALID,
            "error_code": exc.code,
            "error_description": exc.description,
        }
        return version, action, payload, refused


def _precheck(station: Station, version: str, action: str, payload: dict) -> dict | None:
    if action not in MAY_SEND[version]:
        return {
            "status": Status.INVALID,
            "error_code": "NotSupported",
            "error_description": f"{action} is not a call the OCPP {version} CSMS sends",
        }
    try:
        schemas.validate_request(version, action, payload)
    except OcppError as exc:
        return {
            "status": Status.INVALID,
            "error_code": exc.code,
            "error_description": exc.description,
        }
    station.refresh_from_db(fields=["connected", "connection_channel", "last_seen_at"])
    if not station_is_online(station) or not station.connection_channel:
        return {"status": Status.OFFLINE, "error_description": "station is offline"}
    return None


class _SenderLoop:
    """One event loop per process, on a daemon thread, where sync callers wait for
    answers. `async_to_sync` would start a new loop per call — and with it a new Redis
    connection per command — and channels_redis refuses receives from two loops on one
    layer at once. Rebuilt after a fork (Celery's prefork workers)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid: int | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.layer = None

    def run(self, coroutine_fn, *args):
        with self._lock:
            if self._pid != os.getpid():
                self.loop = asyncio.new_event_loop()
                threading.Thread(
                    target=self.loop.run_forever, name="ocpp-commands", daemon=True
                ).start()
                self.layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
                self._pid = os.getpid()
        return asyncio.run_coroutine_threadsafe(coroutine_fn(self.layer, *args), self.loop).result()

    def reset(self) -> None:
        """Forget the loop's layer (tests that point the channel layer elsewhere)."""
        with self._lock:
            self._pid = None


_sender = _SenderLoop()


UNREACHABLE_IN_MEMORY = (
    "the station is connected to another process (the server), which this process cannot "
    "reach: without REDIS_URL the channel layer is in-memory, one process only. Set "
    "REDIS_URL in both (scripts/run.sh uses Redis when one answers on 127.0.0.1:6379)"
)


def _send_and_wait(target: str, command: dict, timeout: float) -> dict:
    shared = get_channel_layer()
    if not reachable_from_this_process(target):
        return {"status": Status.UNREACHABLE, "error_description": UNREACHABLE_IN_MEMORY}
    if isinstance(shared, InMemoryChannelLayer):
        # one process only (development): the consumer's own loop must do the waiting
        return async_to_sync(_deliver)(shared, target, command, timeout)
    return _sender.run(_deliver, target, command, timeout)


async def _deliver(layer, target: str, command: dict, timeout: float) -> dict:
    reply_to = await layer.new_channel()
    try:
        # bounded: with Redis away the layer retries for ~40 s; the driver (or operator)
        # is told at once that the charger's process cannot be reached
        await asyncio.wait_for(
            layer.send(target, {"type": "ocpp.command", "reply_to": reply_to, **command}),
            settings.OCPP_COMMAND_DELIVERY_SECONDS,
        )
    except (TimeoutError, RedisError, OSError) as exc:
        return {
            "status": Status.UNREACHABLE,
            "error_description": (
                f"the channel layer is unavailable ({type(exc).__name__}: {exc})"
            )[:300],
        }
    try:
        ack = await asyncio.wait_for(layer.receive(reply_to), ACK_SECONDS)
    except TimeoutError:  # the socket's process is gone (crashed, or the row is stale)
        return {
            "status": Status.OFFLINE,
            "error_description": "the process holding the socket did not answer",
        }
    if ack["outcome"] != "queued":
        return _outcome(ack)
    try:
        final = await asyncio.wait_for(layer.receive(reply_to), timeout + ACK_SECONDS)
    except TimeoutError:
        return {"status": Status.TIMEOUT, "error_description": f"no answer within {timeout:g} s"}
    return _outcome(final)


def _outcome(reply: dict) -> dict:
    """The consumer's reply event -> CommandResult fields."""
    kind = reply["outcome"]
    if kind == "answered":
        response = reply["response"]
        return {
            "status": Status.REJECTED if is_refusal(response) else Status.ACCEPTED,
            "response": response,
        }
    if kind == "call_error":
        return {
            "status": Status.CALL_ERROR,
            "error_code": reply["code"],
            "error_description": reply.get("description", ""),
        }
    status = {"timeout": Status.TIMEOUT, "busy": Status.BUSY}.get(kind, Status.OFFLINE)
    return {"status": status, "error_description": reply.get("description", "")}


def rotate_charger_password(
    *, station: Station, requested_by: str = ""
) -> tuple[CommandResult, bool]:
    """Give the charger a new random AuthorizationKey. The stored hash changes only once
    the charger has accepted the key, so a refusal (or no answer) leaves the old one valid.
    Returns the command's result and whether the password was rotated."""
    new_key = credentials.generate_password()
    result = send_command(
        station=station,
        action="ChangeConfiguration",
        payload={"key": "AuthorizationKey", "value": new_key},
        requested_by=requested_by,
    )
    if not result.ok:
        return result, False
    station_set_password(station=station, password=new_key)
    return result, True
