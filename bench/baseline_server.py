"""Minimal OCPP 1.6J central system used as the throughput baseline.

It is deliberately the "textbook" setup: the `ocpp` library's
`ocpp.v16.ChargePoint` on top of a plain `websockets.serve`, one ChargePoint
object per connection, handlers registered with `@on(...)`. Payload
validation is left at the library default (JSON-schema validation of every
request and response, run in the default thread-pool executor because
`ocpp.messages.ASYNC_VALIDATION` is True by default).

There is no persistence and no authentication: the bench measures how much
the full EvPower stack (Django, Channels, PostgreSQL, Redis, auth) costs
relative to the bare protocol library.

Usage:
    .venv/bin/python bench/baseline_server.py --port 9000 [--host 127.0.0.1]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import signal
from datetime import UTC, datetime

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint as BaseChargePoint
from ocpp.v16 import call_result
from ocpp.v16.datatypes import IdTagInfo
from ocpp.v16.enums import Action, AuthorizationStatus, RegistrationStatus
from websockets.exceptions import ConnectionClosed

# Transaction ids only need to be unique for the lifetime of the process.
_transaction_ids = itertools.count(1)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class ChargePoint(BaseChargePoint):
    """Central-system side of one charger connection."""

    @on(Action.boot_notification)
    def on_boot_notification(self, charge_point_vendor, charge_point_model, **kwargs):
        return call_result.BootNotification(
            current_time=_now_iso(), interval=300, status=RegistrationStatus.accepted
        )

    @on(Action.heartbeat)
    def on_heartbeat(self, **kwargs):
        return call_result.Heartbeat(current_time=_now_iso())

    @on(Action.status_notification)
    def on_status_notification(self, connector_id, error_code, status, **kwargs):
        return call_result.StatusNotification()

    @on(Action.start_transaction)
    def on_start_transaction(self, connector_id, id_tag, meter_start, timestamp, **kwargs):
        return call_result.StartTransaction(
            transaction_id=next(_transaction_ids),
            id_tag_info=IdTagInfo(status=AuthorizationStatus.accepted),
        )

    @on(Action.meter_values)
    def on_meter_values(self, connector_id, meter_value, **kwargs):
        return call_result.MeterValues()

    @on(Action.stop_transaction)
    def on_stop_transaction(self, meter_stop, timestamp, transaction_id, **kwargs):
        return call_result.StopTransaction(
            id_tag_info=IdTagInfo(status=AuthorizationStatus.accepted)
        )


async def handle_connection(connection) -> None:
    path = connection.request.path
    if not path.startswith("/ocpp/") or len(path) <= len("/ocpp/"):
        await connection.close(code=1008, reason="unknown path")
        return
    if connection.subprotocol != "ocpp1.6":
        # websockets negotiates the subprotocol; a client that did not offer
        # ocpp1.6 gets no subprotocol and is refused here.
        await connection.close(code=1002, reason="ocpp1.6 subprotocol required")
        return
    identity = path[len("/ocpp/") :]
    charge_point = ChargePoint(identity, connection)
    try:
        await charge_point.start()
    except ConnectionClosed:
        pass


async def main(host: str, port: int) -> None:
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    # compression is left at its default; the bench client does not offer
    # permessage-deflate, so it is never negotiated.
    async with websockets.serve(handle_connection, host, port, subprotocols=["ocpp1.6"]):
        await stop


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main(args.host, args.port))
