"""How a charger's answer to one of our calls reads: a success or a refusal.

1.6 answers carry a `status` whose refusal values differ per action; anything not in
the refusal set (Accepted, Scheduled, Unlocked, RebootRequired...) counts as done. 2.0.1's
SetVariables answers per variable: it is done only when every variable was taken.
"""

from __future__ import annotations

REFUSALS = frozenset(
    {
        "Rejected",
        "NotSupported",
        "Failed",
        "UnlockFailed",
        "NotImplemented",
        "Faulted",
        "Occupied",
        "Unavailable",
        "UnknownMessageId",
        "UnknownVendorId",
        "VersionMismatch",
        "NotFound",
        # 2.0.1
        "UnknownComponent",
        "UnknownVariable",
        "NotSupportedAttributeType",
    }
)


def is_refusal(payload: dict) -> bool:
    if "setVariableResult" in payload:
        taken = ("Accepted", "RebootRequired")  # set; some take effect after a reboot
        return any(
            item.get("attributeStatus") not in taken for item in payload["setVariableResult"]
        )
    return payload.get("status") in REFUSALS
