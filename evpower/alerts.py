"""Alerts to operators (e-mail and Telegram), rate limited per subject so that one flapping
station cannot flood anyone. Callers use:

    operator_alert(key="station-offline:12", subject="Station CP-1 offline", text="...")

- `key` names what the alert is about; while an alert with the same key went out less than
  ALERT_MIN_INTERVAL_SECONDS ago, another is dropped. The record is a cache key claimed
  with `cache.add` (atomic in Redis, shared by every process), so two workers racing on
  the same key send one alert.
- Channels: e-mail to settings.ALERT_EMAILS through Django's mail API (EMAIL_* settings),
  and Telegram Bot API `sendMessage` to settings.TELEGRAM["chat_id"]. Each is tried on its
  own; the alert counts as sent when one of them took it. When none did, the key is
  released so the next alert about it can try again.
- Nothing here raises: an alert must never break its caller.

Two ways to call:
- `operator_alert(...)`: sends now (two attempts per channel), returns whether it went out.
  For Celery tasks and commands, outside transactions.
- `operator_alert_after_commit(...)`: from inside a service's transaction (the OCPP hot
  path, payments): after the commit the key is claimed and `evpower.alert_send` is queued,
  which retries each channel with exponential backoff.
"""

from __future__ import annotations

import logging
import os
import smtplib
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import httpx
from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

log = logging.getLogger("evpower.alerts")

SUBJECT_PREFIX = "[EvPower] "
TIMEOUT = 10.0
TELEGRAM_MAX_CHARS = 4096
SYNC_ATTEMPTS = 2  # operator_alert: the caller waits
TASK_ATTEMPTS = 5  # evpower.alert_send: a worker waits (1, 2, 4, 8 s between tries)
RETRY_WAIT = wait_exponential(multiplier=1, min=1, max=30)
RETRY_AFTER_CAP = 60.0
RATE_LIMIT_PREFIX = "alert:"  # cache keys of the rate limit
BACKGROUND_BACKLOG = 200  # alerts waiting to be queued; beyond, dropped (and logged)


class AlertNotSent(Exception):
    """The channel refused it for good (a wrong token, chat or address)."""


class TryAgain(Exception):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


# -- the interface ----------------------------------------------------------------------


def alerts_configured() -> bool:
    return bool(settings.ALERT_EMAILS) or _telegram_configured()


def operator_alert(*, key: str, subject: str, text: str) -> bool:
    """Send unless an alert with the same `key` went out within ALERT_MIN_INTERVAL_SECONDS.
    Returns whether it was sent. Never raises (an alert must not break its caller)."""
    try:
        if not alerts_configured():
            log.warning("operator alert not sent (no channel configured): %s", subject)
            return False
        if not _claim(key):
            log.info("operator alert %s suppressed (rate limit): %s", key, subject)
            return False
        sent = deliver(subject, text, attempts=SYNC_ATTEMPTS)
        if not sent:
            _release(key)
        return sent
    except Exception:
        log.exception("operator alert %s failed", key)
        return False


def operator_alert_after_commit(*, key: str, subject: str, text: str) -> None:
    """Queue the alert once the current transaction commits (at once outside one). The
    claim and the queueing (Redis: the cache and Celery's broker) run on a thread of their
    own, so a caller on a charger's path never waits for Redis (a Redis outage must not
    hold up the answer to a message that was parked)."""
    try:
        transaction.on_commit(partial(_queue_in_background, key, subject, text), robust=True)
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


def _queue_in_background(key: str, subject: str, text: str) -> None:
    if not _room.acquire(blocking=False):
        log.error(
            "operator alert %s dropped: %d alerts already waiting to be queued",
            key,
            BACKGROUND_BACKLOG,
        )
        return

    def run() -> None:
        try:
            _queue(key, subject, text)
        finally:
            _room.release()

    _background().submit(run)


def background_flushed(timeout: float = 60) -> None:
    """Until the alerts queued so far have been handed over (one worker: in order)."""
    _background().submit(lambda: None).result(timeout)


def _queue(key: str, subject: str, text: str) -> None:
    try:
        if not alerts_configured() or not _claim(key):
            return
    except Exception:
        log.exception("operator alert %s failed", key)
        return
    try:
        alert_send.delay(subject, text)
    except Exception:
        _release(key)
        log.exception("operator alert %s could not be queued: %s", key, subject)


@shared_task(name="evpower.alert_send")
def alert_send(subject: str, text: str) -> bool:
    """Deliver an alert already cleared by the rate limit, retrying each channel."""
    return deliver(subject, text, attempts=TASK_ATTEMPTS)


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


# -- channels ---------------------------------------------------------------------------


def _telegram_configured() -> bool:
    return bool(settings.TELEGRAM.get("bot_token") and settings.TELEGRAM.get("chat_id"))


def _channels() -> list[tuple[str, object]]:
    channels = []
    if settings.ALERT_EMAILS:
        channels.append(("email", send_email))
    if _telegram_configured():
        channels.append(("telegram", send_telegram))
    return channels


def _wait(state) -> float:
    backoff = RETRY_WAIT(state)
    exc = state.outcome.exception() if state.outcome else None
    asked = getattr(exc, "retry_after", None)
    return max(backoff, min(asked, RETRY_AFTER_CAP)) if asked else backoff


def deliver(subject: str, text: str, *, attempts: int) -> bool:
    """Every configured channel, each retried on temporary failures. True if any took it."""
    delivered = False
    for name, sender in _channels():
        try:
            for attempt in Retrying(
                stop=stop_after_attempt(attempts),
                wait=_wait,
                retry=retry_if_exception_type(TryAgain),
                reraise=True,
            ):
                with attempt:
                    sender(subject, text)
            delivered = True
        except (TryAgain, AlertNotSent) as exc:
            log.error("operator alert via %s not delivered: %s (%s)", name, exc, subject)
        except Exception:
            log.exception("operator alert via %s failed (%s)", name, subject)
    return delivered


def send_email(subject: str, text: str) -> None:
    message = EmailMessage(
        subject=(SUBJECT_PREFIX + subject)[:250].replace("\n", " "),
        body=text,
        to=list(settings.ALERT_EMAILS),
        connection=get_connection(timeout=TIMEOUT),
    )
    try:
        message.send(fail_silently=False)
    except (
        smtplib.SMTPRecipientsRefused,
        smtplib.SMTPSenderRefused,
        smtplib.SMTPAuthenticationError,
    ) as exc:
        raise AlertNotSent(f"e-mail refused: {exc}") from None
    except smtplib.SMTPResponseException as exc:
        if exc.smtp_code >= 500:
            raise AlertNotSent(f"e-mail refused: {exc.smtp_code}") from None
        raise TryAgain(f"e-mail: {exc.smtp_code}") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise TryAgain(f"e-mail: {type(exc).__name__}: {exc}") from None


def send_telegram(subject: str, text: str) -> None:
    telegram = settings.TELEGRAM
    url = f"{telegram['api_url'].rstrip('/')}/bot{telegram['bot_token']}/sendMessage"
    payload = {
        "chat_id": telegram["chat_id"],
        "text": f"{subject}\n\n{text}"[:TELEGRAM_MAX_CHARS],
        "disable_web_page_preview": True,
    }
    try:
        response = httpx.post(url, json=payload, timeout=TIMEOUT)
    except httpx.HTTPError as exc:  # its text would show the URL, which holds the token
        raise TryAgain(f"telegram unreachable: {type(exc).__name__}") from None
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code == 200 and body.get("ok"):
        return
    description = str(body.get("description", ""))[:200]
    if response.status_code == 429 or response.status_code >= 500:
        retry_after = (body.get("parameters") or {}).get("retry_after")
        raise TryAgain(
            f"telegram {response.status_code}: {description}",
            float(retry_after) if isinstance(retry_after, int | float) else None,
        )
    raise AlertNotSent(f"telegram {response.status_code}: {description}")


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
        )
    except Exception:
        log.exception("reconciliation alert failed")
