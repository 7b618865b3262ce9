"""Validation against the official OCPP JSON schemas shipped by the `ocpp` package.

Schemas are compiled to Python once per action (fastjsonschema) and validated inline:
the `ocpp` library's default runs every validation in a thread pool, which costs more
than the check itself. Each schema rule maps to the CALLERROR code the spec names.
"""

from __future__ import annotations

import importlib.resources
import json
from collections.abc import Callable
from functools import cache

import fastjsonschema

from .errors import (
    FORMAT_VIOLATION,
    NOT_IMPLEMENTED,
    OCCURRENCE_CONSTRAINT,
    PROPERTY_CONSTRAINT,
    PROTOCOL_ERROR,
    TYPE_CONSTRAINT,
    OcppError,
)

_SCHEMA_DIRS = {"1.6": "v16", "2.0.1": "v201"}

# schema rule -> CALLERROR code (OCPP-J 1.6 §4.2.3 meanings)
_RULE_CODES = {
    "required": PROTOCOL_ERROR,  # "payload for action is incomplete"
    "type": TYPE_CONSTRAINT,
    "maxLength": TYPE_CONSTRAINT,  # CiStringNType is a data type with a length
    "minItems": OCCURRENCE_CONSTRAINT,
    "maxItems": OCCURRENCE_CONSTRAINT,
    "additionalProperties": FORMAT_VIOLATION,  # not the PDU structure of the action
}


@cache
def _validator(version: str, name: str) -> Callable[[dict], object] | None:
    folder = importlib.resources.files("ocpp") / _SCHEMA_DIRS[version] / "schemas"
    path = folder / f"{name}.json"
    if not path.is_file():
        return None
    schema = json.loads(path.read_text(encoding="utf-8"))
    schema.pop("$schema", None)  # draft-04 keyword set is the compiler's default
    return fastjsonschema.compile(schema)


def has_schema(version: str, action: str) -> bool:
    return _validator(version, action if version == "1.6" else f"{action}Request") is not None


def validate(version: str, name: str, payload: dict) -> None:
    """Raise OcppError with the spec's code when `payload` breaks schema `name`."""
    check = _validator(version, name)
    if check is None:
        raise OcppError(NOT_IMPLEMENTED, f"No schema for {name}")
    try:
        check(payload)
    except fastjsonschema.JsonSchemaValueException as exc:
        code = _RULE_CODES.get(exc.rule, PROPERTY_CONSTRAINT)
        field = (exc.name or "").removeprefix("data.").removeprefix("data")
        raise OcppError(code, exc.message.replace("data.", "", 1), {"field": field}) from None


def validate_request(version: str, action: str, payload: dict) -> None:
    # 1.6 names a request's schema after its action; 2.0.1 adds "Request"
    validate(version, action if version == "1.6" else f"{action}Request", payload)


def validate_response(version: str, action: str, payload: dict) -> None:
    validate(version, f"{action}Response", payload)
