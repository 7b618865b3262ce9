"""Is a meter reading physically possible? Energy checked against what the hardware can do.

A charger's register is the only evidence of the energy a driver bought, and a faulty
meter (a lifetime register sent as meterStop, a reset, a wrong unit) would otherwise be
billed in full. A register move is plausible when it is not negative and not more than
the connector could deliver in the time between the two readings:

    ceiling = max power × (elapsed + clock slack) × margin

- max power: the connector's `max_power_kw`, else the station's, else
  CHARGING_PLAUSIBLE_POWER_CEILING_KW (a station nobody described);
- clock slack (CHARGING_PLAUSIBLE_CLOCK_SLACK_SECONDS): readings are stamped to the second
  by a clock that is not the meter's, so a short interval gets some room;
- margin (CHARGING_PLAUSIBLE_POWER_MARGIN): rated power is nominal, not a hard cap.

What is implausible is never billed: the session is billed up to its last plausible
reading and parked for an operator (charging/review.py decides the rest).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings

from stations.models import Connector, Station

# the largest register a meter sample can hold normalised (MeterSample.normalised_value:
# 24 digits, 6 decimals); beyond it a value is kept as sent and parked
STORABLE_LIMIT = Decimal(10) ** 18


@dataclass(frozen=True)
class EnergyVerdict:
    plausible: bool
    ceiling_wh: int  # the most the connector could have delivered in the interval
    problem: str = ""  # why not, for the operator


def max_power_w(station_id: int, connector_number: int) -> int:
    """The power the connector (else the station) is rated for, else the configured
    ceiling, in W."""
    kw = (
        Connector.objects.filter(station_id=station_id, number=connector_number)
        .values_list("max_power_kw", flat=True)
        .first()
    )
    if kw is None:
        kw = Station.objects.filter(pk=station_id).values_list("max_power_kw", flat=True).first()
    return power_w_or_ceiling(kw)


def power_w_or_ceiling(kw: Decimal | float | None) -> int:
    if kw is None or kw <= 0:
        kw = settings.CHARGING_PLAUSIBLE_POWER_CEILING_KW
    return int(Decimal(str(kw)) * 1000)


def energy_ceiling_wh(power_w: int, seconds: float) -> int:
    seconds = max(seconds, 0) + settings.CHARGING_PLAUSIBLE_CLOCK_SLACK_SECONDS
    margin = Decimal(str(settings.CHARGING_PLAUSIBLE_POWER_MARGIN))
    return int(Decimal(power_w) * Decimal(str(seconds)) * margin / 3600)


def register_move(
    *, from_wh: int | None, to_wh: int, from_at: datetime | None, to_at: datetime, power_w: int
) -> EnergyVerdict:
    """Can the register have moved from `from_wh` (read at `from_at`) to `to_wh` (at
    `to_at`)? A backwards move is not judged here (it is parked as meter_backwards)."""
    if to_wh < 0:
        return EnergyVerdict(False, 0, f"negative register {to_wh} Wh")
    if from_wh is None or from_at is None:
        return EnergyVerdict(True, 0)
    seconds = (to_at - from_at).total_seconds()
    ceiling = energy_ceiling_wh(power_w, seconds)
    if from_wh < 0:
        return EnergyVerdict(False, ceiling, f"negative register {from_wh} Wh")
    if to_wh - from_wh > ceiling:
        return EnergyVerdict(
            False,
            ceiling,
            f"{to_wh - from_wh} Wh in {max(seconds, 0):.0f} s; at most "
            f"{ceiling} Wh at {power_w / 1000:g} kW",
        )
    return EnergyVerdict(True, ceiling)
