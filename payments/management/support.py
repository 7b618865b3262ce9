"""What the support commands of several apps need from payments."""

from __future__ import annotations

import argparse
from decimal import Decimal, InvalidOperation

from ..money import exact_amount


def amount_arg(text: str) -> Decimal:
    """An argparse type: an exact money amount ("150", "-20.50"; not "1.005")."""
    try:
        value = Decimal(text)
        if not value.is_finite():
            raise ValueError(text)
        return exact_amount(value)
    except (InvalidOperation, ValueError, TypeError):
        raise argparse.ArgumentTypeError(f"not an amount in whole cents: {text!r}") from None
