"""THE money module: amounts, rounding and currencies. Decimal only, never float.

- An amount is a `Decimal` in major units (som, sum) with exactly 2 places.
- `money(x)` rounds to the minor unit (tyiyn, tiyin), half up: the one rounding rule
  (tariff evaluation in `stations.pricing` uses it too).
- `exact_amount(x)` is for amounts that come IN (API, admin, other services): it refuses
  floats and anything finer than the minor unit instead of silently rounding it away.
- `to_minor` / `from_minor` convert to and from integer minor units (what providers speak).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Currency:
    code: str  # ISO 4217
    minor_units: int  # decimal places of the minor unit
    name: str


KGS = Currency("KGS", 2, "Kyrgyz som")
UZS = Currency("UZS", 2, "Uzbek sum")
CURRENCIES: dict[str, Currency] = {c.code: c for c in (KGS, UZS)}
DEFAULT_CURRENCY = KGS.code
CURRENCY_CHOICES = [(c.code, c.code) for c in CURRENCIES.values()]


def currency(code: str) -> Currency:
    try:
        return CURRENCIES[code]
    except KeyError:
        raise ValueError(f"unsupported currency {code!r}") from None


def _decimal(value: Decimal | int | str) -> Decimal:
    if isinstance(value, float | bool):
        raise TypeError("money is never a float (or a bool); pass a Decimal, int or str")
    try:
        result = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise ValueError(f"not an amount: {value!r}") from None
    if not result.is_finite():
        raise ValueError(f"not an amount: {value!r}")
    return result


def money(value: Decimal | int | str) -> Decimal:
    """Round an amount to the minor unit (tyiyn/tiyin), half up. The ONE rounding rule."""
    return _decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def exact_amount(value: Decimal | int | str) -> Decimal:
    """An incoming amount as a 2-place Decimal; ValueError if it has finer precision
    (1.005 is a bug upstream, not something to round here), TypeError for a float."""
    result = _decimal(value)
    rounded = result.quantize(CENT, rounding=ROUND_HALF_UP)
    if rounded != result:
        raise ValueError(f"amount {value!r} is finer than the minor unit")
    return rounded


def to_minor(amount: Decimal | int | str, currency_code: str = DEFAULT_CURRENCY) -> int:
    """Exact amount → integer minor units (12.34 som → 1234 tyiyn)."""
    exp = currency(currency_code).minor_units
    return int(exact_amount(amount).scaleb(exp))


def from_minor(units: int, currency_code: str = DEFAULT_CURRENCY) -> Decimal:
    """Integer minor units → amount (1234 → 12.34)."""
    if not isinstance(units, int) or isinstance(units, bool):
        raise TypeError("minor units are an int")
    exp = currency(currency_code).minor_units
    return Decimal(units).scaleb(-exp).quantize(CENT)


_MINOR_UNITS = re.compile(r"[0-9]{1,18}")
_DECIMAL_TEXT = re.compile(r"-?[0-9]{1,18}(\.[0-9]{1,6})?")


def minor_units_from_text(value: object) -> int:
    """A provider's amount in minor units as text ("15000") → int. ASCII digits only:
    str.isdigit() and int() also take "²" or other scripts' digits, which no provider
    means. ValueError otherwise."""
    text = str(value).strip()
    if not _MINOR_UNITS.fullmatch(text):
        raise ValueError(f"not an amount in minor units: {value!r}")
    return int(text)


def decimal_from_text(value: object) -> Decimal:
    """A provider's amount as decimal text ("1000.00") → Decimal, ASCII digits only
    (Decimal() also takes other scripts' digits, "1_000", "NaN"...). ValueError otherwise."""
    text = str(value).strip()
    if not _DECIMAL_TEXT.fullmatch(text):
        raise ValueError(f"not a decimal amount: {value!r}")
    return Decimal(text)


def money_text(value: Decimal | int | str | None) -> str:
    """An amount as people read it, always with two decimals ("38.60", not "38.6" as a
    SQLite sum may give); "-" for none."""
    return "-" if value is None else f"{money(value):.2f}"
