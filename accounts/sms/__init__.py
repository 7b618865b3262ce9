"""Text-message delivery behind one small interface.

`settings.SMS_BACKEND` names the class: `accounts.sms.backends.ConsoleBackend` (development:
logs the message), `accounts.sms.backends.MemoryBackend` (tests: keeps messages in memory) or
`accounts.sms.http.HttpJsonBackend` (a JSON-over-HTTPS SMS provider configured by environment).
A backend either delivers or raises `SmsDeliveryError`: never a silent fake success.
"""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string

from evpower.metrics.registry import outbound_call

from .backends import SmsBackend, SmsDeliveryError

__all__ = ["SmsBackend", "SmsDeliveryError", "get_backend", "send_sms"]


def get_backend() -> SmsBackend:
    return import_string(settings.SMS_BACKEND)()


def send_sms(*, phone: str, text: str) -> None:
    with outbound_call("sms"):
        get_backend().send(phone=phone, text=text)
