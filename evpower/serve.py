"""Run the ASGI server: `python -m evpower.serve evpower.asgi:application [uvicorn options]`.

uvicorn with one change to its shutdown. Stock uvicorn, on SIGTERM, stops listening and then
fails every WebSocket with 1012 and drops the TCP connection at once. Here it first closes
every charger and app socket with 1001 "going away" and waits until each consumer has recorded
its disconnect (the station goes offline at once instead of after the liveness sweep), then
lets uvicorn finish in-flight HTTP requests (up to --timeout-graceful-shutdown) as usual.
Every uvicorn command-line option works unchanged. The WebSocket keepalive is ours: see
PING_INTERVAL below and evpower/ws_protocol.py.
"""

from __future__ import annotations

import importlib
import os
import socket
import sys

from uvicorn.server import Server

DRAIN_SECONDS = float(os.environ.get("WS_DRAIN_SECONDS", "10"))


class DrainingServer(Server):
    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()  # no new connections while the old ones drain
        from evpower import ws_guard  # the app (and so the guard) exists by now

        if ws_guard.guard is not None:
            await ws_guard.guard.drain(timeout=DRAIN_SECONDS)
        await super().shutdown(sockets)


# The keepalive policy, explicit (uvicorn's 20 s / 20 s defaults were not a decision): the
# server pings every socket every WS_PING_INTERVAL seconds and closes one that has not
# answered WS_PING_TIMEOUT seconds later, counting only time in which it was reading that
# socket (evpower/ws_protocol.py). A dead charger is also found by OCPP: silent beyond two
# heartbeat intervals (+ grace) it counts as offline (stations/liveness.py).
PING_INTERVAL = os.environ.get("WS_PING_INTERVAL", "30")
PING_TIMEOUT = os.environ.get("WS_PING_TIMEOUT", "30")
PATIENT_PROTOCOL = "evpower.ws_protocol:PatientWebSocketProtocol"


# Whose X-Forwarded-For / -Proto is believed: only FORWARDED_ALLOW_IPS's (the load balancer,
# e.g. nginx in docker-compose.yml). Stock uvicorn believes 127.0.0.1 unless told: anything
# on the same machine (or a local sidecar) could pose as any number of addresses and get
# around the per-address limits. Here nobody is trusted unless configured.
TRUSTED_PROXIES = os.environ.get("FORWARDED_ALLOW_IPS", "")


def _with_defaults(argv: list[str]) -> list[str]:
    """uvicorn's arguments, with our keepalive and proxy trust unless the command line
    sets them."""
    extra = []
    if not any(arg.startswith("--forwarded-allow-ips") for arg in argv):
        extra.append(f"--forwarded-allow-ips={TRUSTED_PROXIES}")
    if not any(arg.startswith("--ws-ping-interval") for arg in argv):
        extra += ["--ws-ping-interval", PING_INTERVAL]
    if not any(arg.startswith("--ws-ping-timeout") for arg in argv):
        extra += ["--ws-ping-timeout", PING_TIMEOUT]
    return [*argv, *extra]


def main() -> None:
    # uvicorn's command line builds its server from the `Server` name of its module
    # `uvicorn.main` (the package attribute of that name is the CLI function, hence the lookup)
    cli = importlib.import_module("uvicorn.main")
    cli.Server = DrainingServer
    # `--ws auto` (the default) and `--ws websockets-sansio` load the patient keepalive
    config = importlib.import_module("uvicorn.config")
    config.WS_PROTOCOLS["auto"] = config.WS_PROTOCOLS["websockets-sansio"] = PATIENT_PROTOCOL
    cli.main(args=_with_defaults(sys.argv[1:]))


if __name__ == "__main__":
    main()
