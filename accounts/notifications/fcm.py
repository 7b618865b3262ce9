"""Firebase Cloud Messaging, HTTP v1 API.

POST {FCM["url"]}/v1/projects/{project_id}/messages:send with an OAuth2 access token of the
service account in FCM["credentials_file"]. The token comes from google-auth (a JWT
assertion signed with the account's key, exchanged at FCM["token_url"]), is cached per
process and refreshed before it expires, or at once when FCM answers 401.

Errors (https://firebase.google.com/docs/reference/fcm/rest/v1/ErrorCode):
- UNREGISTERED, SENDER_ID_MISMATCH, and INVALID_ARGUMENT about the registration token →
  `TokenGone` (the device is deleted);
- 429 (QUOTA_EXCEEDED), 5xx (UNAVAILABLE, INTERNAL), network errors → `TransientPushError`;
- anything else → `PushError` (logged; the device is kept).
"""

from __future__ import annotations

import threading

import httpx
from django.conf import settings
from google.auth import exceptions as auth_errors
from google.auth.transport.requests import Request
from google.oauth2 import service_account

from evpower.metrics.registry import outbound_call

from . import PushError, TokenGone, TransientPushError, retry_after_seconds
from . import fcm_configured as configured  # noqa: F401 - the sender's own check

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
TTL_SECONDS = 12 * 3600
GONE_CODES = {"UNREGISTERED", "SENDER_ID_MISMATCH"}

_lock = threading.Lock()
_credentials: dict[tuple[str, str], service_account.Credentials] = {}


def _account() -> service_account.Credentials:
    path, token_url = settings.FCM["credentials_file"], settings.FCM.get("token_url") or ""
    key = (path, token_url)
    if key not in _credentials:
        credentials = service_account.Credentials.from_service_account_file(path, scopes=[SCOPE])
        if token_url:
            credentials = credentials.with_token_uri(token_url)
        _credentials[key] = credentials
    return _credentials[key]


def access_token(*, force: bool = False) -> str:
    """A valid access token (refreshed when expired, expiring or `force`d)."""
    with _lock:
        credentials = _account()
        if force or not credentials.valid:
            try:
                credentials.refresh(Request())
            except auth_errors.TransportError as exc:
                raise TransientPushError(f"FCM token endpoint unreachable: {exc}") from None
            except auth_errors.RefreshError as exc:
                if exc.retryable:
                    raise TransientPushError(f"FCM token refresh failed: {exc}") from None
                raise PushError(f"FCM token refused (check the service account): {exc}") from None
        return credentials.token


def project_id() -> str:
    return settings.FCM.get("project_id") or _account().project_id or ""


def message(token: str, title: str, body: str, data: dict[str, str]) -> dict:
    return {
        "message": {
            "token": token,
            "notification": {"title": title, "body": body},
            "data": {str(k): str(v) for k, v in data.items()},
            "android": {"priority": "high", "ttl": f"{TTL_SECONDS}s"},
            "apns": {"headers": {"apns-priority": "10", "apns-expiration": "0"}},
        }
    }


def send(token: str, title: str, body: str, data: dict[str, str]) -> str:
    """Send one push; returns FCM's message name, or raises (see the module docstring)."""
    with outbound_call("fcm", rejected=(TokenGone,)):
        return _send(token, title, body, data)


def _send(token: str, title: str, body: str, data: dict[str, str]) -> str:
    url = f"{settings.FCM['url'].rstrip('/')}/v1/projects/{project_id()}/messages:send"
    payload = message(token, title, body, data)
    response = _post(url, payload, access_token())
    if response.status_code == 401:  # revoked or expired early: one fresh token, once
        response = _post(url, payload, access_token(force=True))
    if response.status_code == 200:
        return response.json().get("name", "")
    raise _error(response)


def _post(url: str, payload: dict, token: str) -> httpx.Response:
    try:
        return httpx.post(
            url, json=payload, timeout=TIMEOUT, headers={"Authorization": f"Bearer {token}"}
        )
    except httpx.HTTPError as exc:
        raise TransientPushError(f"FCM unreachable: {type(exc).__name__}: {exc}") from None


def _error(response: httpx.Response) -> PushError:
    status, message_text, code = response.status_code, "", ""
    try:
        error = response.json().get("error", {})
        message_text, code = error.get("message", ""), error.get("status", "")
        for detail in error.get("details", []):
            code = detail.get("errorCode") or code
    except ValueError:
        pass
    text = f"FCM {status} {code}: {message_text}"[:300]
    if code in GONE_CODES:  # not any 404: a wrong project id must not delete every device
        return TokenGone(text)
    if code == "INVALID_ARGUMENT" and "token" in message_text.lower():
        return TokenGone(text)
    if status == 429 or status >= 500:
        return TransientPushError(text, retry_after_seconds(response.headers.get("Retry-After")))
    return PushError(text)
