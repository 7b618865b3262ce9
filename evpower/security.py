"""Start-up refusal rules for production.

Kept free of Django imports so the rules can be tested as a plain function and reused by the
settings module before Django is configured.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

# Anything shorter gives too little entropy for session and token signing.
MIN_SECRET_KEY_LENGTH = 50

# A driver's token is signed with HS256: a key of fewer characters is guessable offline.
MIN_JWT_KEY_LENGTH = 32

# Shipped in the source for development only; production must never sign with it.
DEV_SECRET_KEY = "django-insecure-evpower-development-key-do-not-use-in-production"  # noqa: S105


def production_problems(*, secret_key: str, debug: bool, allowed_hosts: Iterable[str]) -> list[str]:
    """Return human-readable reasons this configuration must not serve production traffic."""
    problems: list[str] = []
    if not secret_key or secret_key == DEV_SECRET_KEY:
        problems.append("SECRET_KEY is unset or the development default")
    elif len(secret_key) < MIN_SECRET_KEY_LENGTH:
        problems.append(f"SECRET_KEY is shorter than {MIN_SECRET_KEY_LENGTH} characters")
    if debug:
        problems.append("DEBUG is on")
    if not [host for host in allowed_hosts if host]:
        problems.append("ALLOWED_HOSTS is empty")
    return problems


def key_and_database_problems(
    *, jwt_signing_key: str, jwt_fallback_keys: Sequence[str], database_url: str
) -> list[str]:
    """Production's keys and database: the token key long and never the development one
    (its fallbacks too), and a database named (never the SQLite file development falls
    back to)."""
    problems: list[str] = []
    for name, key in [("JWT_SIGNING_KEY", jwt_signing_key)] + [
        ("a JWT fallback key", key) for key in jwt_fallback_keys
    ]:
        if key == DEV_SECRET_KEY:
            problems.append(f"{name} is the development default")
        elif len(key) < MIN_JWT_KEY_LENGTH:
            problems.append(f"{name} is shorter than {MIN_JWT_KEY_LENGTH} characters")
    if not database_url:
        problems.append("DATABASE_URL is unset (production never falls back to SQLite)")
    return problems


# libpq's sslmode values that encrypt the connection
ENCRYPTED_SSLMODES = ("require", "verify-ca", "verify-full")


def database_tls_problems(database: dict, local_hosts: Sequence[str]) -> list[str]:
    """A PostgreSQL server on another host is reached over TLS (`?sslmode=require`, or
    verify-ca / verify-full, in DATABASE_URL): the drivers' data and the ledger cross the
    network. A socket, loopback or a name in `local_hosts` (compose's `postgres`) is local."""
    if "postgresql" not in database.get("ENGINE", ""):
        return []
    host = str(database.get("HOST") or "")
    if not host or host.startswith("/") or host in local_hosts:
        return []
    if (database.get("OPTIONS") or {}).get("sslmode") in ENCRYPTED_SSLMODES:
        return []
    return [
        f"the database at {host} is reached without TLS: add ?sslmode=require "
        "(or verify-full) to DATABASE_URL, or name the host in DB_LOCAL_HOSTS"
    ]


# Django's own list, of deliberately slow hashers; the first in PASSWORD_HASHERS hashes new
# passwords, the others still verify old ones.
SLOW_PASSWORD_HASHERS = tuple(
    f"django.contrib.auth.hashers.{name}"
    for name in (
        "PBKDF2PasswordHasher",
        "PBKDF2SHA1PasswordHasher",
        "Argon2PasswordHasher",
        "BCryptSHA256PasswordHasher",
        "ScryptPasswordHasher",
    )
)


def password_hasher_problems(hashers: Sequence[str]) -> list[str]:
    """The tests' fast hasher (MD5) must never hash a real person's password."""
    if not hashers:
        return ["PASSWORD_HASHERS is empty"]
    if hashers[0] not in SLOW_PASSWORD_HASHERS:
        return [f"PASSWORD_HASHERS starts with {hashers[0]}, which is not a slow password hasher"]
    return []


# What each payment provider cannot work without (settings PAYME, CLICK, ODENGI, OBANK).
PROVIDER_REQUIRED_SETTINGS: dict[str, tuple[str, ...]] = {
    "payme": ("merchant_id", "key"),
    "click": ("service_id", "merchant_id", "merchant_user_id", "secret_key"),
    "odengi": ("url", "sid", "password"),
    "obank": ("url", "merchant_id", "cert_path", "cert_password"),
}
# Settings that are addresses we call or send drivers to: production talks TLS only.
PROVIDER_URL_SETTINGS = ("url", "api_url", "checkout_url", "pay_url")


def provider_problems(*, enabled: Iterable[str], configs: dict[str, dict]) -> list[str]:
    """Reasons the enabled payment providers cannot take real money with this configuration:
    an unknown code, a missing secret, or a plain-HTTP address."""
    problems: list[str] = []
    for code in enabled:
        if code not in PROVIDER_REQUIRED_SETTINGS:
            problems.append(f"PAYMENT_PROVIDERS names an unknown provider {code!r}")
            continue
        conf = configs.get(code) or {}
        missing = [name for name in PROVIDER_REQUIRED_SETTINGS[code] if not conf.get(name)]
        if missing:
            names = ", ".join(f"{code.upper()}_{name.upper()}" for name in missing)
            problems.append(f"payment provider {code} is enabled but {names} is unset")
        plain = [
            name
            for name in PROVIDER_URL_SETTINGS
            if conf.get(name) and not str(conf[name]).startswith("https://")
        ]
        if plain:
            names = ", ".join(f"{code.upper()}_{name.upper()}" for name in plain)
            problems.append(f"payment provider {code}: {names} must be https")
    return problems


# Bearer tokens for /metrics and /health/detailed: long enough that guessing is hopeless.
MIN_OPERATOR_TOKEN_LENGTH = 32


def operator_token_problems(**tokens: str) -> list[str]:
    """A configured operator token shorter than the minimum (unset is fine: staff only)."""
    return [
        f"{name} is shorter than {MIN_OPERATOR_TOKEN_LENGTH} characters"
        for name, value in tokens.items()
        if value and len(value) < MIN_OPERATOR_TOKEN_LENGTH
    ]
