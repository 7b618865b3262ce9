from __future__ import annotations

from accounts.models import Client, OtpCode
from accounts.otp import code_hash, otp_codes_purge
from accounts.tests.support import (
    PHONE_A,
    PHONE_B,
    age_codes,
    assert_error,
    last_code,
    login,
    request_code,
)

REQUEST, VERIFY = "/api/v1/auth/otp/request", "/api/v1/auth/otp/verify"


def verify(api, phone, code):
    return api.post(VERIFY, {"phone": phone, "code": code}, format="json")


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def test_request_answers_the_same_for_known_and_unknown_phones(db, api):
    login(phone=PHONE_A)
    age_codes(PHONE_A, seconds=120)
    known = api.post(REQUEST, {"phone": PHONE_A}, format="json")
    unknown = api.post(REQUEST, {"phone": PHONE_B}, format="json")
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json() == {"expires_in": 300, "resend_after": 60}


def test_code_is_six_digits_and_stored_only_as_hmac(db, api):
    code = request_code(api, PHONE_A)
    otp = OtpCode.objects.get(phone=PHONE_A)
    assert len(code) == 6 and code.isdigit()
    assert code not in otp.code_hash
    assert otp.code_hash == code_hash(phone=PHONE_A, code=code)
    assert otp.code_hash != code_hash(phone=PHONE_B, code=code)  # bound to the phone


def test_phone_is_normalised_and_invalid_phone_is_a_validation_error(db, api):
    response = api.post(REQUEST, {"phone": "+996 700 00-00-01"}, format="json")
    assert response.status_code == 202
    assert OtpCode.objects.filter(phone=PHONE_A).exists()
    error = assert_error(
        api.post(REQUEST, {"phone": "0700123456"}, format="json"), 400, "VALIDATION_ERROR"
    )
    assert "phone" in error["details"]["fields"]


def test_first_login_creates_the_client_and_the_second_finds_it(db, api):
    first = login(api, PHONE_A)
    second = login(api, PHONE_A)
    assert first["created"] is True and second["created"] is False
    assert first["client"]["id"] == second["client"]["id"]
    assert first["client"]["phone"] == PHONE_A
    assert first["client"]["language"] == ""  # not chosen: the app's Accept-Language rules
    assert Client.objects.filter(phone=PHONE_A).count() == 1


def test_second_request_within_a_minute_is_rate_limited_with_retry_after(db, api):
    request_code(api, PHONE_A)
    response = api.post(REQUEST, {"phone": PHONE_A}, format="json")
    error = assert_error(response, 429, "RATE_LIMITED")
    assert 1 <= error["details"]["retry_after"] <= 60
    assert int(response["Retry-After"]) == error["details"]["retry_after"]


def test_a_new_code_after_a_minute_replaces_the_old_one(db, api):
    old = request_code(api, PHONE_A)
    age_codes(PHONE_A, seconds=61)
    new = request_code(api, PHONE_A)
    if old != new:
        assert_error(verify(api, PHONE_A, old), 400, "OTP_INVALID")
    assert verify(api, PHONE_A, new).status_code == 200


def test_three_wrong_attempts_kill_the_code(db, api):
    code = request_code(api, PHONE_A)
    left = [
        assert_error(verify(api, PHONE_A, wrong(code)), 400, "OTP_INVALID")["details"][
            "attempts_left"
        ]
        for _ in range(3)
    ]
    assert left == [2, 1, 0]
    assert_error(verify(api, PHONE_A, code), 400, "OTP_EXPIRED")  # even the right one now
    assert not Client.objects.exists()


def test_expired_code_is_refused(db, api):
    code = request_code(api, PHONE_A)
    age_codes(PHONE_A, seconds=301)
    assert_error(verify(api, PHONE_A, code), 400, "OTP_EXPIRED")


def test_code_is_single_use(db, api):
    code = request_code(api, PHONE_A)
    assert verify(api, PHONE_A, code).status_code == 200
    assert_error(verify(api, PHONE_A, code), 400, "OTP_EXPIRED")


def test_code_of_another_phone_does_not_work(db, api):
    code = request_code(api, PHONE_A)
    request_code(api, PHONE_B)
    if code != last_code(PHONE_B):
        assert_error(verify(api, PHONE_B, code), 400, "OTP_INVALID")


def test_daily_cap_per_phone(db, api, settings):
    settings.OTP_DAILY_LIMIT_PER_PHONE = 3
    for _ in range(3):
        request_code(api, PHONE_A)
        age_codes(PHONE_A, seconds=120)
    error = assert_error(api.post(REQUEST, {"phone": PHONE_A}, format="json"), 429, "RATE_LIMITED")
    assert 3600 * 23 < error["details"]["retry_after"] <= 3600 * 24
    age_codes(PHONE_A, seconds=24 * 3600)  # a day later the oldest have aged out
    request_code(api, PHONE_A)


def test_daily_cap_per_ip(db, api, settings):
    settings.OTP_DAILY_LIMIT_PER_IP = 3
    for n in range(3):
        request_code(api, f"+99670000010{n}")
    assert_error(api.post(REQUEST, {"phone": PHONE_B}, format="json"), 429, "RATE_LIMITED")
    other_ip = api.post(REQUEST, {"phone": PHONE_B}, format="json", REMOTE_ADDR="10.1.2.3")
    assert other_ip.status_code == 202


def test_failed_delivery_is_502_and_leaves_no_usable_code(db, api, sms_outbox):
    sms_outbox.fail = True
    assert_error(api.post(REQUEST, {"phone": PHONE_A}, format="json"), 502, "OTP_DELIVERY_FAILED")
    otp = OtpCode.objects.get(phone=PHONE_A)
    assert otp.close_reason == OtpCode.CloseReason.DELIVERY_FAILED
    assert_error(verify(api, PHONE_A, "123456"), 400, "OTP_EXPIRED")
    sms_outbox.fail = False
    request_code(api, PHONE_A)  # a failed send does not hold the one-per-minute slot


def test_a_code_sent_before_the_block_does_not_log_in(db, api):
    client_id = login(api, PHONE_A)["client"]["id"]
    age_codes(PHONE_A, seconds=120)
    code = request_code(api, PHONE_A)
    Client.objects.filter(pk=client_id).update(status=Client.Status.BLOCKED)
    assert_error(verify(api, PHONE_A, code), 403, "CLIENT_BLOCKED")


def test_a_blocked_clients_number_gets_no_sms_and_the_same_answer(db, api, sms_outbox):
    client_id = login(api, PHONE_A)["client"]["id"]
    Client.objects.filter(pk=client_id).update(status=Client.Status.BLOCKED)
    age_codes(PHONE_A, seconds=120)
    sent_before = len(sms_outbox.outbox)

    blocked = api.post(REQUEST, {"phone": PHONE_A}, format="json")
    unknown = api.post(REQUEST, {"phone": PHONE_B}, format="json")

    assert blocked.status_code == unknown.status_code == 202  # nothing told about the number
    assert blocked.json() == unknown.json()
    assert [m.phone for m in sms_outbox.outbox[sent_before:]] == [PHONE_B]
    assert not OtpCode.objects.filter(phone=PHONE_A, closed_at__isnull=True).exists()
    assert_error(verify(api, PHONE_A, "123456"), 400, "OTP_EXPIRED")


def test_client_pending_deletion_cannot_log_in(db, api):
    access = login(api, PHONE_A)["access"]
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    assert api.post("/api/v1/me/delete").status_code == 202
    api.credentials()
    age_codes(PHONE_A, seconds=120)
    code = request_code(api, PHONE_A)
    assert_error(verify(api, PHONE_A, code), 403, "ACCOUNT_PENDING_DELETION")


def test_sms_is_in_the_clients_language(db, api):
    client_id = login(api, PHONE_A)["client"]["id"]
    Client.objects.filter(pk=client_id).update(language="en")
    age_codes(PHONE_A, seconds=120)
    request_code(api, PHONE_A)
    from accounts.sms.backends import MemoryBackend

    assert MemoryBackend.outbox[-1].text.startswith("EvPower: your code is")


def test_the_sms_speaks_the_apps_language_until_the_profile_chooses_one(db, api):
    from accounts.sms.backends import MemoryBackend

    api.post(REQUEST, {"phone": PHONE_A}, format="json", HTTP_ACCEPT_LANGUAGE="en")
    assert MemoryBackend.outbox[-1].text.startswith("EvPower: your code is")
    age_codes(PHONE_A, seconds=120)
    api.post(REQUEST, {"phone": PHONE_A}, format="json")  # no header: the default (ru)
    assert MemoryBackend.outbox[-1].text.startswith("EvPower: ваш код")


def test_error_messages_follow_accept_language(db, api):
    response = api.post(
        VERIFY, {"phone": PHONE_A, "code": "123456"}, format="json", HTTP_ACCEPT_LANGUAGE="ky"
    )
    error = assert_error(response, 400, "OTP_EXPIRED")
    assert error["message"].startswith("Коддун")


def test_old_codes_are_purged(db, api):
    request_code(api, PHONE_A)
    request_code(api, PHONE_B)
    age_codes(PHONE_A, seconds=49 * 3600)
    assert otp_codes_purge() == 1
    assert list(OtpCode.objects.values_list("phone", flat=True)) == [PHONE_B]
