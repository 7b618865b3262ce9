"""Tariff evaluation and the cost of a session. Decimal only; rounding and currencies come
from the one money module, `payments.money` (`money` is re-exported here for callers).

`quote(connector=..., at=...)` answers "what does charging on this connector cost at this
moment": the one rule in force, as a frozen `Quote` that carries a full snapshot of that
rule. Charging freezes `quote.as_snapshot()` onto the session at start and bills with
`Quote.from_snapshot(...).cost(...)`, so the bill uses exactly the quoted rule even if an
operator edits the plan meanwhile.

Which rule is in force (evaluated in the LOCATION's time zone):
1. Candidate plans, most specific first: plans assigned to the station, then plans assigned
   to its location, then default plans. Within a level, higher plan priority first (then
   lower id). Only active plans with valid_from <= at < valid_to count.
2. In that order, the first plan with a matching rule wins; within a plan the matching rule
   with the highest priority (then lowest id). So a station plan that has no rule for, say,
   CHAdeMO falls through to the location plan for that connector.
3. A rule matches when every filter it sets matches:
   - connector type in `connector_types` (empty = any);
   - connector power (the connector's max power, else the station's) within
     [min_power_kw, max_power_kw], both inclusive; a band never matches unknown power;
   - local time within [start_time, end_time); end before start wraps midnight, and the part
     after midnight belongs to the day the window started (a Friday 22:00-06:00 rule covers
     Saturday 03:00, not Friday 03:00);
   - that "service day" (local date, or the previous one in the wrapped part) is one of
     `days_of_week` (ISO 1=Mon..7=Sun; empty = any) and within [start_date, end_date].
No match anywhere → `NoTariff` (quote) / None (quotes): such a connector cannot be sold.

A client's price: `quote_for_client(connector=..., at=..., client=...)` is THE entry point
for charging (freeze its `as_snapshot()` onto the session). It is the plan quote above
(no plan rule → NoTariff, whatever the client has) adjusted by the client's
`ClientTariff`s and promo redemptions in force at `at` (`stations.promos`):
1. A client tariff applies when active, valid_from <= at < valid_to, and its scope is
   empty, the connector's station, or the station's location.
2. Fixed rates: the most specific fixed client tariff (station > location > everywhere;
   then the newest) replaces the plan's per-kWh and/or per-minute rate (whichever it
   sets; an unset one keeps the plan's). Session and idle fees always stay the plan's.
   Only one fixed tariff applies; they never mix.
3. Discounts do not stack: the single biggest percent among the client's discount
   tariffs and promo redemptions in force applies to the whole bill (ties: client
   tariff first, then the older). It applies on top of fixed rates.
4. The quote records what applied: `client_id`, `fixed_tariff_id` and the plan's own rates
   it replaced (`plan_per_kwh` / `plan_per_minute`), `discount_source`
   ("client_tariff" | "promo" | ""), `discount_source_id` (ClientTariff or
   PromoRedemption id) and `promo_code`. A quote without a client has none of these.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db.models import Q

from accounts.models import Client
from payments.money import ZERO, money
from stations.promos import redemptions_in_force
from stations.station_models import Connector, Station
from stations.tariff_models import ClientTariff, TariffAssignment, TariffPlan, TariffRule

logger = logging.getLogger(__name__)

DEFAULT_TIME_ZONE = "Asia/Bishkek"
SNAPSHOT_VERSION = 1

# specificity levels of a candidate plan
STATION, LOCATION, DEFAULT = 2, 1, 0


class NoTariff(LookupError):
    """No active plan has a rule for this connector at this moment."""

    def __init__(self, connector_id: int | None, at: datetime):
        super().__init__(f"no tariff in force for connector {connector_id} at {at.isoformat()}")
        self.connector_id, self.at = connector_id, at


@dataclass(frozen=True)
class Cost:
    energy: Decimal
    time: Decimal
    session_fee: Decimal
    idle: Decimal
    discount: Decimal
    total: Decimal
    currency: str


@dataclass(frozen=True)
class Quote:
    """The price in force for one connector at one moment, with the rule that set it."""

    currency: str
    per_kwh: Decimal
    per_minute: Decimal
    session_fee: Decimal
    idle_fee_per_minute: Decimal
    idle_grace_minutes: int
    plan_id: int
    plan_name: str
    rule_id: int
    rule_name: str
    quoted_at: datetime  # UTC
    time_zone: str  # the location's, in which the rule was evaluated
    connector_id: int | None = None
    # the rule's filters, so a frozen quote says why it applied
    connector_types: tuple[str, ...] = ()
    min_power_kw: Decimal | None = None
    max_power_kw: Decimal | None = None
    days_of_week: tuple[int, ...] = ()
    start_time: time | None = None
    end_time: time | None = None
    start_date: date | None = None
    end_date: date | None = None
    discount_percent: Decimal = field(default=ZERO)
    # what client-specific pricing applied (see quote_for_client); empty for a plan quote
    client_id: int | None = None
    fixed_tariff_id: int | None = None
    plan_per_kwh: Decimal | None = None  # the plan's rate a fixed tariff replaced
    plan_per_minute: Decimal | None = None
    discount_source: str = ""  # "client_tariff" | "promo" | ""
    discount_source_id: int | None = None
    promo_code: str = ""

    # -- money --------------------------------------------------------------------------
    def cost(
        self,
        *,
        energy_wh: int | Decimal,
        charging_seconds: int | Decimal = 0,
        idle_seconds: int | Decimal = 0,
        include_session_fee: bool = True,
    ) -> Cost:
        """What a session costs under this quote. Time is prorated to the second; idle
        time is billed only beyond the grace period. Each part is rounded to the minor
        unit, the total is their sum less the (rounded) discount."""
        energy_kwh = Decimal(max(Decimal(energy_wh), Decimal(0))) / 1000
        energy = money(energy_kwh * self.per_kwh)
        minutes = Decimal(max(Decimal(charging_seconds), Decimal(0))) / 60
        time_part = money(minutes * self.per_minute)
        billable_idle = max(Decimal(idle_seconds) - self.idle_grace_minutes * 60, Decimal(0))
        idle = money(billable_idle / 60 * self.idle_fee_per_minute)
        fee = self.session_fee if include_session_fee else ZERO
        subtotal = energy + time_part + idle + fee
        discount = money(subtotal * self.discount_percent / 100)
        return Cost(
            energy=energy,
            time=time_part,
            session_fee=money(fee),
            idle=idle,
            discount=discount,
            total=money(subtotal - discount),
            currency=self.currency,
        )

    def price_of_energy(self, energy_wh: int | Decimal) -> Decimal:
        """Energy plus session fee: what a hold for an energy limit must cover (time and
        idle fees are unknowable in advance)."""
        return self.cost(energy_wh=energy_wh).total

    def with_discount(self, percent: Decimal | int | str) -> Quote:
        """This quote with a discount on the whole bill (`quote_for_client` uses it)."""
        percent = Decimal(percent)
        if not Decimal(0) <= percent <= Decimal(100):
            raise ValueError("discount percent must be within 0..100")
        return replace(self, discount_percent=percent)

    # -- snapshot -----------------------------------------------------------------------
    def as_snapshot(self) -> dict[str, Any]:
        """JSON-safe (Decimals and times as strings) for a JSONField on the session."""
        data = asdict(self)
        out: dict[str, Any] = {"version": SNAPSHOT_VERSION}
        for key, value in data.items():
            if isinstance(value, Decimal | datetime | date | time):
                value = str(value) if isinstance(value, Decimal) else value.isoformat()
            elif isinstance(value, tuple):
                value = list(value)
            out[key] = value
        return out

    @classmethod
    def from_snapshot(cls, data: dict[str, Any]) -> Quote:
        def dec(key: str) -> Decimal | None:
            return None if data.get(key) is None else Decimal(data[key])

        def parse(key: str, kind):
            return None if data.get(key) is None else kind.fromisoformat(data[key])

        return cls(
            currency=data["currency"],
            per_kwh=dec("per_kwh"),
            per_minute=dec("per_minute"),
            session_fee=dec("session_fee"),
            idle_fee_per_minute=dec("idle_fee_per_minute"),
            idle_grace_minutes=int(data["idle_grace_minutes"]),
            plan_id=data["plan_id"],
            plan_name=data["plan_name"],
            rule_id=data["rule_id"],
            rule_name=data["rule_name"],
            quoted_at=datetime.fromisoformat(data["quoted_at"]),
            time_zone=data["time_zone"],
            connector_id=data.get("connector_id"),
            connector_types=tuple(data.get("connector_types") or ()),
            min_power_kw=dec("min_power_kw"),
            max_power_kw=dec("max_power_kw"),
            days_of_week=tuple(data.get("days_of_week") or ()),
            start_time=parse("start_time", time),
            end_time=parse("end_time", time),
            start_date=parse("start_date", date),
            end_date=parse("end_date", date),
            discount_percent=dec("discount_percent") or ZERO,
            client_id=data.get("client_id"),
            fixed_tariff_id=data.get("fixed_tariff_id"),
            plan_per_kwh=dec("plan_per_kwh"),
            plan_per_minute=dec("plan_per_minute"),
            discount_source=data.get("discount_source") or "",
            discount_source_id=data.get("discount_source_id"),
            promo_code=data.get("promo_code") or "",
        )


# -- evaluation (pure: no database) ------------------------------------------------------


def location_zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or DEFAULT_TIME_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        logger.warning("unknown time zone %r; pricing in %s", name, DEFAULT_TIME_ZONE)
        return ZoneInfo(DEFAULT_TIME_ZONE)


def service_day(rule: TariffRule, local: datetime) -> date | None:
    """The local day the moment belongs to for this rule, or None if outside its window."""
    start, end, now = rule.start_time, rule.end_time, local.time().replace(tzinfo=None)
    if start is None or end is None:
        return local.date()
    if start < end:
        return local.date() if start <= now < end else None
    if now >= start:  # wrapping window, evening part
        return local.date()
    if now < end:  # wrapping window, after midnight: the day it started
        return local.date() - timedelta(days=1)
    return None


def rule_matches(
    rule: TariffRule, *, connector_type: str, power_kw: Decimal | None, local: datetime
) -> bool:
    if rule.connector_types and connector_type not in rule.connector_types:
        return False
    if rule.min_power_kw is not None or rule.max_power_kw is not None:
        if power_kw is None:
            return False
        if rule.min_power_kw is not None and power_kw < rule.min_power_kw:
            return False
        if rule.max_power_kw is not None and power_kw > rule.max_power_kw:
            return False
    day = service_day(rule, local)
    if day is None:
        return False
    if rule.days_of_week and day.isoweekday() not in rule.days_of_week:
        return False
    if rule.start_date is not None and day < rule.start_date:
        return False
    return rule.end_date is None or day <= rule.end_date


def plan_in_force(plan: TariffPlan, at: datetime) -> bool:
    return (
        plan.active
        and (plan.valid_from is None or plan.valid_from <= at)
        and (plan.valid_to is None or at < plan.valid_to)
    )


def select_rule(
    plans: Iterable[tuple[int, TariffPlan]],
    rules: dict[int, list[TariffRule]],
    *,
    connector_type: str,
    power_kw: Decimal | None,
    at: datetime,
    zone: ZoneInfo,
) -> tuple[TariffPlan, TariffRule] | None:
    """`plans`: (specificity level, plan); `rules`: plan id → its rules."""
    local = at.astimezone(zone)
    ordered = sorted(plans, key=lambda lp: (-lp[0], -lp[1].priority, lp[1].pk))
    for _, plan in ordered:
        if not plan_in_force(plan, at):
            continue
        for rule in sorted(rules.get(plan.pk, ()), key=lambda r: (-r.priority, r.pk)):
            if rule_matches(rule, connector_type=connector_type, power_kw=power_kw, local=local):
                return plan, rule
    return None


def make_quote(
    plan: TariffPlan, rule: TariffRule, *, at: datetime, zone: ZoneInfo, connector_id: int | None
) -> Quote:
    return Quote(
        currency=plan.currency,
        per_kwh=Decimal(rule.price_per_kwh),
        per_minute=Decimal(rule.price_per_minute),
        session_fee=Decimal(rule.session_fee),
        idle_fee_per_minute=Decimal(rule.idle_fee_per_minute),
        idle_grace_minutes=rule.idle_grace_minutes,
        plan_id=plan.pk,
        plan_name=plan.name,
        rule_id=rule.pk,
        rule_name=rule.name,
        quoted_at=at.astimezone(UTC),
        time_zone=zone.key,
        connector_id=connector_id,
        connector_types=tuple(rule.connector_types or ()),
        min_power_kw=rule.min_power_kw,
        max_power_kw=rule.max_power_kw,
        days_of_week=tuple(rule.days_of_week or ()),
        start_time=rule.start_time,
        end_time=rule.end_time,
        start_date=rule.start_date,
        end_date=rule.end_date,
    )


# -- database ----------------------------------------------------------------------------


def _valid_at(at: datetime, prefix: str = "") -> Q:
    return (Q(**{f"{prefix}valid_from__isnull": True}) | Q(**{f"{prefix}valid_from__lte": at})) & (
        Q(**{f"{prefix}valid_to__isnull": True}) | Q(**{f"{prefix}valid_to__gt": at})
    )


def _candidates(
    stations: list[Station], at: datetime
) -> tuple[dict[int, list[tuple[int, TariffPlan]]], dict[int, list[TariffRule]]]:
    """Candidate plans per station and the rules of all of them: 3 queries at most,
    whatever the number of stations."""
    station_ids = {s.pk for s in stations}
    location_ids = {s.location_id for s in stations if s.location_id}
    by_station: dict[int, list[tuple[int, TariffPlan]]] = {pk: [] for pk in station_ids}
    by_location: dict[int, list[TariffPlan]] = {}
    assignments = TariffAssignment.objects.filter(
        Q(station_id__in=station_ids) | Q(location_id__in=location_ids),
        _valid_at(at, "plan__"),
        plan__active=True,
    ).select_related("plan")
    plans: dict[int, TariffPlan] = {}
    for a in assignments:
        plan = plans.setdefault(a.plan_id, a.plan)
        if a.station_id:
            by_station[a.station_id].append((STATION, plan))
        else:
            by_location.setdefault(a.location_id, []).append(plan)
    defaults = list(TariffPlan.objects.filter(_valid_at(at), is_default=True, active=True))
    for plan in defaults:
        plans.setdefault(plan.pk, plan)
    for s in stations:
        by_station[s.pk] += [(LOCATION, p) for p in by_location.get(s.location_id, ())]
        by_station[s.pk] += [(DEFAULT, plans[p.pk]) for p in defaults]
    rules: dict[int, list[TariffRule]] = {}
    if plans:
        for rule in TariffRule.objects.filter(plan_id__in=plans):
            rules.setdefault(rule.plan_id, []).append(rule)
    return by_station, rules


def _check_aware(at: datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("quote needs a timezone-aware moment")


def connector_power(connector: Connector) -> Decimal | None:
    power = connector.max_power_kw
    return power if power is not None else connector.station.max_power_kw


def quotes(connectors: Iterable[Connector], *, at: datetime) -> dict[int, Quote | None]:
    """Quotes for many connectors (connector id → Quote, or None where no tariff applies)
    in a fixed number of queries. Give connectors with `station__location` loaded."""
    _check_aware(at)
    connectors = list(connectors)
    if not connectors:
        return {}
    stations = list({c.station_id: c.station for c in connectors}.values())
    by_station, rules = _candidates(stations, at)
    out: dict[int, Quote | None] = {}
    for connector in connectors:
        station = connector.station
        zone = location_zone(station.location.time_zone if station.location_id else None)
        picked = select_rule(
            by_station[station.pk],
            rules,
            connector_type=connector.connector_type,
            power_kw=connector_power(connector),
            at=at,
            zone=zone,
        )
        out[connector.pk] = (
            make_quote(*picked, at=at, zone=zone, connector_id=connector.pk) if picked else None
        )
    return out


def quote(*, connector: Connector, at: datetime) -> Quote:
    """The price in force on `connector` at `at`. Raises NoTariff when none applies."""
    result = quotes([connector], at=at)[connector.pk]
    if result is None:
        raise NoTariff(connector.pk, at)
    return result


# -- client-specific prices ------------------------------------------------------------------


def _scope_level(tariff: ClientTariff, station: Station) -> int | None:
    """How specifically a client tariff targets this station; None: not here."""
    if tariff.station_id:
        return STATION if tariff.station_id == station.pk else None
    if tariff.location_id:
        return LOCATION if tariff.location_id == station.location_id else None
    return DEFAULT


def apply_client_pricing(
    plan_quote: Quote,
    *,
    station: Station,
    client_id: int,
    tariffs: Iterable[ClientTariff],
    redemptions: Iterable[Any],
) -> Quote:
    """Pure: the plan quote adjusted by the client's tariffs and promo redemptions, all
    already known to be in force at the quote's moment (rules in the module docstring)."""
    fixed: list[tuple[int, ClientTariff]] = []
    discounts: list[tuple[Decimal, int, int, str, int, str]] = []
    for tariff in tariffs:
        level = _scope_level(tariff, station)
        if level is None:
            continue
        if tariff.discount_percent is not None:
            discounts.append(
                (Decimal(tariff.discount_percent), 1, -tariff.pk, "client_tariff", tariff.pk, "")
            )
        else:
            fixed.append((level, tariff))
    for redemption in redemptions:
        discounts.append(
            (
                Decimal(redemption.code.discount_percent),
                0,
                -redemption.pk,
                "promo",
                redemption.pk,
                redemption.code.code,
            )
        )
    result = replace(plan_quote, client_id=client_id)
    if fixed:
        _, tariff = max(fixed, key=lambda lt: (lt[0], lt[1].pk))
        changes: dict[str, Any] = {"fixed_tariff_id": tariff.pk}
        if tariff.price_per_kwh is not None:
            changes.update(per_kwh=money(tariff.price_per_kwh), plan_per_kwh=plan_quote.per_kwh)
        if tariff.price_per_minute is not None:
            changes.update(
                per_minute=money(tariff.price_per_minute), plan_per_minute=plan_quote.per_minute
            )
        result = replace(result, **changes)
    if discounts:
        percent, _, _, source, source_id, code = max(discounts)
        result = replace(
            result.with_discount(percent),
            discount_source=source,
            discount_source_id=source_id,
            promo_code=code,
        )
    return result


def _client_adjustments(client_id: int, at: datetime) -> tuple[list[ClientTariff], list[Any]]:

    tariffs = list(ClientTariff.objects.filter(_valid_at(at), client_id=client_id, active=True))
    return tariffs, list(redemptions_in_force(client=client_id, at=at))


def quotes_for_client(
    connectors: Iterable[Connector], *, at: datetime, client: Client
) -> dict[int, Quote | None]:
    """`quotes` with the client's prices applied: a fixed number of queries."""
    connectors = list(connectors)
    plan_quotes = quotes(connectors, at=at)
    if not connectors:
        return plan_quotes
    tariffs, redemptions = _client_adjustments(client.pk, at)
    out: dict[int, Quote | None] = {}
    for connector in connectors:
        plan_quote = plan_quotes[connector.pk]
        out[connector.pk] = (
            None
            if plan_quote is None
            else apply_client_pricing(
                plan_quote,
                station=connector.station,
                client_id=client.pk,
                tariffs=tariffs,
                redemptions=redemptions,
            )
        )
    return out


def quote_for_client(*, connector: Connector, at: datetime, client: Client) -> Quote:
    """The price `client` pays on `connector` for a session starting at `at`: freeze
    `.as_snapshot()` onto the session. Raises NoTariff when no plan rule applies."""
    result = quotes_for_client([connector], at=at, client=client)[connector.pk]
    if result is None:
        raise NoTariff(connector.pk, at)
    return result
