"""Alerts to operators, by severity, rate limited per subject so that one flapping station
cannot flood anyone, and kept in the alert history (`evpower.models.Alert`, in the admin).
Callers use:

    operator_alert(key="station-offline:12", subject="Station CP-1 offline", text="...",
                   severity="high")

- `severity` (critical, high, medium, low) picks the channels: ALERT_ROUTES names them per
  severity (by default every configured channel for critical, high and medium; low alerts
  are only kept in the history). Channels: e-mail, Telegram and a signed webhook
  (evpower/alert_channels.py). Each is tried on its own; the alert counts as sent when
  one of them took it.
- `key` names what the alert is about; while an alert with the same key went out less than
  ALERT_MIN_INTERVAL_SECONDS ago, another is dropped (counted, not kept). The record is a
  cache key claimed with `cache.add` (atomic in Redis, shared by every process), so two
  workers racing on the same key send one alert. When no channel took an alert, the key
  is released so the next alert about it can try again.
- Nothing here raises: an alert must never break its caller (nor does a history that
  cannot be written: the database may be what the alert is about).

Two ways to call:
- `operator_alert(...)`: sends now (two attempts per channel), returns whether it went out.
  For Celery tasks, commands and the Alertmanager receiver, outside transactions.
- `operator_alert_after_commit(...)`: from inside a service's transaction (the OCPP hot
  path, payments): after the commit the key is claimed and `evpower.alert_send` is queued,
  which retries each channel with exponential backoff.
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from evpower.alert_channels import CHANNELS, AlertNotSent, Notice, TryAgain
from evpower.metrics.registry import alert_observed

log = logging.getLogger("evpower.alerts")

SYNC_ATTEMPTS = 2  # operator_alert: the caller waits
TASK_ATTEMPTS = 5  # evpower.alert_send: a worker waits (1, 2, 4, 8 s between tries)
RETRY_WAIT = wait_exponential(multiplier=1, min=1, max=30)
RETRY_AFTER_CAP = 60.0
RATE_LIMIT_PREFIX = "alert:"  # cache keys of the rate limit
BACKGROUND_BACKLOG = 200  # alerts waiting to be queued; beyond, dropped (and logged)
SEVERITIES = ("critical", "high", "medium", "low")
DEFAULT_SEVERITY = "high"


# -- the interface ----------------------------------------------------------------------


def routed_channels(severity: str) -> list[str]:
    """The configured channels alerts of `severity` go to."""
    route = settings.ALERT_ROUTES.get(severity, settings.ALERT_ROUTES[DEFAULT_SEVERITY])
    return [name for name in route if name in CHANNELS and CHANNELS[name][0]()]


def alerts_configured(severity: str = DEFAULT_SEVERITY) -> bool:
    return bool(routed_channels(severity))


def _notice(*, key: str, subject: str, text: str, severity: str, source: str) -> Notice:
    """The alert as the channels see it; an unknown severity counts as the default."""
    severity = severity if severity in SEVERITIES else DEFAULT_SEVERITY
    return Notice(subject=subject, text=text, severity=severity, key=key, source=source)


def operator_alert(
    *,
    key: str,
    subject: str,
    text: str,
    severity: str = DEFAULT_SEVERITY,
    source: str = "platform",
) -> bool:
    """Send unless an alert with the same `key` went out within ALERT_MIN_INTERVAL_SECONDS.
    Returns whether it was sent. Never raises (an alert must not break its caller)."""
    outcome = operator_alert_outcome(
        key=key, subject=subject, text=text, severity=severity, source=source
    )
    return outcome == "sent"


def operator_alert_outcome(
    *,
    key: str,
    subject: str,
    text: str,
    severity: str = DEFAULT_SEVERITY,
    source: str = "platform",
) -> str:
    """operator_alert, telling what happened: sent, failed (every channel), not_routed (no
    channel for its severity), suppressed (the rate limit) or error (a bug, logged)."""
    notice = _notice(key=key, subject=subject, text=text, severity=severity, source=source)
    try:
        if not _claim(key):
            log.info("operator alert %s suppressed (rate limit): %s", key, subject)
            alert_observed(severity=notice.severity, outcome="suppressed")
            return "suppressed"
        outcome = _deliver(notice, attempts=SYNC_ATTEMPTS)
        if outcome == "failed":  # the next alert about it may find a channel working
            _release(key)
        return outcome
    except Exception:
        log.exception("operator alert %s failed", key)
        return "error"


def operator_alert_after_commit(
    *,
    key: str,
    subject: str,
    text: str,
    severity: str = DEFAULT_SEVERITY,
    source: str = "platform",
) -> None:
    """Queue the alert once the current transaction commits (at once outside one). The
    claim and the queueing (Redis: the cache and Celery's broker) run on a thread of their
    own, so a caller on a charger's path never waits for Redis (a Redis outage must not
    hold up the answer to a message that was parked)."""
    notice = _notice(key=key, subject=subject, text=text, severity=severity, source=source)
    try:
        transaction.on_commit(partial(_queue_in_background, notice), robust=True)
    except Exception:
        log.exception("operator alert %s could not be scheduled", key)


_room = threading.BoundedSemaphore(BACKGROUND_BACKLOG)
_executor: tuple[int, ThreadPoolExecutor] | None = None
_executor_lock = threading.Lock()


def _background() -> ThreadPoolExecutor:
    """One worker thread per process, made again after a fork (Celery's prefork workers
    inherit the parent's executor object but not its thread)."""
    global _executor
    with _executor_lock:
        if _executor is None or _executor[0] != os.getpid():
            _executor = (
                os.getpid(),
                ThreadPoolExecutor(max_workers=1, thread_name_prefix="alerts"),
            )
        return _executor[1]


def _queue_in_background(notice: Notice) -> None:
    if not _room.acquire(blocking=False):
        log.error(
            "operator alert %s dropped: %d alerts already waiting to be queued",
            notice.key,
            BACKGROUND_BACKLOG,
        )
        return

    def run() -> None:
        try:
            _queue(notice)
        finally:
            _room.release()

    _background().submit(run)


def background_flushed(timeout: float = 60) -> None:
    """Until the alerts queued so far have been handed over (one worker: in order)."""
    _background().submit(lambda: None).result(timeout)


def _queue(notice: Notice) -> None:
    try:
        if not _claim(notice.key):
            alert_observed(severity=notice.severity, outcome="suppressed")
            return
    except Exception:
        log.exception("operator alert %s failed", notice.key)
        return
    try:
        alert_send.delay(
            notice.subject,
            notice.text,
            severity=notice.severity,
            key=notice.key,
            source=notice.source,
        )
    except Exception:
        _release(notice.key)
        log.exception("operator alert %s could not be queued: %s", notice.key, notice.subject)


@shared_task(name="evpower.alert_send")
def alert_send(
    subject: str,
    text: str,
    severity: str = DEFAULT_SEVERITY,
    key: str = "",
    source: str = "platform",
) -> bool:
    """Deliver an alert already cleared by the rate limit, retrying each channel."""
    notice = _notice(key=key, subject=subject, text=text, severity=severity, source=source)
    return deliver(notice, attempts=TASK_ATTEMPTS)


# -- rate limit -------------------------------------------------------------------------


def _cache_key(key: str) -> str:
    return f"{RATE_LIMIT_PREFIX}{key}"[:200]


def _claim(key: str) -> bool:
    interval = int(settings.ALERT_MIN_INTERVAL_SECONDS)
    if interval <= 0:
        return True
    try:
        return bool(cache.add(_cache_key(key), 1, interval))
    except Exception:  # no cache, no rate limit: an alert about an outage still goes out
        log.exception("alert rate limit unavailable; sending %s", key)
        return True


def _release(key: str) -> None:
    try:
        cache.delete(_cache_key(key))
    except Exception:
        log.exception("alert rate limit: could not release %s", key)


# -- delivery ---------------------------------------------------------------------------


def _wait(state) -> float:
    backoff = RETRY_WAIT(state)
    exc = state.outcome.exception() if state.outcome else None
    asked = getattr(exc, "retry_after", None)
    return max(backoff, min(asked, RETRY_AFTER_CAP)) if asked else backoff


def deliver(notice: Notice, *, attempts: int) -> bool:
    """True if any channel took it (see _deliver)."""
    return _deliver(notice, attempts=attempts) == "sent"


def _deliver(notice: Notice, *, attempts: int) -> str:
    """Every channel routed for its severity, each retried on temporary failures; the
    result kept in the alert history. Returns the outcome: sent (a channel took it),
    failed (every channel failed) or not_routed (no channel for its severity)."""
    results: dict[str, str] = {}
    for name in routed_channels(notice.severity):
        sender = CHANNELS[name][1]
        try:
            for attempt in Retrying(
                stop=stop_after_attempt(attempts),
                wait=_wait,
                retry=retry_if_exception_type(TryAgain),
                reraise=True,
            ):
                with attempt:
                    sender(notice)
            results[name] = "sent"
        except (TryAgain, AlertNotSent) as exc:
            results[name] = str(exc)[:200]
            log.error("operator alert via %s not delivered: %s (%s)", name, exc, notice.subject)
        except Exception as exc:
            results[name] = f"error: {type(exc).__name__}"
            log.exception("operator alert via %s failed (%s)", name, notice.subject)
    if not results:
        log.warning(
            "operator alert not sent (no channel for %s): %s", notice.severity, notice.subject
        )
        outcome = "not_routed"
    else:
        outcome = "sent" if "sent" in results.values() else "failed"
    alert_observed(severity=notice.severity, outcome=outcome)
    _remember(notice, outcome, results)
    return outcome


def _remember(notice: Notice, outcome: str, results: dict[str, str]) -> None:
    from evpower.models import Alert

    try:
        Alert.objects.create(
            key=notice.key[:200],
            severity=notice.severity,
            source=notice.source,
            subject=notice.subject[:250],
            text=notice.text,
            outcome=outcome,
            channels=results,
        )
    except Exception:  # the database may be what the alert is about
        log.exception("alert history not written: %s", notice.subject)


# -- what the services alert about (called from their transactions) ---------------------


def alert_reconciliation_issues(provider: str, day, issues: list) -> None:
    """payments.reconciliation: new discrepancies found (one alert per provider and day
    per interval)."""
    try:
        if not issues:
            return
        lines = [
            f"- {issue.kind}: payment {issue.payment_id or '-'} "
            f"{issue.provider_transaction_id or ''} {issue.detail}".rstrip()
            for issue in issues[:20]
        ]
        if len(issues) > 20:
            lines.append(f"... and {len(issues) - 20} more")
        operator_alert_after_commit(
            key=f"reconciliation:{provider}:{day}",
            subject=f"Reconciliation {provider} {day}: {len(issues)} new issue(s)",
            text="\n".join(lines) + "\nSee Reconciliation issues in the admin.",
            severity="high",  # money the books and the provider disagree on
        )
    except Exception:
        log.exception("reconciliation alert failed")
