"""CALLERROR codes and the exception that carries one.

1.6 and 2.0.1 spell some codes differently (FormationViolation vs FormatViolation,
Occurence vs Occurrence). Handlers raise the version-neutral name; the session
translates it to the spelling of the negotiated version when it builds the frame.
"""

from __future__ import annotations

FORMAT_VIOLATION = "FormatViolation"
PROTOCOL_ERROR = "ProtocolError"
TYPE_CONSTRAINT = "TypeConstraintViolation"
PROPERTY_CONSTRAINT = "PropertyConstraintViolation"
OCCURRENCE_CONSTRAINT = "OccurrenceConstraintViolation"
NOT_IMPLEMENTED = "NotImplemented"
NOT_SUPPORTED = "NotSupported"
SECURITY_ERROR = "SecurityError"
GENERIC_ERROR = "GenericError"
INTERNAL_ERROR = "InternalError"

_V16_SPELLING = {
    FORMAT_VIOLATION: "FormationViolation",
    OCCURRENCE_CONSTRAINT: "OccurenceConstraintViolation",
}
_V201_SPELLING = {
    # The official 2.0.1 schemas/library keep the 1.6 misspelling for this one.
    OCCURRENCE_CONSTRAINT: "OccurenceConstraintViolation",
}


def spelled_for(code: str, version: str) -> str:
    """The code as the given OCPP version writes it on the wire."""
    table = _V16_SPELLING if version == "1.6" else _V201_SPELLING
    return table.get(code, code)


class OcppError(Exception):
    """A failure that must reach the peer as a CALLERROR."""

    def __init__(self, code: str, description: str = "", details: dict | None = None):
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description
        self.details = details or {}
