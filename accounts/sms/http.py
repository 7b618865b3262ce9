"""A generic JSON-over-HTTPS SMS provider.

POST {SMS_HTTP_URL} with `Authorization: Bearer {SMS_HTTP_TOKEN}` and the body
`{"to": "+996...", "from": SMS_HTTP_SENDER, "text": "..."}`; any 2xx answer is a delivery
accepted by the provider. Most regional aggregators offer this shape (or a thin adapter to it).
Standard library only: one POST does not justify another dependency.
"""

from __future__ import annotations

import json
import logging
import ssl
import urllib.error
import urllib.request

from django.conf import settings

from .backends import SmsBackend, SmsDeliveryError, mask_phone

logger = logging.getLogger(__name__)


class HttpJsonBackend(SmsBackend):
    def __init__(self) -> None:
        self.url = settings.SMS_HTTP_URL
        self.token = settings.SMS_HTTP_TOKEN
        self.sender = settings.SMS_HTTP_SENDER
        self.timeout = settings.SMS_HTTP_TIMEOUT
        if not self.url:
            raise SmsDeliveryError("SMS_HTTP_URL is not configured")
        # Always verified (no switch to turn it off); a gateway behind a private CA is
        # trusted by giving that CA's bundle.
        self.ssl_context = ssl.create_default_context(cafile=settings.SMS_HTTP_CA_BUNDLE or None)

    def send(self, *, phone: str, text: str) -> None:
        body = json.dumps({"to": phone, "from": self.sender, "text": text}).encode()
        request = urllib.request.Request(  # noqa: S310 - URL comes from settings, not users
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json",
                "Authorization": f"Bearer {self.token}",
            },
        )
        try:
            with urllib.request.urlopen(  # noqa: S310
                request,
                timeout=self.timeout,
                context=self.ssl_context if self.url.startswith("https:") else None,
            ) as answer:
                status = answer.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            logger.warning("SMS to %s failed: %s", mask_phone(phone), exc)
            raise SmsDeliveryError(str(exc)) from exc
        if not 200 <= status < 300:
            logger.warning("SMS to %s refused by the gateway: HTTP %s", mask_phone(phone), status)
            raise SmsDeliveryError(f"gateway answered HTTP {status}")
