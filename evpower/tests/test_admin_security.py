"""The admin login: brute-force lockout (django-axes) and the TOTP second factor
(django-otp, ADMIN_REQUIRE_2FA), through the real login form."""

from __future__ import annotations

import base64
import io
from urllib.parse import parse_qs, urlparse

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import override_settings
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.staff_2fa import staff_2fa_enrol

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"
PASSWORD = "right-password-1"  # noqa: S105 - test credential
OTHER_ADDRESS = "10.20.30.40"

require_2fa = override_settings(ADMIN_REQUIRE_2FA=True)


@pytest.fixture
def staff():
    return get_user_model().objects.create_superuser("ops", "ops@example.com", PASSWORD)


def log_in(client, password: str = PASSWORD, username: str = "ops", **otp_fields):
    return client.post(LOGIN, {"username": username, "password": password, **otp_fields})


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def current_code(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, device.step, device.t0, device.digits):0{device.digits}d}"


def failures(username: str = "ops") -> int:
    return sum(
        AccessAttempt.objects.filter(username=username).values_list(
            "failures_since_start", flat=True
        )
    )


# --- lockout --------------------------------------------------------------------------


def lock_out(client) -> list[int]:
    return [
        log_in(client, "wrong-password").status_code for _ in range(settings.AXES_FAILURE_LIMIT)
    ]


def test_wrong_passwords_up_to_the_limit_lock_the_account_from_that_address(client, staff):
    # when
    statuses = lock_out(client)

    # then: refused as wrong until the limit, then the lockout page
    assert statuses[:-1] == [200] * (settings.AXES_FAILURE_LIMIT - 1)
    assert statuses[-1] == 429
    response = log_in(client)  # even the right password
    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()
    assert not logged_in(client)


def test_a_forged_forwarded_for_header_does_not_escape_the_lockout(client, staff):
    # given
    lock_out(client)

    # when
    response = client.post(
        LOGIN,
        {"username": "ops", "password": PASSWORD},
        REMOTE_ADDR="127.0.0.1",
        HTTP_X_FORWARDED_FOR=OTHER_ADDRESS,
    )

    # then
    assert response.status_code == 429


def test_the_same_account_from_another_address_still_logs_in(client, staff):
    # given
    lock_out(client)

    # when
    response = client.post(
        LOGIN, {"username": "ops", "password": PASSWORD}, REMOTE_ADDR=OTHER_ADDRESS
    )

    # then
    assert response.status_code == 302 and logged_in(client)


def test_support_unlocks_with_axes_reset_username(client, staff):
    # given
    lock_out(client)

    # when
    call_command("axes_reset_username", "ops", stdout=io.StringIO())

    # then
    assert log_in(client).status_code == 302 and logged_in(client)


def test_a_good_login_resets_the_failure_count(client, staff):
    # given
    log_in(client, "wrong-password")
    assert failures() == 1

    # when
    log_in(client)

    # then
    assert failures() == 0


# --- two-factor -------------------------------------------------------------------------


@pytest.fixture
def authenticator(staff) -> TOTPDevice:
    staff_2fa_enrol(user=staff)
    return TOTPDevice.objects.get(user=staff)


@require_2fa
def test_with_2fa_the_password_alone_is_refused(client, authenticator):
    # when
    response = log_in(client)

    # then
    assert response.status_code == 200 and not logged_in(client)
    assert client.get("/admin/").status_code == 302


@require_2fa
def test_with_2fa_password_and_the_authenticators_code_get_in(client, authenticator):
    # when
    response = log_in(client, otp_token=current_code(authenticator))

    # then
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


@require_2fa
def test_with_2fa_a_wrong_code_is_refused_and_counted_as_a_failed_login(client, authenticator):
    # given
    wrong = f"{(int(current_code(authenticator)) + 1) % 1_000_000:06d}"

    # when
    response = log_in(client, otp_token=wrong)

    # then
    assert response.status_code == 200 and not logged_in(client)
    assert failures() == 1


@require_2fa
def test_with_2fa_wrong_codes_lock_the_account_out(client, authenticator):
    # when
    statuses = [
        log_in(client, otp_token="000000").status_code for _ in range(settings.AXES_FAILURE_LIMIT)
    ]

    # then
    assert statuses[-1] == 429
    assert log_in(client, otp_token=current_code(authenticator)).status_code == 429


@require_2fa
def test_with_2fa_staff_without_a_device_cannot_reach_the_admin(client, staff):
    # when: the password is right, but there is nothing to give a second factor
    response = log_in(client, otp_token="123456")

    # then
    assert not logged_in(client)
    assert "staff_2fa_setup ops" in response.content.decode()
    # and a session made some other way is not verified, so the admin sends it to log in
    client.force_login(staff)
    assert client.get("/admin/").status_code == 302


@require_2fa
def test_staff_2fa_setup_prints_a_link_whose_secret_logs_in(client, staff):
    # given
    out = io.StringIO()

    # when
    call_command("staff_2fa_setup", "ops", stdout=out)

    # then
    printed = out.getvalue()
    uri = next(line for line in printed.splitlines() if line.startswith("otpauth://"))
    secret = parse_qs(urlparse(uri).query)["secret"][0]
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    code = f"{totp(key):06d}"
    assert log_in(client, otp_token=code).status_code == 302
    assert client.get("/admin/").status_code == 200


@require_2fa
def test_a_backup_code_logs_in_once(client, staff):
    # given
    code = staff_2fa_enrol(user=staff, backup_codes=1).backup_codes[0]
    backup = StaticDevice.objects.get(user=staff).persistent_id

    # when
    first = log_in(client, otp_device=backup, otp_token=code)
    client.logout()
    second = log_in(client, otp_device=backup, otp_token=code)

    # then
    assert first.status_code == 302
    assert second.status_code == 200 and not logged_in(client)


def test_staff_2fa_setup_rotates_the_key(staff):
    # given
    staff_2fa_enrol(user=staff)
    old_key = TOTPDevice.objects.get(user=staff).key

    # when
    call_command("staff_2fa_setup", "ops", "--yes", stdout=io.StringIO())

    # then
    assert list(TOTPDevice.objects.filter(user=staff).values_list("key", flat=True)) != [old_key]
    assert TOTPDevice.objects.filter(user=staff).count() == 1


def test_without_2fa_the_password_is_enough(client, staff):
    # the development default: README's demo admin/admin works on a fresh laptop
    assert settings.ADMIN_REQUIRE_2FA is False
    assert log_in(client).status_code == 302
    assert client.get("/admin/").status_code == 200


# --- the operators' technical pages follow the admin's rule -----------------------------


@require_2fa
def test_with_2fa_metrics_and_detailed_health_need_a_verified_session(client, authenticator):
    # given: a staff session that signed in with the password alone (as a stale session
    # from before 2FA was required would be)
    client.force_login(authenticator.user)
    assert client.get("/metrics").status_code == 403
    assert client.get("/health/detailed").status_code == 403

    # when: the same person signs in with the second factor
    client.logout()
    log_in(client, otp_token=current_code(authenticator))

    # then
    assert client.get("/metrics").status_code == 200
    assert client.get("/health/detailed").status_code in (200, 503)
