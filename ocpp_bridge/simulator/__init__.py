"""A simulated OCPP 1.6J charge point, for demos (`scripts/run.sh`) and end-to-end checks.

It is built on the `ocpp` library's charger side rather than on our own protocol layer,
so it checks that layer instead of mirroring it. One connection at a time: boot, report
statuses, heartbeat, and charge one transaction after another (or one, with `once`).
A dropped connection is retried with backoff; an open transaction survives it, as on a
real charger. Calls from the central system are answered as a simple charger would.

    config.py      what to simulate (the command's options)
    meter.py       the energy register and the car: readings and MeterValues payloads
    charger.py     one connection: boot, statuses, heartbeats, transactions
    csms_calls.py  answers to Reset, RemoteStart/Stop, ChangeAvailability, configuration...
    runner.py      connecting, refusals, reconnecting with backoff
"""

from .config import SimulatorConfig, SimulatorError, default_url
from .meter import MeterReading, SimulatedMeter, meter_value
from .runner import run_simulator

__all__ = [
    "MeterReading",
    "SimulatedMeter",
    "SimulatorConfig",
    "SimulatorError",
    "default_url",
    "meter_value",
    "run_simulator",
]
