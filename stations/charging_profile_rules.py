"""Charging profiles as OCPP 1.6 sees them: what makes one valid, and its
csChargingProfiles object. Pure functions over the model, no database access."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from .charger_port import format_timestamp

# `profile` below is a stations.ChargingProfile; the model calls these rules (clean,
# as_ocpp), so this module does not import it back
ChargingProfile = Any

TENTH = Decimal("0.1")


def _tenths(value) -> Decimal | None:
    """The value as a Decimal when it is a number at 0.1 resolution, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    if not number.is_finite() or number % TENTH != 0:
        return None
    return number


def wire_number(value) -> float:
    """A limit as sent: a float whose shortest repr has one decimal (16.0, 7.4), so it
    passes `multipleOf: 0.1` in any validator (3 * 0.1 would be 0.30000000000000004)."""
    return float(Decimal(str(value)).quantize(TENTH))


def profile_errors(profile: ChargingProfile) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    periods = profile.schedule_periods
    if not isinstance(periods, list) or not periods:
        add("schedule_periods", "A schedule needs at least one period.")
        periods = []
    previous = None
    for n, period in enumerate(periods, start=1):
        if not isinstance(period, dict) or set(period) - {"startPeriod", "limit", "numberPhases"}:
            add("schedule_periods", f"Period {n}: only startPeriod, limit, numberPhases.")
            continue
        start, limit = period.get("startPeriod"), _tenths(period.get("limit"))
        if not isinstance(start, int) or isinstance(start, bool) or start < 0:
            add("schedule_periods", f"Period {n}: startPeriod must be whole seconds >= 0.")
        elif previous is None and start != 0:
            add("schedule_periods", "The first period must start at 0.")
        elif previous is not None and start <= previous:
            add("schedule_periods", f"Period {n}: startPeriod must increase.")
        else:
            previous = start
        if limit is None or limit < 0:
            add("schedule_periods", f"Period {n}: limit must be >= 0 with at most one decimal.")
        phases = period.get("numberPhases")
        if phases is not None and phases not in (1, 2, 3):
            add("schedule_periods", f"Period {n}: numberPhases is 1, 2 or 3.")
    if profile.min_charging_rate is not None and _tenths(profile.min_charging_rate) is None:
        add("min_charging_rate", "At most one decimal.")
    if profile.kind == "Recurring" and not profile.recurrency_kind:
        add("recurrency_kind", "A recurring profile is Daily or Weekly.")
    if profile.kind != "Recurring" and profile.recurrency_kind:
        add("recurrency_kind", "Only recurring profiles recur.")
    if profile.kind == "Relative" and profile.start_schedule:
        add("start_schedule", "A relative profile starts when charging starts: leave empty.")
    if profile.kind in ("Absolute", "Recurring") and not profile.start_schedule:
        add("start_schedule", f"An {profile.kind.lower()} profile needs its start time.")
    if profile.valid_from and profile.valid_to and profile.valid_to <= profile.valid_from:
        add("valid_to", "Must be after valid from.")
    return errors


def profile_as_ocpp(profile: ChargingProfile, *, transaction_id: int | None = None) -> dict:
    periods = []
    for period in profile.schedule_periods:
        out = {"startPeriod": period["startPeriod"], "limit": wire_number(period["limit"])}
        if period.get("numberPhases") is not None:
            out["numberPhases"] = period["numberPhases"]
        periods.append(out)
    schedule: dict = {
        "chargingRateUnit": profile.charging_rate_unit,
        "chargingSchedulePeriod": periods,
    }
    if profile.duration is not None:
        schedule["duration"] = profile.duration
    if profile.start_schedule is not None:
        schedule["startSchedule"] = format_timestamp(profile.start_schedule)
    if profile.min_charging_rate is not None:
        schedule["minChargingRate"] = wire_number(profile.min_charging_rate)
    result: dict = {
        "chargingProfileId": profile.charging_profile_id,
        "stackLevel": profile.stack_level,
        "chargingProfilePurpose": profile.purpose,
        "chargingProfileKind": profile.kind,
        "chargingSchedule": schedule,
    }
    if transaction_id is not None:
        result["transactionId"] = transaction_id
    if profile.recurrency_kind:
        result["recurrencyKind"] = profile.recurrency_kind
    if profile.valid_from is not None:
        result["validFrom"] = format_timestamp(profile.valid_from)
    if profile.valid_to is not None:
        result["validTo"] = format_timestamp(profile.valid_to)
    return result
