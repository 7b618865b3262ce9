"""Run the ASGI server: `python -m evpower.serve evpower.asgi:application [uvicorn options]`.

uvicorn with one change to its shutdown. Stock uvicorn, on SIGTERM, stops listening and then
fails every WebSocket with 1012 and drops the TCP connection at once. Here it first closes
every charger and app socket with 1001 "going away" and waits until each consumer has recorded
its disconnect (the station goes offline at once instead of after the liveness sweep), then
lets uvicorn finish in-flight HTTP requests (up to --timeout-graceful-shutdown) as usual.
Every uvicorn command-line option works unchanged.
"""

from __future__ import annotations

import importlib
import os
import socket

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


def main() -> None:
    # uvicorn's command line builds its server from the `Server` name of its module
    # `uvicorn.main` (the package attribute of that name is the CLI function, hence the lookup)
    cli = importlib.import_module("uvicorn.main")
    cli.Server = DrainingServer
    cli.main()


if __name__ == "__main__":
    main()
