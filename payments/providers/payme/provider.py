"""Payme (Merchant API): the driver pays on Payme's checkout page, Payme calls us.

Settings (`settings.PAYME`):
- `merchant_id`: the web cash desk id (`m=` of the checkout link);
- `key`: the cash desk key; Payme authenticates with HTTP Basic `Paycom:<key>` (the sandbox
  uses the TEST_KEY: configure that one on a test installation). `ChangePassword` is not
  supported: the key is rotated by changing the environment, see `rpc.py`;
- `checkout_url`: `https://checkout.paycom.uz` (test: `https://checkout.test.paycom.uz`).

Outbound there is nothing to call: `create` only builds the checkout link, `status` and
`statement` answer from what Payme told us through the Merchant API (`rpc.py`), `cancel` is
not offered (Payme cancels by calling `CancelTransaction`).
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from django.conf import settings

from ...money import from_minor, to_minor
from ..base import (
    FAILED,
    PAID,
    PENDING,
    Checkout,
    NotSupported,
    PaymentProvider,
    ProviderRefused,
    RemoteStatus,
    StatementLine,
)
from . import rpc


def checkout_url(payment) -> str:
    """Payme's GET checkout link: base64 of `m=<merchant>;ac.order_id=<order>;a=<tiyin>`."""
    merchant = settings.PAYME.get("merchant_id", "")
    if not merchant:
        raise ProviderRefused("payme: PAYME merchant_id is not configured")
    params = f"m={merchant};ac.order_id={payment.order_id};a={to_minor(payment.amount, 'UZS')}"
    encoded = base64.b64encode(params.encode()).decode("ascii")
    return f"{settings.PAYME['checkout_url'].rstrip('/')}/{encoded}"


class PaymeProvider(PaymentProvider):
    code = "payme"
    currencies = ("UZS",)

    def create(self, payment) -> Checkout:
        if payment.currency not in self.currencies:
            raise ProviderRefused(f"payme takes UZS, not {payment.currency}")
        return Checkout(payment_url=checkout_url(payment))

    def status(self, payment) -> RemoteStatus:
        """The Merchant API has no status query: what Payme told us is the answer."""
        state = payment.provider_state or {}
        txn = payment.provider_transaction_id
        match state.get("state"):
            case rpc.PERFORMED:
                return RemoteStatus(PAID, txn, from_minor(state["amount"], "UZS"))
            case rpc.CANCELLED | rpc.CANCELLED_AFTER_PERFORM:
                return RemoteStatus(
                    FAILED, txn, detail=f"cancelled by Payme (reason {state.get('reason')})"
                )
            case rpc.CREATED if rpc.timed_out(state):
                return RemoteStatus(FAILED, txn, detail="Payme transaction timed out")
        return RemoteStatus(PENDING, txn)

    def cancel(self, payment) -> None:
        raise NotSupported("payme cancels by calling CancelTransaction; we cannot ask it to")

    def statement(self, since: datetime, until: datetime) -> list[StatementLine]:
        """The Payme transactions we hold whose Payme `time` is in [since, until] (what
        GetStatement answers), oldest first. Created-only ones are PENDING."""
        states = {rpc.PERFORMED: PAID, rpc.CREATED: PENDING}
        return [
            StatementLine(
                provider_transaction_id=p.provider_transaction_id,
                order_id=p.order_id,
                amount=from_minor(p.provider_state["amount"], "UZS"),
                state=states.get(p.provider_state["state"], FAILED),
                at=datetime.fromtimestamp(p.payme_time / 1000, tz=UTC),
            )
            for p in rpc.transactions_between(rpc.to_ms(since), rpc.to_ms(until))
        ]
