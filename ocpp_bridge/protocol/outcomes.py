"""How a charger's answer to one of our calls reads: a success or a refusal.

1.6 answers carry a `status` whose refusal values differ per action; anything not in
the refusal set (Accepted, Scheduled, Unlocked, RebootRequired...) counts as done.
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
    }
)


def is_refusal(payload: dict) -> bool:
    return payload.get("status") in REFUSALS
