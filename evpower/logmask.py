"""Secrets and personal data out of everything we write down: log lines and Sentry events.

One compiled regular expression, one pass per string (it runs on every log line):

- phone numbers (+996700123456 → +996*****3456; also 996700123456 without the plus),
- card numbers (13–19 digits, bare or in groups: all but the last four hidden),
- JWTs (eyJ… → eyJ***), `Bearer …` / `Basic …` / `Digest …` credentials,
- the value after a secret-looking name, in `name=value`, `name: value`, `"name": "value"`
  and `name <16+ chars of hex/base64>` forms: any name ending in password, passwd, pwd,
  passphrase, secret, token, key, apikey, signature, authorization, otp, cvv, cvc (so
  cert_password, access_token, secret_key, X-Api-Key), and the exact names code, pin, sign,
  pan, card (exact so that error_code, status_code and design stay readable),
- a one-time code in prose ("your code is 123456", "ваш код 123456"),
- the password in a URL's user part (postgres://user:***@host).

`mask_text` masks a string, `mask_value` a structure (a value under a secret-looking key is
replaced whole), `MaskingFilter` a log record (message, args, extra fields, traceback).
Domain code keeps its own, stricter audit-log masking (ocpp_bridge/protocol/secrets.py,
payments/providers/*): that decides what is *stored*; this is the net under every log line.
"""

from __future__ import annotations

import datetime
import decimal
import logging
import re
import traceback
import uuid
from typing import Any

MASK = "***"

# names to look for, not credentials
_SECRET_SUFFIXES = (
    r"password|passwd|pwd|passphrase|secret|token|api[_-]?key|key|signature"  # noqa: S105
    r"|authorization|otp|cvv2?|cvc2?"
)
_SECRET_EXACT = r"code|otp_code|sms_code|pin|sign|pan|card|card_?number"  # noqa: S105
_CREDENTIAL = r"[A-Za-z0-9._~+/=-]"

# Every branch starts with a plain character class (a lookbehind, if any, comes after it):
# positions that cannot start a match fail at once. ~50 µs for a typical 85-character line
# (Python 3.11): about what formatting the JSON line costs.
_PATTERN = re.compile(
    # a URL's password: scheme://user:PASSWORD@host
    r"(?P<url>://[^/\s:@]*:)(?P<url_secret>[^/\s@]+)(?=@)"
    r"|(?P<jwt>e(?<!\we)yJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*)"
    rf"|(?P<scheme>[BbDd](?<!\w[BbDd])(?i:earer|asic|igest)\s+){_CREDENTIAL}{{6,}}"
    # a one-time code in prose: "your code is 123456", "ваш код 123456"
    r"|(?P<otp>[cCкКoOpP](?<!\w[cCкКoOpP])(?i:ode|од|одуңуз|tp|in)(?:\s+is)?\s+)\d{4,8}\b"
    # a secret-looking name, then its value (quoted, or with an auth scheme: "Authorization:
    # Basic …"); the lookahead checks the whole name before anything is consumed
    r"|(?P<name>(?<![\w-])"
    rf"(?=[\w-]*?(?i:{_SECRET_SUFFIXES})[\"'\s:=]|(?i:{_SECRET_EXACT})[\"'\s:=])"
    r"[\w-]++)"
    rf"(?P<sep>[\"']?\s*[:=]\s*|\s+(?={_CREDENTIAL}{{16,}}))"
    r"(?P<quote>[\"'])?"
    r"(?P<value>(?(quote)[^\"'\n]*|(?:(?i:bearer|basic|digest)\s+)?[^\s&,;\"'<>)\]}]+))"
    # phones: E.164 with optional separators, or Kyrgyz numbers without the plus
    r"|(?P<phone>\+(?<![\w+*]\+)\d{1,3}(?:[ -]?\d){7,13}(?!\d)|9(?<![\d*]9)96\d{9}(?!\d))"
    # cards: 13-19 digits bare, or in groups of 4 (Amex: 4-6-5); not inside a word or after a
    # decimal point, so that a UUID's digits or a float's fraction are not taken for one
    r"|(?P<card>\d(?<![\w*.]\d)(?:\d{12,18}|\d{3}[ -]\d{4,6}[ -]\d{4,5}(?:[ -]\d{1,4})?)(?!\w))"
)
_SECRET_KEY = re.compile(rf"(?i).*(?:{_SECRET_SUFFIXES})|{_SECRET_EXACT}")
_NON_DIGIT = re.compile(r"\D")


def _hide(match: re.Match) -> str:
    if match.group("url") is not None:
        return match.group("url") + MASK
    if match.group("jwt") is not None:
        return "eyJ" + MASK
    if match.group("scheme") is not None:
        return match.group("scheme") + MASK
    if match.group("otp") is not None:
        return match.group("otp") + MASK
    if match.group("name") is not None:
        if not match.group("value"):
            return match.group()  # "password: " with nothing after it
        return match.group("name") + match.group("sep") + (match.group("quote") or "") + MASK
    digits = _NON_DIGIT.sub("", match.group())
    if match.group("phone") is not None:
        shown = "+" if match.group().startswith("+") else ""
        return shown + digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
    if len(digits) < 13:  # four groups of three or four digits: too short for a card
        return match.group()
    return "*" * (len(digits) - 4) + digits[-4:]  # a card number


def mask_text(text: str) -> str:
    """`text` with every secret and personal datum above masked."""
    return _PATTERN.sub(_hide, text)


def is_secret_name(name: str) -> bool:
    return _SECRET_KEY.fullmatch(name) is not None


# values passed through as they are: they cannot carry text
_PLAIN_TYPES = (
    bool,
    float,
    decimal.Decimal,
    datetime.date,
    datetime.time,
    datetime.timedelta,
    uuid.UUID,
    type(None),
)


def mask_value(value: Any, key: str | None = None, *, keep: frozenset[str] = frozenset()) -> Any:
    """A copy of `value` (str, number, dict, list, anything with a str()) with secrets masked.

    A value under a secret-looking key is replaced whole; keys in `keep` (identifiers a
    consumer relies on, e.g. a Sentry event's ids) are left exactly as they are.
    """
    if key is not None:
        if key in keep:
            return value
        if value not in (None, "") and is_secret_name(key):
            return MASK
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: mask_value(v, str(k), keep=keep) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [mask_value(v, keep=keep) for v in value]
    if isinstance(value, _PLAIN_TYPES):
        return value
    if isinstance(value, int):  # a card number may arrive as an int
        return value if abs(value) < 10**12 else mask_text(str(value))
    if isinstance(value, bytes | bytearray):
        return mask_text(bytes(value).decode("utf-8", "replace"))
    return mask_text(str(value))  # an object's str() is what a formatter would print


# every attribute a LogRecord has by itself; anything else on it came from `extra=`
_RECORD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "correlation_id",
}


class MaskingFilter(logging.Filter):
    """On every handler: the record's message (formatted with its args), its extra fields
    and its traceback, masked. The record is changed in place (the next handler sees the
    masked text) and only once."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.__dict__.get("_masked"):
            return True
        record._masked = True
        if isinstance(record.msg, dict) and not record.args:  # logger.info({...})
            record.msg = mask_value(record.msg)
        else:
            try:
                record.msg, record.args = mask_text(record.getMessage()), None
            except Exception:  # bad args: the handler reports the error, masked too
                record.msg, record.args = mask_text(str(record.msg)), mask_value(record.args)
        record.__dict__.pop("color_message", None)  # uvicorn's coloured copy of the format
        for name, value in record.__dict__.items():
            if name not in _RECORD_ATTRIBUTES and not name.startswith("_"):
                record.__dict__[name] = mask_value(value, name)
        if record.exc_info:
            # formatted here, not by the formatter, so that the exception's text is masked
            record.exc_text = mask_text(
                "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            )
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        return True
