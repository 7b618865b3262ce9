"""The simulated meter and car, and the MeterValues payloads built from them."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime

from ocpp.v16.enums import Measurand


def now_iso() -> str:
    # milliseconds: samples a second apart or less must not share a timestamp
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class MeterReading:
    energy_wh: int
    power_w: int
    soc_percent: int
    voltage_v: float


class SimulatedMeter:
    """A connector's energy register and the car on its cable: single-phase AC up to
    7.4 kW, tapering above 80 % state of charge. The register only ever moves forward."""

    def __init__(
        self,
        *,
        register_wh: int,
        max_power_w: int = 7400,
        battery_wh: int = 60_000,
        rng: random.Random | None = None,
    ):
        self.register_wh = float(register_wh)
        self.max_power_w, self.battery_wh = max_power_w, battery_wh
        self.rng = rng or random.Random()  # noqa: S311 - simulated readings, not secrets
        self.soc = 50.0
        self.power_w = 0.0

    def plug_in(self) -> None:
        """A new car arrives, partly charged."""
        self.soc, self.power_w = self.rng.uniform(10, 60), 0.0

    def advance(self, seconds: float) -> MeterReading:
        if self.soc >= 100:
            taper = 0.0  # full: the car stops drawing
        else:  # full power to 80 %, then down to a trickle
            taper = 1.0 if self.soc < 80 else max(0.05, (100 - self.soc) / 20)
        self.power_w = self.max_power_w * taper * self.rng.uniform(0.95, 1.0)
        added = self.power_w * max(seconds, 0.0) / 3600
        self.register_wh += added
        self.soc = min(100.0, self.soc + added / self.battery_wh * 100)
        return self.reading()

    def reading(self) -> MeterReading:
        return MeterReading(
            energy_wh=int(self.register_wh),
            power_w=round(self.power_w),
            soc_percent=int(self.soc),
            voltage_v=round(self.rng.uniform(226.0, 234.0), 1),
        )


def meter_value(reading: MeterReading, stamp: str, context: str) -> dict:
    """One MeterValue (snake_case keys, as the ocpp library takes them)."""

    def sample(value: str, measurand: str, unit: str, location: str = "Outlet", **extra):
        return {
            "value": value,
            "context": context,
            "measurand": measurand,
            "unit": unit,
            "location": location,
            **extra,
        }

    return {
        "timestamp": stamp,
        "sampled_value": [
            sample(str(reading.energy_wh), Measurand.energy_active_import_register, "Wh"),
            sample(str(reading.power_w), Measurand.power_active_import, "W"),
            sample(str(reading.soc_percent), Measurand.soc, "Percent", location="EV"),
            sample(f"{reading.voltage_v:.1f}", Measurand.voltage, "V", phase="L1"),
        ],
    }
