"""The fake providers' memory: what O!Dengi, Payme or Click would keep in their own database.

It lives in the cache (Redis when the demo has one, else this process's memory) for a day,
never in our tables: the sandbox must learn about payments only through the protocol.
"""

from __future__ import annotations

import secrets

from django.core.cache import cache

TTL_SECONDS = 24 * 3600
PREFIX = "payment-sandbox"


def _key(provider: str, kind: str, ref: str) -> str:
    return f"{PREFIX}:{provider}:{kind}:{ref}"


def load(provider: str, kind: str, ref: str) -> dict | None:
    return cache.get(_key(provider, kind, ref))


def save(provider: str, kind: str, ref: str, record: dict) -> None:
    cache.set(_key(provider, kind, ref), record, TTL_SECONDS)


def index(provider: str) -> list[str]:
    """The refs of every record of a provider, oldest first (for statements)."""
    return cache.get(_key(provider, "index", "all")) or []


def add_to_index(provider: str, ref: str) -> None:
    refs = index(provider)
    if ref not in refs:
        cache.set(_key(provider, "index", "all"), [*refs, ref][-1000:], TTL_SECONDS)


def new_id(prefix: str = "", digits: int = 0) -> str:
    if digits:
        return str(secrets.randbelow(9 * 10 ** (digits - 1)) + 10 ** (digits - 1))
    return prefix + secrets.token_hex(8)
