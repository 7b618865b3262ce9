"""What to simulate: the options of `manage.py simulate_charger`."""

from __future__ import annotations

from dataclasses import dataclass


class SimulatorError(Exception):
    """A problem that retrying cannot fix (refused credentials, unknown station...)."""


@dataclass(frozen=True)
class SimulatorConfig:
    identity: str
    password: str
    url: str
    connectors: int = 2
    id_tag: str = "DEMO-TAG-1"
    heartbeat: float = 30  # seconds; floats so tests can run sessions in a second
    meter_interval: float = 5
    session_seconds: float = 60
    pause_seconds: float = 10  # between sessions when looping
    once: bool = False


def default_url(identity: str) -> str:
    return f"ws://127.0.0.1:8000/ocpp/{identity}"
