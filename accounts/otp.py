"""Login by one-time code: request (send a code) and verify (exchange it for tokens).

Rules (docs/product.md §3): 6 digits from `secrets`, valid OTP_TTL_SECONDS, OTP_MAX_ATTEMPTS wrong
guesses kill it, one code per phone per OTP_RESEND_SECONDS, at most OTP_DAILY_LIMIT_PER_PHONE /
OTP_DAILY_LIMIT_PER_IP codes in any 24 hours. Only an HMAC of the code is stored. Sign-up and
login are the same flow: the first verified code creates the client.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from rest_framework import status

from .errors import ApiError, RateLimited
from .models import Client, OtpCode
from .sms import SmsDeliveryError, send_sms
from .tokens import TokenPair, session_start

DAY = timedelta(hours=24)
logger = logging.getLogger("accounts")

SMS_TEXT = {
    "ru": "EvPower: ваш код {code}. Никому его не сообщайте.",
    "ky": "EvPower: сиздин кодуңуз {code}. Аны эч кимге айтпаңыз.",
    "en": "EvPower: your code is {code}. Do not share it.",
}


@dataclass(frozen=True)
class Login:
    client: Client
    created: bool
    tokens: TokenPair


def code_hash(*, phone: str, code: str) -> str:
    # Keyed by SECRET_KEY and bound to the phone: a leaked table cannot be brute-forced
    # offline without the key, and a hash cannot be replayed for another number.
    return hmac.new(
        settings.SECRET_KEY.encode(), f"{phone}:{code}".encode(), hashlib.sha256
    ).hexdigest()


def otp_request(*, phone: str, ip: str | None, language: str = "") -> None:
    """Send a fresh code to `phone`, in the client's language, else `language` (the app's),
    else CLIENT_DEFAULT_LANGUAGE. The answer never reveals whether the phone is known.
    A blocked client's number gets no code and no SMS (it could not log in with one, and
    an SMS costs money and pesters whoever holds the number); the answer is the same."""
    now = timezone.now()
    if Client.objects.filter(phone=phone, status=Client.Status.BLOCKED).exists():
        logger.info("OTP request for a blocked client's number: no SMS sent")
        return
    with transaction.atomic():
        # Two simultaneous requests must not both pass the limits (always phone, then IP).
        _lock(f"otp-phone:{phone}")
        if ip:
            _lock(f"otp-ip:{ip}")
        _check_limits(phone=phone, ip=ip, now=now)
        OtpCode.objects.filter(phone=phone, closed_at__isnull=True).update(
            closed_at=now, close_reason=OtpCode.CloseReason.SUPERSEDED
        )
        code = f"{secrets.randbelow(10**6):06d}"
        otp = OtpCode.objects.create(
            phone=phone,
            code_hash=code_hash(phone=phone, code=code),
            ip=ip,
            created_at=now,
            expires_at=now + timedelta(seconds=settings.OTP_TTL_SECONDS),
        )
    # Delivered after commit so the limits count this code even if the gateway hangs.
    chosen = Client.objects.filter(phone=phone).values_list("language", flat=True).first()
    try:
        template = SMS_TEXT.get(
            chosen or language or settings.CLIENT_DEFAULT_LANGUAGE, SMS_TEXT["ru"]
        )
        send_sms(phone=phone, text=template.format(code=code))
    except SmsDeliveryError as exc:
        OtpCode.objects.filter(pk=otp.pk).update(
            closed_at=timezone.now(), close_reason=OtpCode.CloseReason.DELIVERY_FAILED
        )
        raise ApiError("OTP_DELIVERY_FAILED", status_code=status.HTTP_502_BAD_GATEWAY) from exc


def otp_verify(*, phone: str, code: str, ip: str | None = None, user_agent: str = "") -> Login:
    now = timezone.now()
    failure: ApiError | None = None
    with transaction.atomic():
        otp = (
            OtpCode.objects.select_for_update()
            .filter(phone=phone, closed_at__isnull=True, expires_at__gt=now)
            .order_by("-created_at")
            .first()
        )
        if otp is None:
            failure = ApiError("OTP_EXPIRED")
        elif not hmac.compare_digest(otp.code_hash, code_hash(phone=phone, code=code)):
            otp.attempts += 1
            left = max(settings.OTP_MAX_ATTEMPTS - otp.attempts, 0)
            if left == 0:
                otp.closed_at, otp.close_reason = now, OtpCode.CloseReason.ATTEMPTS
            otp.save(update_fields=["attempts", "closed_at", "close_reason"])
            failure = ApiError("OTP_INVALID", details={"attempts_left": left})
        else:
            otp.closed_at, otp.close_reason = now, OtpCode.CloseReason.VERIFIED
            otp.save(update_fields=["closed_at", "close_reason"])
            client, created = Client.objects.get_or_create(phone=phone)
            failure = _login_refusal(client)
            if failure is None:
                login = Login(
                    client=client,
                    created=created,
                    tokens=session_start(client=client, ip=ip, user_agent=user_agent),
                )
    if failure is not None:  # after commit: a wrong guess must still count
        raise failure
    return login


def otp_codes_purge(*, now=None) -> int:
    """Delete codes older than two days: the daily caps only look back 24 hours.
    (Retention job; scheduled with the other jobs.)"""
    deleted, _ = OtpCode.objects.filter(created_at__lt=(now or timezone.now()) - 2 * DAY).delete()
    return deleted


def _login_refusal(client: Client) -> ApiError | None:
    forbidden = status.HTTP_403_FORBIDDEN
    if client.status == Client.Status.PENDING_DELETION:
        return ApiError("ACCOUNT_PENDING_DELETION", status_code=forbidden)
    if client.status != Client.Status.ACTIVE:
        return ApiError("CLIENT_BLOCKED", status_code=forbidden)
    return None


def _check_limits(*, phone: str, ip: str | None, now) -> None:
    day = OtpCode.objects.filter(created_at__gt=now - DAY)
    last = (
        day.filter(phone=phone)
        .exclude(close_reason=OtpCode.CloseReason.DELIVERY_FAILED)
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    resend = timedelta(seconds=settings.OTP_RESEND_SECONDS)
    if last is not None and now - last < resend:
        raise RateLimited((last + resend - now).total_seconds())
    for field, value, limit in (
        ("phone", phone, settings.OTP_DAILY_LIMIT_PER_PHONE),
        ("ip", ip, settings.OTP_DAILY_LIMIT_PER_IP),
    ):
        if value is None:
            continue
        times = list(
            day.filter(**{field: value})
            .order_by("-created_at")
            .values_list("created_at", flat=True)[:limit]
        )
        if len(times) >= limit:  # free again when the oldest of the newest `limit` ages out
            raise RateLimited((times[-1] + DAY - now).total_seconds())


def _lock(name: str) -> None:
    """A transaction-scoped advisory lock: no row exists yet to lock for a new phone."""
    if connection.vendor == "postgresql":
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])
    # SQLite (development) serialises writers on its own.
