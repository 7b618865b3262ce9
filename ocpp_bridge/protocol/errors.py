"""CALLERROR codes and the exception that carries one.

1.6 and 2.0.1 spell some codes differently (FormationViolation vs FormatViolation,
Occurence vs Occurrence), and 2.0.1 has two codes 1.6 lacks (RpcFrameworkError: not a valid
RPC message at all; MessageTypeNotSupported: an unknown MessageTypeId). Handlers raise the
version-neutral name; the session writes it as the negotiated version spells it.
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
RPC_FRAMEWORK = "RpcFrameworkError"
MESSAGE_TYPE_NOT_SUPPORTED = "MessageTypeNotSupported"

_V16_SPELLING = {
    FORMAT_VIOLATION: "FormationViolation",
    OCCURRENCE_CONSTRAINT: "OccurenceConstraintViolation",  # sic, as OCPP-J 1.6 prints it
    # 1.6 has no codes of their own for these: a frame that is no RPC message is malformed
    RPC_FRAMEWORK: "FormationViolation",
    MESSAGE_TYPE_NOT_SUPPORTED: "FormationViolation",
}
_V201_SPELLING: dict[str, str] = {}  # OCPP-J 2.0.1 writes every code as named here


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
