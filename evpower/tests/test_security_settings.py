"""Production must refuse to start with unsafe settings (docs/product.md §6, Security)."""

import subprocess

import pytest
from django.conf import settings

from evpower.security import DEV_SECRET_KEY, production_problems
from evpower.tests.settings_import import import_settings_with

GOOD_KEY = "k" * 25 + "Q7#x" * 7  # 53 characters, not the default


def test_good_production_config_is_accepted():
    problems = production_problems(
        secret_key=GOOD_KEY, debug=False, allowed_hosts=["evpower.example"]
    )

    assert problems == []


def test_default_secret_key_is_refused():
    problems = production_problems(
        secret_key=DEV_SECRET_KEY, debug=False, allowed_hosts=["evpower.example"]
    )

    assert len(problems) == 1
    assert "SECRET_KEY" in problems[0]


def test_empty_secret_key_is_refused():
    problems = production_problems(secret_key="", debug=False, allowed_hosts=["evpower.example"])

    assert any("SECRET_KEY" in p for p in problems)


def test_short_secret_key_is_refused():
    problems = production_problems(
        secret_key="x" * 49, debug=False, allowed_hosts=["evpower.example"]
    )

    assert problems == ["SECRET_KEY is shorter than 50 characters"]


def test_debug_is_refused():
    problems = production_problems(
        secret_key=GOOD_KEY, debug=True, allowed_hosts=["evpower.example"]
    )

    assert problems == ["DEBUG is on"]


def test_empty_allowed_hosts_is_refused():
    assert production_problems(secret_key=GOOD_KEY, debug=False, allowed_hosts=[]) == [
        "ALLOWED_HOSTS is empty"
    ]
    assert production_problems(secret_key=GOOD_KEY, debug=False, allowed_hosts=[""]) == [
        "ALLOWED_HOSTS is empty"
    ]


def test_production_settings_with_short_key_fail_at_import():
    # given production with a key that is too short; when Django starts
    result = import_settings_with(
        EVPOWER_ENV="production", SECRET_KEY="short", ALLOWED_HOSTS="evpower.example"
    )

    # then it stops with the reason
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY is shorter than 50 characters" in result.stderr


def test_production_settings_without_key_fail_at_import():
    result = import_settings_with(EVPOWER_ENV="production", ALLOWED_HOSTS="evpower.example")

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "development default" in result.stderr


def _production(
    code: str = "import django; django.setup()", **overrides: str
) -> subprocess.CompletedProcess[str]:
    return import_settings_with(
        code,
        EVPOWER_ENV="production",
        SECRET_KEY=GOOD_KEY,
        ALLOWED_HOSTS="evpower.example",
        SMS_BACKEND="accounts.sms.http.HttpJsonBackend",
        SMS_HTTP_URL="https://sms.example/send",
        SMS_HTTP_TOKEN="gateway-token",
        **overrides,
    )


def test_production_settings_with_safe_values_import():
    # login codes need a real SMS gateway in production (accounts/sms/): _production has one
    result = _production()

    assert result.returncode == 0, result.stderr


def test_enabled_providers_need_their_secrets():
    from evpower.security import provider_problems

    problems = provider_problems(
        enabled=["payme", "click"],
        configs={
            "payme": {"merchant_id": "m1", "key": "", "checkout_url": "https://checkout.paycom.uz"},
            "click": {
                "service_id": "1",
                "merchant_id": "2",
                "merchant_user_id": "3",
                "secret_key": "s",
                "api_url": "http://api.click.uz",
            },
        },
    )

    assert problems == [
        "payment provider payme is enabled but PAYME_KEY is unset",
        "payment provider click: CLICK_API_URL must be https",
    ]


def test_unknown_and_disabled_providers():
    from evpower.security import provider_problems

    assert provider_problems(enabled=["paypal"], configs={}) == [
        "PAYMENT_PROVIDERS names an unknown provider 'paypal'"
    ]
    # a provider that is not enabled needs nothing
    assert provider_problems(enabled=[], configs={"payme": {}}) == []


def test_production_refuses_an_enabled_provider_without_its_secret():
    result = _production(PAYMENT_PROVIDERS="payme", PAYME_MERCHANT_ID="m-1")

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "PAYME_KEY is unset" in result.stderr


def test_production_starts_with_the_enabled_provider_configured():
    result = _production(
        PAYMENT_PROVIDERS="payme", PAYME_MERCHANT_ID="m-1", PAYME_KEY="payme-key-from-the-cabinet"
    )

    assert result.returncode == 0, result.stderr


def test_production_sends_hsts_for_a_year_by_default():
    result = _production(
        code="from django.conf import settings; "
        "print(settings.SECURE_HSTS_SECONDS, settings.SESSION_COOKIE_SECURE)"
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["31536000", "True"]


def test_production_refuses_a_short_metrics_token():
    result = _production(METRICS_TOKEN="short-token")

    assert result.returncode != 0
    assert "METRICS_TOKEN is shorter than 32 characters" in result.stderr
    assert _production(METRICS_TOKEN="m" * 40).returncode == 0


def test_production_refuses_the_tests_fast_password_hasher():
    # given the hasher this suite runs with (evpower/tests/pytest_environment.py)
    assert settings.PASSWORD_HASHERS == ["django.contrib.auth.hashers.MD5PasswordHasher"]

    # when production is started with it, then it refuses
    result = _production(PASSWORD_HASHERS="django.contrib.auth.hashers.MD5PasswordHasher")
    assert result.returncode != 0
    assert "MD5PasswordHasher, which is not a slow password hasher" in result.stderr
    assert "PASSWORD_HASHERS is empty" in _production(PASSWORD_HASHERS="").stderr


def test_production_hashes_with_pbkdf2_by_default_and_accepts_argon2_first():
    result = _production(
        code="from django.conf import settings; print(settings.PASSWORD_HASHERS[0])"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "django.contrib.auth.hashers.PBKDF2PasswordHasher"

    argon2_first = (
        "django.contrib.auth.hashers.Argon2PasswordHasher,"
        "django.contrib.auth.hashers.PBKDF2PasswordHasher"
    )
    assert _production(PASSWORD_HASHERS=argon2_first).returncode == 0


@pytest.mark.parametrize(
    "jwt_key, fallbacks, database_url, expected",
    [
        ("k" * 32, [], "postgres://db/evpower", []),
        ("k" * 31, [], "postgres://db/evpower", ["JWT_SIGNING_KEY is shorter than 32 characters"]),
        (
            DEV_SECRET_KEY,
            [],
            "postgres://db/evpower",
            ["JWT_SIGNING_KEY is the development default"],
        ),
        (
            "k" * 40,
            ["old"],
            "postgres://db/evpower",
            ["a JWT fallback key is shorter than 32 characters"],
        ),
        ("k" * 40, [], "", ["DATABASE_URL is unset (production never falls back to SQLite)"]),
    ],
)
def test_production_keys_and_database(jwt_key, fallbacks, database_url, expected):
    from evpower.security import key_and_database_problems

    problems = key_and_database_problems(
        jwt_signing_key=jwt_key, jwt_fallback_keys=fallbacks, database_url=database_url
    )
    assert problems == expected


def test_production_refuses_to_start_without_a_database_url():
    result = _production(DATABASE_URL=None)

    assert result.returncode != 0
    assert "DATABASE_URL is unset (production never falls back to SQLite)" in result.stderr


def test_production_refuses_a_short_jwt_key_and_takes_a_long_one():
    short = _production(JWT_SIGNING_KEY="too-short-for-hs256")
    good = _production(JWT_SIGNING_KEY="j" * 48)

    assert "JWT_SIGNING_KEY is shorter than 32 characters" in short.stderr
    assert good.returncode == 0, good.stderr


@pytest.mark.parametrize(
    "url, problem",
    [
        ("postgres://u:p@db.example.net:5432/evpower", True),
        ("postgres://u:p@db.example.net:5432/evpower?sslmode=prefer", True),
        ("postgres://u:p@db.example.net:5432/evpower?sslmode=require", False),
        ("postgres://u:p@db.example.net:5432/evpower?sslmode=verify-full", False),
        ("postgres://u:p@127.0.0.1:5432/evpower", False),
        ("postgres://u:p@postgres:5432/evpower", False),  # compose's service on this host
        ("postgres://u:p@/evpower", False),  # the local socket
        ("sqlite:////tmp/db.sqlite3", False),
    ],
)
def test_a_remote_database_needs_tls(url, problem):
    import environ

    from evpower.security import database_tls_problems

    found = database_tls_problems(
        environ.Env.db_url_config(url), ["localhost", "127.0.0.1", "::1", "postgres"]
    )
    assert bool(found) is problem, found


def test_production_refuses_a_remote_database_without_tls_at_start():
    refused = _production(DATABASE_URL="postgres://u:p@db.example.net:5432/evpower")
    assert "reached without TLS" in refused.stderr
