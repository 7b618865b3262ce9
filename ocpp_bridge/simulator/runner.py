"""Connecting the simulated charger: refusals, reconnecting with backoff, reboots."""

from __future__ import annotations

import asyncio
import base64
import random
from collections.abc import Iterator

from ocpp.exceptions import OCPPError
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from .charger import Log, SimulatedChargePoint
from .config import SimulatorConfig, SimulatorError
from .state import ChargerState
from .station_v201 import SimulatedStation201

SUBPROTOCOLS = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1"}
STATIONS = {"1.6": SimulatedChargePoint, "2.0.1": SimulatedStation201}
MAX_BACKOFF_SECONDS = 60.0


def backoff(initial: float = 1.0, maximum: float = MAX_BACKOFF_SECONDS) -> Iterator[float]:
    """Doubling delays with jitter, so a fleet of simulators does not reconnect in step."""
    delay = initial
    while True:
        yield delay * random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not a secret
        delay = min(delay * 2, maximum)


def basic_auth(identity: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{identity}:{password}".encode()).decode()


def _refusal(status: int, config: SimulatorConfig) -> str:
    if status == 401:
        return (
            f"{config.url} refused the credentials of {config.identity} (HTTP 401): check "
            f"--password and the station's security profile"
        )
    if status == 404:
        return (
            f"{config.url} does not know charge point {config.identity} (HTTP 404): create "
            f"it with `manage.py station_add {config.identity} ...` or check --url"
        )
    return (
        f"{config.url} refused the connection (HTTP {status}; daphne answers 403 for bad "
        f"credentials and unknown stations alike)"
    )


async def run_simulator(
    config: SimulatorConfig, log: Log, shutdown: asyncio.Event | None = None
) -> None:
    """Run the charger: return when `once` is done, else run until `shutdown` is set (its
    transactions then end with reason Reboot while the central system can still hear
    it). Raises SimulatorError for what retrying cannot fix and, in once mode, for any
    failure."""
    shutdown = shutdown or asyncio.Event()
    state = ChargerState.new(config)
    delays = backoff()
    subprotocol, station = SUBPROTOCOLS[config.ocpp], STATIONS[config.ocpp]
    while not shutdown.is_set():
        # the password the central system set last (2.0.1 SetVariables), else --password
        password = state.password or config.password
        headers = {"Authorization": basic_auth(config.identity, password)}
        try:
            async with connect(
                config.url, subprotocols=[subprotocol], open_timeout=10, additional_headers=headers
            ) as ws:
                if ws.subprotocol != subprotocol:
                    raise SimulatorError(f"{config.url} did not accept subprotocol {subprotocol}")
                log(f"connected to {config.url} (OCPP {config.ocpp})")
                outcome = await station(config, ws, state, log, shutdown).serve()
            if outcome in ("done", "shutdown"):
                return
            continue  # rebooted: connect again at once
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in (401, 403, 404):
                raise SimulatorError(_refusal(status, config)) from exc
            problem = f"HTTP {status}"
        except InvalidURI as exc:
            raise SimulatorError(str(exc)) from exc
        except (OSError, TimeoutError, ConnectionClosed, InvalidHandshake, OCPPError) as exc:
            problem = str(exc) or type(exc).__name__
        if config.once:
            raise SimulatorError(f"connection to {config.url} failed: {problem}")
        if shutdown.is_set():
            return  # an open transaction stays in the state file: stopped at the next start
        if state.booted:  # that connection worked for a while: start the backoff afresh
            state.booted, delays = False, backoff()
        delay = next(delays)
        log(f"connection problem ({problem}); reconnecting in {delay:.1f} s")
        try:
            await asyncio.wait_for(shutdown.wait(), delay)
        except TimeoutError:
            pass
