"""Counting the chargers' frames into the core's metrics (evpower/metrics/registry.py)."""

from __future__ import annotations

from evpower.metrics.registry import OCPP_HANDLING_SECONDS, OCPP_MESSAGES, action_label

from .protocol.frames import Call, CallError, CallResult, Frame


def ocpp_message_observed(*, frame: Frame | None, reply: str | None, seconds: float) -> None:
    """One frame from a charger handled; `frame` None when it could not be parsed."""
    if isinstance(frame, CallResult | CallError):
        OCPP_MESSAGES.labels(type(frame).__name__, "reply").inc()
        return
    action = action_label(frame.action) if isinstance(frame, Call) else "invalid"
    outcome = "accepted" if reply is not None and reply.startswith("[3,") else "call_error"
    OCPP_MESSAGES.labels(action, outcome).inc()
    if reply is not None:
        OCPP_HANDLING_SECONDS.labels(action).observe(seconds)
