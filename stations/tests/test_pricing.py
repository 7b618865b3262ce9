"""Which tariff rule is in force, and what a session costs under it (stations.pricing)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from stations.pricing import NoTariff, Quote, money, quote, quotes
from stations.station_models import Connector
from stations.tariff_models import TariffAssignment
from stations.tests.factories import LocationFactory

from .support import make_connector, plan, rule

pytestmark = pytest.mark.django_db

BISHKEK = ZoneInfo("Asia/Bishkek")  # UTC+6, no DST


def local(*args, tz=BISHKEK) -> datetime:
    return datetime(*args, tzinfo=tz)


@pytest.fixture
def site():
    return LocationFactory(name="Ala-Too", time_zone="Asia/Bishkek")


def price_at(connector, at) -> Decimal:
    return quote(connector=connector, at=at).per_kwh


# -- which plan --------------------------------------------------------------------------


def test_default_plan_applies_when_nothing_is_assigned(site):
    connector = make_connector(site)
    default = plan(default=True, currency="KGS")
    picked = rule(
        default,
        "12.50",
        price_per_minute=Decimal("1.00"),
        session_fee=Decimal("20"),
        idle_fee_per_minute=Decimal("5"),
        idle_grace_minutes=10,
        name="base",
    )
    q = quote(connector=connector, at=local(2025, 3, 3, 12))
    assert (q.rule_id, q.plan_id, q.currency) == (picked.pk, default.pk, "KGS")
    assert (
        q.per_kwh,
        q.per_minute,
        q.session_fee,
        q.idle_fee_per_minute,
        q.idle_grace_minutes,
    ) == (Decimal("12.50"), Decimal("1.00"), Decimal("20.00"), Decimal("5.00"), 10)
    assert q.time_zone == "Asia/Bishkek" and q.connector_id == connector.pk


def test_no_rule_anywhere_raises_no_tariff(site):
    connector = make_connector(site)
    rule(plan(default=True), connector_types=["CCS2"])
    with pytest.raises(NoTariff):
        quote(connector=connector, at=local(2025, 3, 3, 12))
    assert quotes([connector], at=local(2025, 3, 3, 12)) == {connector.pk: None}


def test_station_plan_beats_location_plan_beats_default(site):
    connector = make_connector(site)
    rule(plan("default", default=True, priority=100), "1.00")
    location_plan = plan("location")
    rule(location_plan, "2.00")
    TariffAssignment.objects.create(plan=location_plan, location=site)
    at = local(2025, 3, 3, 12)
    assert price_at(connector, at) == Decimal("2.00")
    station_plan = plan("station")
    rule(station_plan, "3.00")
    TariffAssignment.objects.create(plan=station_plan, station=connector.station)
    assert price_at(connector, at) == Decimal("3.00")


def test_a_plan_without_a_matching_rule_falls_through_to_the_next(site):
    ccs = make_connector(site, number=1, connector_type="CCS2")
    type2 = make_connector(site, number=2, connector_type="Type2")
    station_plan = plan("dc only")
    rule(station_plan, "20.00", connector_types=["CCS2", "CHAdeMO"])
    TariffAssignment.objects.create(plan=station_plan, station=ccs.station)
    rule(plan("default", default=True), "9.00")
    at = local(2025, 3, 3, 12)
    assert price_at(ccs, at) == Decimal("20.00")
    assert price_at(type2, at) == Decimal("9.00")


def test_higher_plan_priority_wins_at_the_same_level(site):
    connector = make_connector(site)
    for name, priority, price in (("low", 0, "1.00"), ("high", 5, "2.00")):
        p = plan(name, priority=priority)
        rule(p, price)
        TariffAssignment.objects.create(plan=p, location=site)
    assert price_at(connector, local(2025, 3, 3, 12)) == Decimal("2.00")


def test_higher_rule_priority_wins_and_ties_go_to_the_older_rule(site):
    connector = make_connector(site)
    p = plan(default=True)
    rule(p, "1.00", priority=0)
    first_tie = rule(p, "2.00", priority=3)
    rule(p, "3.00", priority=3)
    assert quote(connector=connector, at=local(2025, 3, 3, 12)).rule_id == first_tie.pk


def test_plan_validity_from_inclusive_to_exclusive_and_inactive_ignored(site):
    connector = make_connector(site)
    rule(plan("base", default=True), "1.00")
    start, end = local(2025, 4, 1), local(2025, 5, 1)
    rule(plan("april", default=True, priority=1, valid_from=start, valid_to=end), "2.00")
    rule(plan("off", default=True, priority=9, active=False), "9.00")
    assert price_at(connector, start - timedelta(seconds=1)) == Decimal("1.00")
    assert price_at(connector, start) == Decimal("2.00")
    assert price_at(connector, end - timedelta(seconds=1)) == Decimal("2.00")
    assert price_at(connector, end) == Decimal("1.00")


# -- time of day, days, dates --------------------------------------------------------------


@pytest.fixture
def night_and_day(site):
    """Day price 10 always; night price 5 from 22:00 to 06:00 (higher priority)."""
    p = plan(default=True)
    rule(p, "10.00", name="day")
    rule(p, "5.00", name="night", priority=1, start_time=time(22), end_time=time(6))
    return make_connector(site)


@pytest.mark.parametrize(
    ("hour", "minute", "expected"),
    [
        (21, 59, "10.00"),
        (22, 0, "5.00"),
        (23, 30, "5.00"),
        (0, 0, "5.00"),
        (3, 0, "5.00"),
        (5, 59, "5.00"),
        (6, 0, "10.00"),
        (12, 0, "10.00"),
    ],
)
def test_a_night_window_wraps_midnight(night_and_day, hour, minute, expected):
    assert price_at(night_and_day, local(2025, 3, 3, hour, minute)) == Decimal(expected)


def test_a_window_that_does_not_wrap_excludes_its_end(site):
    connector = make_connector(site)
    p = plan(default=True)
    rule(p, "10.00")
    rule(p, "15.00", priority=1, start_time=time(8), end_time=time(18))
    assert price_at(connector, local(2025, 3, 3, 8)) == Decimal("15.00")
    assert price_at(connector, local(2025, 3, 3, 17, 59, 59)) == Decimal("15.00")
    assert price_at(connector, local(2025, 3, 3, 18)) == Decimal("10.00")
    assert price_at(connector, local(2025, 3, 3, 7, 59)) == Decimal("10.00")


def test_windows_are_evaluated_in_the_location_time_zone(night_and_day):
    connector = night_and_day
    at = datetime(2025, 3, 3, 17, 0, tzinfo=UTC)  # 23:00 in Bishkek
    assert price_at(connector, at) == Decimal("5.00")
    q = quote(connector=connector, at=at)
    assert q.quoted_at == at and q.quoted_at.tzinfo == UTC
    utc_site = LocationFactory(name="London", time_zone="UTC")
    elsewhere = make_connector(utc_site, identity="CP-UTC")
    assert price_at(elsewhere, at) == Decimal("10.00")  # 17:00 there
    assert price_at(elsewhere, datetime(2025, 3, 3, 23, tzinfo=UTC)) == Decimal("5.00")


def test_days_of_week_use_the_local_day(site):
    connector = make_connector(site)
    p = plan(default=True)
    rule(p, "10.00")
    rule(p, "7.00", priority=1, days_of_week=[6, 7])  # weekend
    saturday_early = datetime(2025, 3, 7, 19, 0, tzinfo=UTC)  # Friday UTC, Sat 01:00 local
    assert saturday_early.astimezone(BISHKEK).isoweekday() == 6
    assert price_at(connector, saturday_early) == Decimal("7.00")
    assert price_at(connector, local(2025, 3, 7, 23, 59)) == Decimal("10.00")  # Friday
    assert price_at(connector, local(2025, 3, 9, 23, 59)) == Decimal("7.00")  # Sunday
    assert price_at(connector, local(2025, 3, 10, 0, 0)) == Decimal("10.00")  # Monday


def test_the_part_after_midnight_belongs_to_the_day_the_window_started(site):
    connector = make_connector(site)
    p = plan(default=True)
    rule(p, "10.00")
    rule(p, "4.00", priority=1, days_of_week=[5], start_time=time(22), end_time=time(6))
    assert price_at(connector, local(2025, 3, 7, 23)) == Decimal("4.00")  # Friday night
    assert price_at(connector, local(2025, 3, 8, 3)) == Decimal("4.00")  # Saturday 03:00
    assert price_at(connector, local(2025, 3, 7, 3)) == Decimal("10.00")  # Friday 03:00
    assert price_at(connector, local(2025, 3, 8, 23)) == Decimal("10.00")  # Saturday night


def test_rule_dates_are_local_and_inclusive(site):
    connector = make_connector(site)
    p = plan(default=True)
    rule(p, "10.00")
    rule(p, "0.00", priority=1, start_date=date(2025, 3, 8), end_date=date(2025, 3, 8))
    assert price_at(connector, local(2025, 3, 8, 0, 0)) == Decimal("0.00")
    assert price_at(connector, local(2025, 3, 8, 23, 59)) == Decimal("0.00")
    assert price_at(connector, datetime(2025, 3, 7, 18, 0, tzinfo=UTC)) == Decimal("0.00")
    assert price_at(connector, local(2025, 3, 9, 0, 0)) == Decimal("10.00")
    assert price_at(connector, local(2025, 3, 7, 23, 59)) == Decimal("10.00")


# -- connectors ----------------------------------------------------------------------------


def test_power_bands_are_inclusive_and_use_the_station_power_when_the_connector_has_none(site):
    p = plan(default=True)
    rule(p, "8.00", max_power_kw=Decimal("22"))
    rule(p, "15.00", min_power_kw=Decimal("22.01"), max_power_kw=Decimal("60"))
    rule(p, "20.00", min_power_kw=Decimal("60.01"))
    at = local(2025, 3, 3, 12)
    assert price_at(make_connector(site, number=1, power=Decimal("22")), at) == Decimal("8.00")
    assert price_at(make_connector(site, number=2, power=Decimal("60")), at) == Decimal("15.00")
    assert price_at(make_connector(site, number=3, power=Decimal("150")), at) == Decimal("20.00")
    fallback = make_connector(site, identity="CP-2", station_power=Decimal("50"))
    assert price_at(fallback, at) == Decimal("15.00")


def test_a_power_band_never_matches_unknown_power(site):
    connector = make_connector(site)  # neither connector nor station power known
    p = plan(default=True)
    rule(p, "8.00", max_power_kw=Decimal("22"))
    with pytest.raises(NoTariff):
        quote(connector=connector, at=local(2025, 3, 3, 12))
    rule(p, "9.00")
    assert price_at(connector, local(2025, 3, 3, 12)) == Decimal("9.00")


def test_connector_type_filter(site):
    p = plan(default=True)
    rule(p, "25.00", connector_types=["CCS2"])
    rule(p, "18.00", connector_types=["CHAdeMO", "GB/T DC"])
    at = local(2025, 3, 3, 12)
    assert price_at(make_connector(site, number=1, connector_type="CCS2"), at) == Decimal("25")
    assert price_at(make_connector(site, number=2, connector_type="GB/T DC"), at) == Decimal("18")
    with pytest.raises(NoTariff):
        quote(connector=make_connector(site, number=3, connector_type="Type2"), at=at)


def test_many_connectors_are_quoted_in_a_fixed_number_of_queries(site, django_assert_num_queries):
    p = plan("location")
    rule(p, "10.00")
    TariffAssignment.objects.create(plan=p, location=site)
    rule(plan(default=True), "1.00")
    connectors = [make_connector(site, identity=f"CP-{i}", number=1) for i in range(20)]
    connectors = list(
        Connector.objects.filter(pk__in=[c.pk for c in connectors]).select_related(
            "station__location"
        )
    )
    with django_assert_num_queries(3):
        result = quotes(connectors, at=local(2025, 3, 3, 12))
    assert {q.per_kwh for q in result.values()} == {Decimal("10.00")}


def test_a_naive_moment_is_refused(site):
    connector = make_connector(site)
    with pytest.raises(ValueError, match="timezone-aware"):
        quote(connector=connector, at=datetime(2025, 3, 3, 12))


# -- the quote as a snapshot, and costs ------------------------------------------------------


def test_a_quote_is_frozen_and_round_trips_through_its_snapshot(site):
    import json

    connector = make_connector(site, connector_type="CCS2", power=Decimal("60"))
    rule(
        plan(default=True),
        "12.34",
        price_per_minute=Decimal("0.50"),
        name="night",
        session_fee=Decimal("15"),
        idle_fee_per_minute=Decimal("3"),
        idle_grace_minutes=15,
        connector_types=["CCS2"],
        min_power_kw=Decimal("50"),
        days_of_week=[1, 2],
        start_time=time(22),
        end_time=time(6),
        start_date=date(2025, 1, 1),
    )
    q = quote(connector=connector, at=local(2025, 3, 3, 23))
    with pytest.raises(dataclasses.FrozenInstanceError):
        q.per_kwh = Decimal(0)
    snapshot = json.loads(json.dumps(q.as_snapshot()))
    assert snapshot["per_kwh"] == "12.34" and snapshot["start_time"] == "22:00:00"
    assert Quote.from_snapshot(snapshot) == q


def test_money_rounds_half_up_to_the_minor_unit():
    assert money(Decimal("1.005")) == Decimal("1.01")
    assert money(Decimal("1.004")) == Decimal("1.00")
    assert money(Decimal("2.675")) == Decimal("2.68")


def make_quote(**overrides) -> Quote:
    fields = dict(
        currency="KGS",
        per_kwh=Decimal("12.50"),
        per_minute=Decimal("1.00"),
        session_fee=Decimal("20.00"),
        idle_fee_per_minute=Decimal("5.00"),
        idle_grace_minutes=10,
        plan_id=1,
        plan_name="p",
        rule_id=1,
        rule_name="r",
        quoted_at=datetime(2025, 3, 3, tzinfo=UTC),
        time_zone="Asia/Bishkek",
    )
    return Quote(**{**fields, **overrides})


def test_cost_adds_energy_time_fee_and_idle_beyond_grace():
    cost = make_quote().cost(energy_wh=10_333, charging_seconds=30 * 60 + 30, idle_seconds=12 * 60)
    assert cost.energy == Decimal("129.16")  # 10.333 kWh x 12.50 = 129.1625
    assert cost.time == Decimal("30.50")
    assert cost.idle == Decimal("10.00")  # 2 minutes beyond the 10 free ones
    assert cost.session_fee == Decimal("20.00")
    assert cost.total == Decimal("189.66") and cost.currency == "KGS"


def test_idle_within_grace_is_free_and_nothing_is_negative():
    cost = make_quote(session_fee=Decimal("0")).cost(
        energy_wh=-5, charging_seconds=-1, idle_seconds=600
    )
    assert cost.total == Decimal("0.00")


def test_a_discount_applies_to_the_whole_bill():
    q = make_quote().with_discount(10)
    cost = q.cost(energy_wh=8000, charging_seconds=0)
    assert cost.discount == Decimal("12.00") and cost.total == Decimal("108.00")
    assert Quote.from_snapshot(q.as_snapshot()).discount_percent == Decimal("10")
    with pytest.raises(ValueError):
        make_quote().with_discount(101)


def test_price_of_energy_covers_energy_and_the_session_fee():
    assert make_quote().price_of_energy(20_000) == Decimal("270.00")
