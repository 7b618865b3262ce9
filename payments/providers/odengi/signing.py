"""O!Dengi signatures (HMAC-MD5 keyed with the merchant password). No Django here.

Requests (PROTOCOLS.md "O!Dengi"): `hash` = HMAC-MD5 over the compact JSON of the other
fields of the message, in the order they are sent, with unicode and slashes NOT escaped
(`{"cmd":…,"version":1005,"sid":…,"mktime":…,"lang":…,"data":{…}}`). `canonical_json`
is that serialisation; the published test vector is reproduced in the tests.

Responses carry a `hash` too (`{version, mktime, sid, cmd, data, hash}`); the formula is
not published. We verify it with the request formula over the received fields in the
received order, also accepting PHP's default `json_encode` escaping (`\\/` and `\\uXXXX`)
because the server is PHP. A response that carries a hash matching neither is refused by
the client (nothing in it is trusted); one without a hash is accepted (TLS-verified).

Callbacks to result_url: `hash` = HMAC-MD5(password,
"trans_id:::status_pay:::site_id:::order_id:::amount:::currency:::mktime:::test") over the
received strings.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping

CALLBACK_FIELDS = (
    "trans_id",
    "status_pay",
    "site_id",
    "order_id",
    "amount",
    "currency",
    "mktime",
    "test",
)


def hmac_md5(password: str, message: str) -> str:
    return hmac.new(password.encode(), message.encode(), hashlib.md5).hexdigest()


def canonical_json(fields: Mapping, *, php_escaping: bool = False) -> str:
    """Compact JSON in the mapping's own order. Python never escapes "/"; with
    `php_escaping` it is escaped as PHP's json_encode does by default, with non-ASCII
    as \\uXXXX."""
    text = json.dumps(fields, separators=(",", ":"), ensure_ascii=php_escaping)
    return text.replace("/", "\\/") if php_escaping else text


def _unsigned(message: Mapping) -> dict:
    return {k: v for k, v in message.items() if k != "hash"}


def message_hash(password: str, message: Mapping) -> str:
    """The hash of a request (any `hash` key in it is left out)."""
    return hmac_md5(password, canonical_json(_unsigned(message)))


def sign(password: str, message: Mapping) -> dict:
    """The message with its `hash` appended last (the order of the other keys is kept)."""
    unsigned = _unsigned(message)
    return {**unsigned, "hash": message_hash(password, unsigned)}


def response_hash_ok(password: str, message: Mapping) -> bool | None:
    """None when the response carries no hash; otherwise whether it verifies."""
    received = message.get("hash")
    if received in (None, ""):
        return None
    if not isinstance(received, str):
        return False
    unsigned = _unsigned(message)
    given = received.strip().lower().encode()
    return any(
        hmac.compare_digest(
            given, hmac_md5(password, canonical_json(unsigned, php_escaping=php)).encode()
        )
        for php in (False, True)
    )


def callback_string(fields: Mapping[str, str]) -> str:
    return ":::".join(fields.get(name, "") for name in CALLBACK_FIELDS)


def callback_hash(password: str, fields: Mapping[str, str]) -> str:
    return hmac_md5(password, callback_string(fields))


def callback_hash_ok(password: str, fields: Mapping[str, str], received: str) -> bool:
    if not received or not password:
        return False
    return hmac.compare_digest(
        received.strip().lower().encode(), callback_hash(password, fields).encode()
    )
