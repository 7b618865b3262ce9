"""Helpers for tests that log a driver in: real OTP logins through the in-memory SMS
backend (the root conftest's `sms_outbox`), and the API's error envelope."""

from __future__ import annotations

import re
from datetime import timedelta

from django.db.models import F
from rest_framework.test import APIClient

from accounts.models import OtpCode
from accounts.sms.backends import MemoryBackend

PHONE_A = "+996700000001"
PHONE_B = "+996700000002"


def last_code(phone: str) -> str:
    text = next(m.text for m in reversed(MemoryBackend.outbox) if m.phone == phone)
    return re.search(r"\b(\d{6})\b", text).group(1)


def age_codes(phone: str, *, seconds: int) -> None:
    """Move a phone's codes into the past (instead of sleeping through the limits)."""
    OtpCode.objects.filter(phone=phone).update(
        created_at=F("created_at") - timedelta(seconds=seconds),
        expires_at=F("expires_at") - timedelta(seconds=seconds),
    )


def request_code(api: APIClient, phone: str) -> str:
    response = api.post("/api/v1/auth/otp/request", {"phone": phone}, format="json")
    assert response.status_code == 202, response.content
    return last_code(phone)


def login(api: APIClient | None = None, phone: str = PHONE_A) -> dict:
    """The whole OTP flow; returns the verify answer (access, refresh, client, created)."""
    api = api or APIClient()
    age_codes(phone, seconds=120)  # past the resend limit of an earlier login
    code = request_code(api, phone)
    response = api.post("/api/v1/auth/otp/verify", {"phone": phone, "code": code}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def authed(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
    return body["error"]
