"""Where operator alerts go (evpower/alerts.py routes them here by severity):

- `email`: Django's mail API to ALERT_EMAILS, through the SMTP server the EMAIL_* settings
  name — with a login (EMAIL_HOST_USER / EMAIL_HOST_PASSWORD) and STARTTLS or implicit TLS
  (EMAIL_USE_TLS / EMAIL_USE_SSL) where the server asks for them.
- `telegram`: the Bot API's sendMessage to TELEGRAM["chat_id"].
- `webhook`: a JSON POST to ALERT_WEBHOOK["url"], signed so the receiver can tell it is
  ours: `X-EvPower-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">` with
  ALERT_WEBHOOK["secret"], and the timestamp in `X-EvPower-Timestamp` (a receiver refuses
  old timestamps, so a captured request cannot be replayed later).

A sender raises TryAgain for what may pass (a timeout, a 5xx, a 429) and AlertNotSent for
what will not (a refused login, an unknown chat); anything else is a bug, logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import time
from dataclasses import dataclass

import httpx
from django.conf import settings
from django.core.mail import EmailMessage, get_connection

from evpower.metrics.registry import outbound_call

SUBJECT_PREFIX = "[EvPower] "
TIMEOUT = 10.0
TELEGRAM_MAX_CHARS = 4096


class AlertNotSent(Exception):
    """The channel refused it for good (a wrong token, chat, address or login)."""


class TryAgain(Exception):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Notice:
    """One alert as the channels see it."""

    subject: str
    text: str
    severity: str = "high"
    key: str = ""
    source: str = "platform"


def email_configured() -> bool:
    return bool(settings.ALERT_EMAILS)


def telegram_configured() -> bool:
    return bool(settings.TELEGRAM.get("bot_token") and settings.TELEGRAM.get("chat_id"))


def webhook_configured() -> bool:
    return bool(settings.ALERT_WEBHOOK.get("url") and settings.ALERT_WEBHOOK.get("secret"))


def send_email(notice: Notice) -> None:
    with outbound_call("email", rejected=(AlertNotSent,)):
        _send_email(notice)


def _send_email(notice: Notice) -> None:
    tag = "[CRITICAL] " if notice.severity == "critical" else ""
    message = EmailMessage(
        subject=(SUBJECT_PREFIX + tag + notice.subject)[:250].replace("\n", " "),
        body=notice.text,
        to=list(settings.ALERT_EMAILS),
        connection=get_connection(timeout=TIMEOUT),
    )
    try:
        message.send(fail_silently=False)
    except (
        smtplib.SMTPRecipientsRefused,
        smtplib.SMTPSenderRefused,
        smtplib.SMTPAuthenticationError,
        smtplib.SMTPNotSupportedError,  # e.g. the server offers no login, or no STARTTLS
    ) as exc:
        raise AlertNotSent(f"e-mail refused: {type(exc).__name__}") from None
    except smtplib.SMTPResponseException as exc:
        if exc.smtp_code >= 500:
            raise AlertNotSent(f"e-mail refused: {exc.smtp_code}") from None
        raise TryAgain(f"e-mail: {exc.smtp_code}") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise TryAgain(f"e-mail: {type(exc).__name__}: {exc}") from None


def send_telegram(notice: Notice) -> None:
    with outbound_call("telegram", rejected=(AlertNotSent,)):
        _send_telegram(notice)


def _send_telegram(notice: Notice) -> None:
    telegram = settings.TELEGRAM
    url = f"{telegram['api_url'].rstrip('/')}/bot{telegram['bot_token']}/sendMessage"
    payload = {
        "chat_id": telegram["chat_id"],
        "text": f"{notice.subject}\n\n{notice.text}"[:TELEGRAM_MAX_CHARS],
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


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def send_webhook(notice: Notice) -> None:
    with outbound_call("webhook", rejected=(AlertNotSent,)):
        _send_webhook(notice)


def _send_webhook(notice: Notice) -> None:
    hook = settings.ALERT_WEBHOOK
    body = json.dumps(
        {
            "severity": notice.severity,
            "subject": notice.subject,
            "text": notice.text,
            "key": notice.key,
            "source": notice.source,
        },
        ensure_ascii=False,
    ).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-EvPower-Timestamp": timestamp,
        "X-EvPower-Signature": webhook_signature(hook["secret"], timestamp, body),
    }
    try:
        response = httpx.post(hook["url"], content=body, headers=headers, timeout=TIMEOUT)
    except httpx.HTTPError as exc:
        raise TryAgain(f"webhook unreachable: {type(exc).__name__}") from None
    if response.is_success:
        return
    if response.status_code in (408, 429) or response.status_code >= 500:
        raise TryAgain(f"webhook {response.status_code}")
    raise AlertNotSent(f"webhook {response.status_code}")


# name -> (configured?, sender)
CHANNELS = {
    "email": (email_configured, send_email),
    "telegram": (telegram_configured, send_telegram),
    "webhook": (webhook_configured, send_webhook),
}
