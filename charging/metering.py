"""Meter readings as chargers report them, normalised to base units (Wh, W, var...)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

ENERGY_REGISTER = "Energy.Active.Import.Register"

# unit -> (base unit, factor). OCPP 1.6 lets chargers pick Wh or kWh (and k-variants).
_UNITS = {
    "Wh": ("Wh", 1),
    "kWh": ("Wh", 1000),
    "varh": ("varh", 1),
    "kvarh": ("varh", 1000),
    "W": ("W", 1),
    "kW": ("W", 1000),
    "VA": ("VA", 1),
    "kVA": ("VA", 1000),
    "var": ("var", 1),
    "kvar": ("var", 1000),
    "A": ("A", 1),
    "V": ("V", 1),
    "K": ("K", 1),
    "Celsius": ("Celsius", 1),
    "Celcius": ("Celsius", 1),  # 1.6 schema has both spellings
    "Fahrenheit": ("Fahrenheit", 1),
    "Percent": ("Percent", 1),
    "Hertz": ("Hertz", 1),
}


def default_unit(measurand: str) -> str:
    """The spec's default: Wh when the measurand is an energy one, else none."""
    return "Wh" if measurand.startswith("Energy.") else ""


def normalise(value: str, measurand: str, unit: str, fmt: str) -> tuple[Decimal | None, str]:
    """(value in base unit, base unit); (None, '') when not a plain number (SignedData)."""
    if fmt == "SignedData":
        return None, ""
    unit = unit or default_unit(measurand)
    try:
        number = Decimal(value.strip())
    except (InvalidOperation, AttributeError):
        return None, ""
    if not number.is_finite():
        return None, ""
    base, factor = _UNITS.get(unit, (unit, 1))
    return number * factor, base


def is_energy_register(measurand: str, phase: str, fmt: str) -> bool:
    """The whole-meter import register that billing reads (not a per-phase value)."""
    return measurand == ENERGY_REGISTER and not phase and fmt != "SignedData"
