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
    # Connectors the simulator charges on by itself with `id_tag`. None: all but the last,
    # so that (with two or more) one connector always stays free for a driver's app start.
    rfid_connectors: tuple[int, ...] | None = None
    # Where the charger keeps what survives a power cut (open transactions, meter
    # registers); None keeps nothing, so a restart forgets a transaction in progress.
    state_file: str | None = None
    ocpp: str = "1.6"  # the version to speak: 1.6 or 2.0.1

    @property
    def own_connectors(self) -> tuple[int, ...]:
        if self.rfid_connectors is not None:
            return self.rfid_connectors
        return tuple(range(1, max(self.connectors - 1, 1) + 1))


def default_url(identity: str) -> str:
    return f"ws://127.0.0.1:8000/ocpp/{identity}"
