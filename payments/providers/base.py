"""The one interface every payment provider implements (docs/product.md §5).

Outbound (we call them): `create` a payment and return what the app shows, `status` of a
payment, `cancel`, `refund` where supported, `statement` for reconciliation. Inbound (they
call us) is each provider's own endpoint (`payments/providers/<name>/views.py`), which
verifies the raw request before anything is written and then calls the shared services in
`payments.topups` — the one crediting path.

Implementations raise `ProviderUnavailable` for anything transport-like (timeouts,
refused connections, 5xx, an open circuit breaker) and `ProviderRefused` when the
provider answered with an error; `NotSupported` for an operation it does not offer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from ..payment_models import Payment


class ProviderError(Exception):
    pass


class ProviderUnavailable(ProviderError):
    """Could not reach the provider, or it failed (timeouts, 5xx, circuit open)."""


class ProviderRefused(ProviderError):
    """The provider answered, with an error."""

    def __init__(self, message: str, code: str | int | None = None):
        super().__init__(message)
        self.code = code


class NotSupported(ProviderError):
    pass


@dataclass(frozen=True)
class Checkout:
    """What the app needs to let the driver pay, and the provider's ids."""

    provider_transaction_id: str = ""  # when the provider assigns it at creation
    payment_url: str = ""  # a web page (card form, checkout)
    deep_link: str = ""  # opens the provider's app
    qr_url: str = ""  # an image of the QR code
    qr_payload: str = ""  # the QR's content (EMV), for apps that draw it themselves
    state: dict = field(default_factory=dict)  # provider-specific, kept on the payment

    def as_dict(self) -> dict:
        return {
            k: v
            for k, v in (
                ("payment_url", self.payment_url),
                ("deep_link", self.deep_link),
                ("qr_url", self.qr_url),
                ("qr_payload", self.qr_payload),
            )
            if v
        }


PAID, PENDING, FAILED, UNKNOWN = "paid", "pending", "failed", "unknown"


@dataclass(frozen=True)
class RemoteStatus:
    state: str  # PAID | PENDING | FAILED | UNKNOWN
    provider_transaction_id: str = ""
    amount: Decimal | None = None  # major units, when the provider says
    detail: str = ""


@dataclass(frozen=True)
class StatementLine:
    """One payment as the provider's statement has it."""

    provider_transaction_id: str
    order_id: str
    amount: Decimal
    state: str  # PAID | FAILED (cancelled, reversed...)
    at: datetime


class PaymentProvider:
    code: ClassVar[str]
    currencies: ClassVar[tuple[str, ...]]

    def create(self, payment: Payment) -> Checkout:
        raise NotImplementedError

    def status(self, payment: Payment) -> RemoteStatus:
        raise NotImplementedError

    def cancel(self, payment: Payment) -> None:
        raise NotSupported(f"{self.code} cannot cancel a payment")

    def refund(self, payment: Payment, amount: Decimal) -> None:
        raise NotSupported(f"{self.code} cannot refund")

    def statement(self, since: datetime, until: datetime) -> list[StatementLine]:
        raise NotImplementedError
