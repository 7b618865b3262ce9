"""The one rule for text cells of the CSV files we hand out (the admin's exports, the
reconciliation report): text a spreadsheet would run as a formula gets a leading
apostrophe. Order ids, phones, details and charger strings come from outside."""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def formula_safe(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_STARTS) else text
