"""The payment providers, by code. A provider is offered only when it is configured
(settings.PAYMENT_PROVIDERS lists it and its settings are present)."""

from __future__ import annotations

from importlib import import_module

from django.conf import settings

from payments.errors import ProviderNotAvailable
from payments.providers.base import PaymentProvider

IMPLEMENTATIONS = {
    "odengi": "payments.providers.odengi.client.ODengiProvider",
    "obank": "payments.providers.obank.client.ObankProvider",
    "payme": "payments.providers.payme.provider.PaymeProvider",
    "click": "payments.providers.click.provider.ClickProvider",
}


def enabled() -> list[str]:
    return [code for code in settings.PAYMENT_PROVIDERS if code in IMPLEMENTATIONS]


def provider_for(code: str, *, required: bool = True) -> PaymentProvider | None:
    """The configured implementation; ProviderNotAvailable (or None) otherwise."""
    if code not in enabled():
        if not required:
            return None

        raise ProviderNotAvailable(code)
    module, _, name = IMPLEMENTATIONS[code].rpartition(".")
    return getattr(import_module(module), name)()
