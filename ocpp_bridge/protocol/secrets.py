"""Values that must never be logged or stored in clear (charger credentials)."""

from __future__ import annotations

import re

MASK = "********"
SECRET_CONFIGURATION_KEYS = frozenset({"AuthorizationKey", "BasicAuthPassword"})


# upload/download locations may carry credentials: ftp://user:password@host/path
_URL_PASSWORD = re.compile(r"^([a-z][a-z0-9+.-]*://[^/:@]*:)[^/@]*@", re.IGNORECASE)


# 2.0.1 keeps credentials in device-model variables
SECRET_VARIABLES = frozenset({"BasicAuthPassword"})


def masked(action: str, payload: dict) -> dict:
    """The payload as it may be logged: credentials are replaced by a mask."""
    if action == "ChangeConfiguration" and payload.get("key") in SECRET_CONFIGURATION_KEYS:
        return {**payload, "value": MASK}
    if action == "SetVariables":
        return {
            **payload,
            "setVariableData": [
                {**item, "attributeValue": MASK}
                if (item.get("variable") or {}).get("name") in SECRET_VARIABLES
                else item
                for item in payload.get("setVariableData", [])
            ],
        }
    location = payload.get("location")
    if isinstance(location, str) and _URL_PASSWORD.match(location):
        return {**payload, "location": _URL_PASSWORD.sub(rf"\g<1>{MASK}@", location)}
    return payload
