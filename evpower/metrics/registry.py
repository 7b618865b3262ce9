"""Our counters and histograms, in prometheus_client's default registry. Counted in the
process where the event happens (cheap: no I/O); each web process exports its own."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ocpp.v16.enums import Action as Action16
from ocpp.v201.enums import Action as Action201
from prometheus_client import Counter, Histogram

# a charger can send any string as an action: only the specs' (1.6 and 2.0.1) become labels
OCPP_ACTIONS = frozenset(action.value for action in (*Action16, *Action201))

OCPP_MESSAGES = Counter(
    "evpower_ocpp_messages",
    "Frames received from chargers, by action and how we answered "
    "(accepted, call_error; reply: an answer to one of our calls).",
    ["action", "outcome"],
)
OCPP_HANDLING_SECONDS = Histogram(
    "evpower_ocpp_handling_seconds",
    "Seconds from a charger's frame received to our reply sent.",
    ["action"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
OCPP_COMMANDS = Counter(
    "evpower_ocpp_commands",
    "Commands sent to chargers, by action and result "
    "(accepted, rejected, call_error, timeout, offline, busy, invalid).",
    ["action", "result"],
)
PAYMENT_AUTH_FAILURES = Counter(
    "evpower_payment_auth_failures",
    "Provider callbacks refused for a bad signature or credentials, by provider.",
    ["provider"],
)
RATE_LIMIT_REJECTIONS = Counter(
    "evpower_rate_limit_rejections",
    "Requests refused for a rate limit, by scope (API throttle scopes; ws_connections and "
    "ws_attempts for WebSocket handshakes).",
    ["scope"],
)

LIVE_NEWS_DROPPED = Counter(
    "evpower_live_news_dropped",
    "Live-view news (statuses, session figures) not delivered to "
    "the apps, by reason: backlog (too much queued), timeout or error (the channel layer "
    "failed), unavailable (dropped while it was failing).",
    ["reason"],
)

BATCH_ROW_FAILURES = Counter(
    "evpower_batch_row_failures",
    "Rows a batch job (expiry, sweeps, notices) could not "
    "handle and went past, by job (evpower/batch.py).",
    ["job"],
)


OUTBOUND_CALLS = Counter(
    "evpower_outbound_calls",
    "Calls to services outside the platform, by target (a payment provider, fcm, webpush, "
    "sms, email, telegram, webhook) and result (ok; rejected: the service refused it; "
    "failed: an error, a timeout, a 5xx; circuit_open: not tried, its breaker is open).",
    ["target", "result"],
)
ALERTS = Counter(
    "evpower_alerts",
    "Operator alerts by severity and outcome (sent; failed: every channel failed; "
    "not_routed: no channel for the severity; suppressed: the same key alerted recently).",
    ["severity", "outcome"],
)
HANDSHAKE_REFUSALS = Counter(
    "evpower_ocpp_handshake_refusals",
    "Charger connections refused before the WebSocket upgrade, by reason.",
    ["reason"],
)


def action_label(action: str) -> str:
    """An OCPP action as a label: one of the known actions, or \"unknown\" (bounded series)."""
    return action if action in OCPP_ACTIONS else "unknown"


def ocpp_command_observed(*, action: str, result: str) -> None:
    OCPP_COMMANDS.labels(action_label(action), result).inc()


def payment_auth_failure_observed(*, provider: str) -> None:
    PAYMENT_AUTH_FAILURES.labels(provider).inc()


def rate_limit_rejection_observed(*, scope: str) -> None:
    RATE_LIMIT_REJECTIONS.labels(scope).inc()


def live_news_dropped(*, reason: str) -> None:
    LIVE_NEWS_DROPPED.labels(reason).inc()


def batch_row_failed(*, job: str) -> None:
    BATCH_ROW_FAILURES.labels(job).inc()


def outbound_call_observed(*, target: str, result: str) -> None:
    OUTBOUND_CALLS.labels(target[:20], result).inc()


@contextmanager
def outbound_call(target: str, *, rejected: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
    """Count the call in the block by its result: ok when it ends, rejected when it raises
    one of `rejected` (the service said no), failed for any other exception."""
    try:
        yield
    except rejected:
        outbound_call_observed(target=target, result="rejected")
        raise
    except Exception:
        outbound_call_observed(target=target, result="failed")
        raise
    outbound_call_observed(target=target, result="ok")


def alert_observed(*, severity: str, outcome: str) -> None:
    ALERTS.labels(severity, outcome).inc()


def handshake_refusal_observed(*, reason: str) -> None:
    HANDSHAKE_REFUSALS.labels(reason).inc()
