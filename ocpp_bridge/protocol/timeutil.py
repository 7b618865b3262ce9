"""ISO 8601 timestamps as chargers send them, into aware UTC datetimes."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from .errors import PROPERTY_CONSTRAINT, OcppError

# Python's parser takes at most 6 fractional digits; chargers send up to 9.
_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_timestamp(value: str) -> datetime:
    text = _FRACTION.sub(r"\1", value.strip())
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise OcppError(PROPERTY_CONSTRAINT, f"Invalid date-time {value!r}") from None
    if parsed.tzinfo is None:  # no offset: OCPP times are UTC
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
