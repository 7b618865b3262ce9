"""The interface and the two backends that need no network."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from typing import ClassVar

logger = logging.getLogger(__name__)


class SmsDeliveryError(Exception):
    """The gateway did not accept the message (network error, timeout, non-2xx answer)."""


class SmsBackend:
    def send(self, *, phone: str, text: str) -> None:
        raise NotImplementedError


def mask_phone(phone: str) -> str:
    return phone[:4] + "*" * max(len(phone) - 6, 0) + phone[-2:]


class ConsoleBackend(SmsBackend):
    """Development (refused in production): the terminal is the phone. The message, code
    included, is written to stderr for the developer to read; the log line goes through the
    masking like every other (evpower/logmask.py), so the code never reaches log storage."""

    def send(self, *, phone: str, text: str) -> None:
        print(f"[console SMS to {mask_phone(phone)}] {text}", file=sys.stderr, flush=True)
        logger.warning("SMS to %s: %s", mask_phone(phone), text)


@dataclass(frozen=True)
class SentMessage:
    phone: str
    text: str


class MemoryBackend(SmsBackend):
    """Tests only: keeps what was sent so a test can read the code back.

    `fail` makes the next sends raise, to test the delivery-failure path.
    """

    outbox: ClassVar[list[SentMessage]] = []
    fail: ClassVar[bool] = False

    def send(self, *, phone: str, text: str) -> None:
        if MemoryBackend.fail:
            raise SmsDeliveryError("memory backend told to fail")
        MemoryBackend.outbox.append(SentMessage(phone=phone, text=text))

    @classmethod
    def reset(cls) -> None:
        cls.outbox.clear()
        cls.fail = False
