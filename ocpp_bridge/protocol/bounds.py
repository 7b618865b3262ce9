"""Values no charger can mean, refused before any handler sees them.

The 1.6 schemas type fields as `integer` and `string` without bounds, so a frame can be
valid JSON-schema-wise and still carry what nothing downstream can store or mean: an
integer beyond 64 bits (`meterStart: 10**30`), a connector number beyond any real
charger's, a NUL character (no PostgreSQL text or JSON column holds one). Such a field
is a PropertyConstraintViolation ("at least one field contains an invalid value"): the
charger learns at once, instead of being answered InternalError and retrying forever.
"""

from __future__ import annotations

from .errors import PROPERTY_CONSTRAINT, OcppError

INT64 = (-(2**63), 2**63 - 1)
INT32 = (-(2**31), 2**31 - 1)
# narrower ranges by field name, where the meaning gives one (the same names in every
# 1.6 message). transactionId is not here: an id beyond ours is a valid message about a
# transaction we never started, answered normally and parked.
FIELD_RANGES = {
    "connectorId": (0, 32767),
    "reservationId": INT32,
    "requestId": INT32,
    "interval": INT32,
    "retries": INT32,
}


def check_bounds(value: object, field: str = "") -> None:
    """Raise PropertyConstraintViolation naming the first unusable field of `value`."""
    if isinstance(value, dict):
        for key, item in value.items():
            check_bounds(item, key)
    elif isinstance(value, list):
        for item in value:
            check_bounds(item, field)
    elif isinstance(value, str):
        if "\x00" in value:
            raise OcppError(
                PROPERTY_CONSTRAINT, f"{field} contains a NUL character", {"field": field}
            )
    elif isinstance(value, int) and not isinstance(value, bool):
        low, high = FIELD_RANGES.get(field, INT64)
        if not low <= value <= high:
            raise OcppError(
                PROPERTY_CONSTRAINT, f"{field} is out of range ({low}..{high})", {"field": field}
            )
