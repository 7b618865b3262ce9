"""A session's limit: how much to hold at start and when to stop (docs/product.md §4). Pure.

Hold at start:
- amount limit → the amount; energy limit → the tariff price of that energy (energy plus
  session fee, after discount); both → the smaller of the two;
- no limit → min(available balance, cap + session fee), where cap is CHARGING_NO_LIMIT_CAP;
  it must reach CHARGING_MIN_HOLD, else the balance is too small to start. An amount
  limit below CHARGING_MIN_HOLD is refused as too low (the session fee alone may end it).

When to stop: the charger reports every sampling interval, so waiting until the limit is
passed overshoots it by up to one interval of charging. We stop as soon as the reading
PROJECTED `lookahead` seconds ahead at the current power reaches the limit. The money
ceiling is the amount limit when there is one, otherwise the hold (a session without an
amount limit still stops when the money held for it runs out).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from payments.money import ZERO, money
from stations.pricing import Quote


@dataclass(frozen=True)
class Limit:
    type: str  # ChargingSession.LimitType
    energy_wh: int | None = None
    amount: Decimal | None = None

    @property
    def by_energy(self) -> bool:
        return self.type in ("energy", "both")

    @property
    def by_amount(self) -> bool:
        return self.type in ("amount", "both")


def hold_amount(
    limit: Limit,
    quote: Quote,
    *,
    available: Decimal,
    no_limit_cap: Decimal,
) -> Decimal:
    """What to reserve for this limit (may exceed `available`: the caller refuses then)."""
    candidates = []
    if limit.by_amount:
        candidates.append(limit.amount)
    if limit.by_energy:
        candidates.append(quote.price_of_energy(limit.energy_wh))
    if not candidates:  # no limit
        candidates = [min(available, no_limit_cap + quote.session_fee)]
    return money(min(candidates))


@dataclass(frozen=True)
class Progress:
    energy_wh: int
    charging_seconds: int
    power_w: int | None


def cost_of(quote: Quote, progress: Progress) -> Decimal:
    return quote.cost(
        energy_wh=progress.energy_wh, charging_seconds=progress.charging_seconds
    ).total


def stop_reason(
    limit: Limit, quote: Quote, progress: Progress, *, hold: Decimal, lookahead_seconds: int
) -> str | None:
    """The StopReason when the session should stop now, else None."""
    power = max(progress.power_w or 0, 0)
    ahead = Progress(
        energy_wh=progress.energy_wh + power * lookahead_seconds // 3600,
        charging_seconds=progress.charging_seconds + lookahead_seconds,
        power_w=power,
    )
    if limit.by_energy and ahead.energy_wh >= limit.energy_wh:
        return "energy_limit"
    ceiling = limit.amount if limit.by_amount else hold
    if ceiling is not None and ceiling > ZERO and cost_of(quote, ahead) >= ceiling:
        return "amount_limit" if limit.by_amount else "funds_limit"
    return None


def percent_of_limit(
    limit: Limit, progress: Progress, cost: Decimal, *, hold: Decimal
) -> int | None:
    """How far along the session is (0-100), by whichever limit is nearer."""
    shares = []
    if limit.by_energy:
        shares.append(Decimal(progress.energy_wh) / limit.energy_wh)
    if limit.by_amount:
        shares.append(cost / limit.amount)
    if not shares and hold > 0:
        shares.append(cost / hold)
    if not shares:
        return None
    return int(min(max(shares) * 100, Decimal(100)))
