"""The one money module: rounding, exact amounts, minor units."""

from __future__ import annotations

from decimal import Decimal

import pytest

from payments.money import exact_amount, from_minor, money, money_text, to_minor


def test_money_rounds_half_up_to_the_minor_unit():
    assert money("1.005") == Decimal("1.01")
    assert money("2.675") == Decimal("2.68")
    assert money(3) == Decimal("3.00")


def test_exact_amount_refuses_what_it_would_have_to_round():
    assert exact_amount("12.3") == Decimal("12.30")
    with pytest.raises(ValueError):
        exact_amount("12.345")
    with pytest.raises(ValueError):
        exact_amount("Infinity")
    with pytest.raises(TypeError):
        exact_amount(12.3)


def test_minor_units_round_trip():
    assert to_minor("12.34") == 1234
    assert to_minor(Decimal("-0.05"), "UZS") == -5
    assert from_minor(1234) == Decimal("12.34")
    assert from_minor(to_minor("100000.00")) == Decimal("100000.00")
    with pytest.raises(ValueError):
        to_minor("1", "USD")
    with pytest.raises(TypeError):
        from_minor(12.5)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("38.6"), "38.60"),
        (Decimal("5"), "5.00"),
        ("1000", "1000.00"),
        (Decimal("0.005"), "0.01"),
        (None, "-"),
    ],
)
def test_money_text_always_shows_two_decimals(value, text):
    """What support commands print (session_refund printed a SQLite sum as "38.6")."""
    assert money_text(value) == text
