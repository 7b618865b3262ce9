"""Start-up refusal rules for production.

Kept free of Django imports so the rules can be tested as a plain function and reused by the
settings module before Django is configured.
"""

from __future__ import annotations

from collections.abc import Iterable

# Anything shorter gives too little entropy for session and token signing.
MIN_SECRET_KEY_LENGTH = 50

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
