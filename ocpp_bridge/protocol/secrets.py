"""Values that must never be logged or stored in clear (charger credentials)."""

from __future__ import annotations

MASK = "********"
SECRET_CONFIGURATION_KEYS = frozenset({"AuthorizationKey", "BasicAuthPassword"})


def masked(action: str, payload: dict) -> dict:
    """The payload as it may be logged: a credential being set is replaced by a mask."""
    if action == "ChangeConfiguration" and payload.get("key") in SECRET_CONFIGURATION_KEYS:
        return {**payload, "value": MASK}
    return payload
