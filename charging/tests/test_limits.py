"""charging.session.limits: the hold at start, when to stop, how far along (pure, no database)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from charging.session.limits import (
    Limit,
    Progress,
    cost_of,
    hold_amount,
    percent_of_limit,
    stop_reason,
)
from stations.pricing import Quote

D = Decimal
CAP = D("200.00")


def quote(per_kwh="10", per_minute="0", fee="0", discount="0") -> Quote:
    return Quote(
        currency="KGS",
        per_kwh=D(per_kwh),
        per_minute=D(per_minute),
        session_fee=D(fee),
        idle_fee_per_minute=D(0),
        idle_grace_minutes=0,
        plan_id=1,
        plan_name="plan",
        rule_id=1,
        rule_name="rule",
        quoted_at=datetime(2025, 1, 1, tzinfo=UTC),
        time_zone="Asia/Bishkek",
        discount_percent=D(discount),
    )


def hold(limit: Limit, q: Quote, available="1000.00", cap=CAP) -> Decimal:
    return hold_amount(limit, q, available=D(available), no_limit_cap=cap)


# -- hold ----------------------------------------------------------------------------------


def test_amount_limit_holds_the_amount():
    result = hold(Limit("amount", amount=D("150")), quote(per_kwh="12.5", fee="20"))
    assert result == D("150.00") and result.as_tuple().exponent == -2


def test_amount_limit_beyond_the_balance_is_returned_as_is_for_the_caller_to_refuse():
    assert hold(Limit("amount", amount=D("500")), quote(), available="100") == D("500.00")


def test_energy_limit_holds_the_price_of_the_energy_plus_the_session_fee():
    # 10 kWh at 12.50 + 20 fee
    assert hold(Limit("energy", energy_wh=10_000), quote(per_kwh="12.50", fee="20")) == D("145.00")


def test_energy_limit_hold_is_after_discount():
    # (125 + 20) - 10 %
    q = quote(per_kwh="12.50", fee="20", discount="10")
    assert hold(Limit("energy", energy_wh=10_000), q) == D("130.50")


def test_energy_limit_hold_ignores_time_rates_and_rounds_half_up():
    # 1.234 kWh x 12.35 = 15.2399 -> 15.24; per-minute fees are not knowable in advance
    q = quote(per_kwh="12.35", per_minute="5")
    assert hold(Limit("energy", energy_wh=1_234), q) == D("15.24")


@pytest.mark.parametrize(("amount", "expected"), [("100", "100.00"), ("200", "145.00")])
def test_both_limits_hold_the_smaller(amount, expected):
    limit = Limit("both", energy_wh=10_000, amount=D(amount))
    assert hold(limit, quote(per_kwh="12.50", fee="20")) == D(expected)


@pytest.mark.parametrize(
    ("available", "fee", "expected"),
    [
        ("1000.00", "20", "220.00"),  # the cap plus the session fee
        ("1000.00", "0", "200.00"),
        ("150.00", "20", "150.00"),  # the whole available balance
        ("7.50", "20", "7.50"),  # below the minimum hold: the caller refuses (session_open)
        ("0.00", "0", "0.00"),
    ],
)
def test_no_limit_holds_the_balance_up_to_the_cap_plus_session_fee(available, fee, expected):
    assert hold(Limit("none"), quote(fee=fee), available=available) == D(expected)


def test_no_limit_cap_is_configurable():
    assert hold(Limit("none"), quote(fee="5"), cap=D("50")) == D("55.00")


def test_limit_kinds():
    assert (Limit("energy").by_energy, Limit("energy").by_amount) == (True, False)
    assert (Limit("amount").by_energy, Limit("amount").by_amount) == (False, True)
    assert (Limit("both").by_energy, Limit("both").by_amount) == (True, True)
    assert (Limit("none").by_energy, Limit("none").by_amount) == (False, False)


# -- when to stop ---------------------------------------------------------------------------


def reason(limit, q, *, energy=0, seconds=0, power=None, hold_="0", lookahead=30):
    return stop_reason(
        limit,
        q,
        Progress(energy_wh=energy, charging_seconds=seconds, power_w=power),
        hold=D(hold_),
        lookahead_seconds=lookahead,
    )


@pytest.mark.parametrize(
    ("energy", "expected"),
    [
        (9_900, None),  # 9 900 + 60 projected < 10 000
        (9_939, None),  # 9 999
        (9_940, "energy_limit"),  # 10 000: reached within the lookahead
        (12_000, "energy_limit"),
    ],
)
def test_energy_limit_stops_a_lookahead_before_it_is_reached(energy, expected):
    # 7.2 kW for 30 s = 60 Wh
    limit = Limit("energy", energy_wh=10_000)
    assert reason(limit, quote(), energy=energy, power=7_200, hold_=D("1000")) == expected


def test_without_lookahead_only_the_reading_counts():
    limit = Limit("energy", energy_wh=10_000)
    assert reason(limit, quote(), energy=9_999, power=7_200, lookahead=0, hold_=D("1000")) is None
    assert (
        reason(limit, quote(), energy=10_000, power=7_200, lookahead=0, hold_=D("1000"))
        == "energy_limit"
    )


def test_unknown_power_projects_no_energy():
    limit = Limit("energy", energy_wh=10_000)
    assert reason(limit, quote(), energy=9_990, power=None, hold_=D("1000")) is None


def test_negative_power_is_not_projected_backwards():
    limit = Limit("energy", energy_wh=10_000)
    assert reason(limit, quote(), energy=10_000, power=-7_200, hold_=D("1000")) == "energy_limit"


@pytest.mark.parametrize(
    ("energy", "expected"), [(9_900, None), (9_939, None), (9_940, "amount_limit")]
)
def test_amount_limit_stops_when_the_projected_cost_reaches_it(energy, expected):
    limit = Limit("amount", amount=D("100"))
    assert (
        reason(limit, quote(per_kwh="10"), energy=energy, power=7_200, hold_=D("100")) == expected
    )


@pytest.mark.parametrize(("seconds", "expected"), [(5_969, None), (5_970, "amount_limit")])
def test_time_is_projected_too(seconds, expected):
    # 1 som a minute: 5 970 s + 30 s lookahead = 100 min = 100 som
    limit = Limit("amount", amount=D("100"))
    assert (
        reason(limit, quote(per_kwh="0", per_minute="1"), seconds=seconds, hold_=D("100"))
        == expected
    )


def test_session_fee_and_discount_count_towards_the_amount():
    with_fee = quote(per_kwh="10", fee="20")  # 8 kWh = 80 + 20
    assert (
        reason(
            Limit("amount", amount=D("100")), with_fee, energy=7_939, power=7_200, hold_=D("100")
        )
        is None
    )
    assert (
        reason(
            Limit("amount", amount=D("100")), with_fee, energy=7_940, power=7_200, hold_=D("100")
        )
        == "amount_limit"
    )
    half_off = quote(per_kwh="10", discount="50")  # 10 kWh = 100 - 50 %
    assert (
        reason(Limit("amount", amount=D("50")), half_off, energy=9_940, power=7_200, hold_=D("50"))
        == "amount_limit"
    )
    assert (
        reason(Limit("amount", amount=D("50")), half_off, energy=9_900, power=7_200, hold_=D("50"))
        is None
    )


@pytest.mark.parametrize(("energy", "expected"), [(21_939, None), (21_940, "funds_limit")])
def test_no_limit_stops_when_the_hold_runs_out(energy, expected):
    assert (
        reason(Limit("none"), quote(per_kwh="10"), energy=energy, power=7_200, hold_=D("220"))
        == expected
    )


def test_no_limit_without_a_hold_never_stops():
    assert (
        reason(Limit("none"), quote(per_kwh="10"), energy=10**9, power=50_000, hold_=D("0")) is None
    )


def test_energy_limit_also_stops_when_the_hold_runs_out_first():
    # per-minute charges are not in an energy hold: 40 kWh (400) + 100 min (100) = hold
    q = quote(per_kwh="10", per_minute="1")
    limit = Limit("energy", energy_wh=50_000)
    held = hold(limit, q)
    assert held == D("500.00")
    assert reason(limit, q, energy=40_000, seconds=5_970, power=0, hold_=held) == "funds_limit"
    assert reason(limit, q, energy=40_000, seconds=5_900, power=0, hold_=held) is None


@pytest.mark.parametrize(
    ("energy", "amount", "expected"),
    [
        (8_000, "80", "amount_limit"),  # the amount first
        (10_000, "200", "energy_limit"),  # the energy first
        (10_000, "100", "energy_limit"),  # both at once: energy is named
        (5_000, "100", None),
    ],
)
def test_both_limits_stop_at_whichever_comes_first(energy, amount, expected):
    limit = Limit("both", energy_wh=10_000, amount=D(amount))
    assert (
        reason(limit, quote(per_kwh="10"), energy=energy, power=0, hold_=D(amount), lookahead=0)
        == expected
    )


def test_cost_of_is_the_quote_total():
    q = quote(per_kwh="12", per_minute="0.5", fee="5")
    assert cost_of(q, Progress(energy_wh=10_000, charging_seconds=1_800, power_w=None)) == D(
        "140.00"
    )


# -- percent --------------------------------------------------------------------------------


def percent(limit, *, energy=0, cost="0", hold_="0"):
    return percent_of_limit(limit, Progress(energy, 0, None), D(cost), hold=D(hold_))


def test_percent_of_an_energy_limit():
    assert percent(Limit("energy", energy_wh=10_000), energy=2_500) == 25
    assert percent(Limit("energy", energy_wh=10_000), energy=0) == 0


def test_percent_of_an_amount_limit():
    assert percent(Limit("amount", amount=D("120")), cost="30") == 25


def test_percent_of_both_is_the_nearer_limit():
    limit = Limit("both", energy_wh=10_000, amount=D("100"))
    assert percent(limit, energy=2_500, cost="60") == 60
    assert percent(limit, energy=9_000, cost="10") == 90


def test_percent_without_a_limit_is_of_the_hold():
    assert percent(Limit("none"), cost="50", hold_="200") == 25
    assert percent(Limit("none"), cost="50", hold_="0") is None


def test_percent_is_truncated_and_capped():
    assert percent(Limit("energy", energy_wh=10_000), energy=9_999) == 99
    assert percent(Limit("energy", energy_wh=10_000), energy=12_000) == 100
    assert percent(Limit("none"), cost="250", hold_="200") == 100
