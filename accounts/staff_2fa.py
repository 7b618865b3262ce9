"""Enrolling a staff member for two-factor admin login (django-otp devices)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

AUTHENTICATOR_NAME = "authenticator"
BACKUP_NAME = "backup codes"


@dataclass(frozen=True)
class Enrolment:
    otpauth_uri: str  # for the authenticator app (as a QR code, or typed in)
    backup_codes: list[str]  # each logs in once, for a lost phone


@transaction.atomic
def staff_2fa_enrol(*, user, backup_codes: int = 5) -> Enrolment:
    """A new authenticator key and new backup codes for `user`. Whatever they had
    before stops working at once: this is also how a lost or leaked key is rotated."""
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()
    authenticator = TOTPDevice.objects.create(user=user, name=AUTHENTICATOR_NAME, confirmed=True)
    backup = StaticDevice.objects.create(user=user, name=BACKUP_NAME, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(backup_codes)]
    StaticToken.objects.bulk_create(StaticToken(device=backup, token=code) for code in codes)
    return Enrolment(otpauth_uri=authenticator.config_url, backup_codes=codes)
