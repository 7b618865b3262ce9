"""HTTP from the "provider" to our own endpoints, as the provider's servers would call them.

Plain HTTP to this development server (PAYMENT_SANDBOX_URL). What we answered is shown on
the checkout page, so a developer sees each step of the protocol.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import httpx
from django.conf import settings

TIMEOUT_SECONDS = 60  # our endpoint may itself call the sandbox back (O!Dengi's status)


@dataclass(frozen=True)
class Step:
    """One call to our endpoint and its answer, for the page."""

    label: str
    status: int
    body: str

    @property
    def data(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None


def our_url(path: str) -> str:
    return f"{settings.PAYMENT_SANDBOX_URL}{path}"


def post(label: str, target: str, **kwargs) -> Step:
    """POST to one of our endpoints: a path on this server, or a full URL."""
    url = target if target.startswith(("http://", "https://")) else our_url(target)
    try:
        with httpx.Client(timeout=TIMEOUT_SECONDS) as client:
            response = client.post(url, **kwargs)
    except httpx.HTTPError as exc:
        return Step(label, 0, f"could not reach {url}: {exc}")
    return Step(label, response.status_code, response.text[:2000])
