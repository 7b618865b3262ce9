"""Click (Uzbekistan, UZS): the driver pays on Click's page; Click calls our SHOP API
(`shop.py`: Prepare, then Complete) and that is what credits the wallet. Outbound we only
build the payment link and use Click's Merchant API to read a payment's status and to
reverse a paid one.

Settings (`settings.CLICK`): `service_id`, `merchant_id`, `merchant_user_id`, `secret_key`
(signs both directions), `pay_url` (the payment page), `api_url` (Merchant API base,
`https://api.click.uz/v2/merchant`), optional `return_url` (where Click sends the driver
back after paying).

Merchant API: header `Auth: <merchant_user_id>:<sha1(timestamp + secret_key)>:<timestamp>`;
`GET payment/status_by_mti/{service_id}/{merchant_trans_id}/{YYYY-MM-DD}` (the day the
payment was made at Click) → `error_code`, `payment_id`, and (per the parameter table, not
the example) `payment_status`; `GET payment/status/{service_id}/{payment_id}` →
`payment_status`; `DELETE payment/reversal/{service_id}/{payment_id}` reverses a paid
payment (whole amount; only in the month it was made, card payments).

Assumptions (unconfirmed, kept here in one place):
- `payment_status`: 2 = paid, < 0 = failed / cancelled, 0 and 1 (created, processing) =
  pending — Click's status table for its payment button and CLICK Pass.
- A non-zero `error_code` or HTTP 404 from status_by_mti means Click has no such payment
  (yet): reported as unknown, which changes nothing.
- The day asked for is the date part of the `sign_time` Click sent with its Prepare (Click's
  local time); before any Prepare, the day the payment was created in Tashkent time.
- Click's statuses carry no amount: the statement reports our amount (Prepare already
  refused any other amount with -2).
"""

from __future__ import annotations

import hashlib
import time
from datetime import date, datetime
from decimal import Decimal
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

import httpx
from django.conf import settings
from django.db.models import Q

from payments.payment_records import event_record

from ...payment_models import Payment, PaymentEvent, Provider
from .. import http
from ..base import (
    FAILED,
    PAID,
    PENDING,
    UNKNOWN,
    Checkout,
    NotSupported,
    PaymentProvider,
    ProviderError,
    ProviderRefused,
    ProviderUnavailable,
    RemoteStatus,
    StatementLine,
)
from .shop import STATE_PREPARED_AT, STATE_SIGN_TIME

CLICK_TZ = ZoneInfo("Asia/Tashkent")  # Click's dates (sign_time, status_by_mti day)
PAID_STATUS = 2


def _config() -> dict:
    config = settings.CLICK
    missing = [
        k
        for k in (
            "service_id",
            "merchant_id",
            "merchant_user_id",
            "secret_key",
            "pay_url",
            "api_url",
        )
        if not config.get(k)
    ]
    if missing:
        raise ProviderError(f"click is not configured: {', '.join(missing)} missing")
    return config


def auth_header(merchant_user_id: str, secret_key: str, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hashlib.sha1(f"{timestamp}{secret_key}".encode(), usedforsecurity=False).hexdigest()
    return f"{merchant_user_id}:{digest}:{timestamp}"


def payment_day(payment: Payment) -> date:
    """The day Click files the payment under (see the module docstring)."""
    sign_time = str(payment.provider_state.get(STATE_SIGN_TIME) or "")
    try:
        return date.fromisoformat(sign_time[:10])
    except ValueError:
        return payment.created_at.astimezone(CLICK_TZ).date()


def _prepared_at(payment: Payment) -> datetime | None:
    try:
        return datetime.fromisoformat(payment.provider_state.get(STATE_PREPARED_AT) or "")
    except (TypeError, ValueError):
        return None


def map_status(payment_status) -> str:
    try:
        value = int(payment_status)
    except (TypeError, ValueError):
        return UNKNOWN
    if value == PAID_STATUS:
        return PAID
    if value < 0:
        return FAILED
    return PENDING


class ClickProvider(PaymentProvider):
    code = "click"
    currencies = ("UZS",)

    # -- the payment page --------------------------------------------------------------

    def create(self, payment: Payment) -> Checkout:
        config = _config()
        query = {
            "service_id": config["service_id"],
            "merchant_id": config["merchant_id"],
            "amount": f"{payment.amount:.2f}",
            "transaction_param": payment.order_id,
        }
        if config.get("return_url"):
            query["return_url"] = config["return_url"]
        return Checkout(payment_url=f"{config['pay_url']}?{urlencode(query)}")

    # -- Merchant API ------------------------------------------------------------------

    def status(self, payment: Payment) -> RemoteStatus:
        found = self._status_by_mti(payment)
        if found is None:
            return RemoteStatus(UNKNOWN, detail="not found at Click")
        payment_id, payment_status = found
        if payment_status is None:
            body = self._get(
                f"payment/status/{_config()['service_id']}/{payment_id}",
                payment=payment,
                kind="payment_status",
            )
            if body is None or _error_code(body) != 0:
                note = (body or {}).get("error_note", "not found")
                return RemoteStatus(UNKNOWN, detail=f"click payment {payment_id}: {note}")
            payment_status = body.get("payment_status")
        return RemoteStatus(
            map_status(payment_status),
            detail=f"click payment {payment_id}, payment_status {payment_status}",
        )

    def cancel(self, payment: Payment) -> None:
        # Click has no "cancel an unpaid payment" call: an unpaid one is cancelled by Click
        # itself (a Complete with an error); a paid one is given back with `refund`.
        raise NotSupported(
            "click: an open payment cannot be cancelled at Click "
            "(a paid one is reversed with refund)"
        )

    def refund(self, payment: Payment, amount: Decimal) -> None:
        if Decimal(amount) != payment.amount:
            raise NotSupported("click reverses whole payments only")
        found = self._status_by_mti(payment)
        if found is None:
            raise ProviderRefused("click: payment not found at Click", code="not_found")
        payment_id, _ = found
        config = _config()
        path = f"payment/reversal/{config['service_id']}/{payment_id}"
        response = self._send("DELETE", path, idempotent=False)
        body = _json(response)
        self._record(payment, "payment_reversal", {"path": path}, response, body)
        if response.status_code != 200 or body is None or _error_code(body) != 0:
            note = (body or {}).get("error_note") or f"HTTP {response.status_code}"
            raise ProviderRefused(
                f"click reversal refused: {note}",
                code=(body or {}).get("error_code", response.status_code),
            )

    def statement(self, since: datetime, until: datetime) -> list[StatementLine]:
        """Click has no statement call: ask the status of each of our Click payments
        created or credited in [since, until) and list those Click reports paid or failed.
        A line's time is when we credited it, else Click's Prepare, else our creation."""
        window = Q(created_at__gte=since, created_at__lt=until) | Q(
            paid_at__gte=since, paid_at__lt=until
        )
        lines = []
        for payment in Payment.objects.filter(window, provider=Provider.CLICK).order_by("id"):
            remote = self.status(payment)
            if remote.state not in (PAID, FAILED):
                continue
            lines.append(
                StatementLine(
                    provider_transaction_id=payment.provider_transaction_id,
                    order_id=payment.order_id,
                    amount=payment.amount,
                    state=remote.state,
                    at=payment.paid_at or _prepared_at(payment) or payment.created_at,
                )
            )
        return lines

    # -- plumbing ----------------------------------------------------------------------

    def _status_by_mti(self, payment: Payment) -> tuple[str, object] | None:
        """Click's payment id and (when given) its payment_status, or None if unknown."""
        config = _config()
        path = (
            f"payment/status_by_mti/{config['service_id']}/"
            f"{quote(payment.order_id, safe='')}/{payment_day(payment).isoformat()}"
        )
        body = self._get(path, payment=payment, kind="status_by_mti")
        if body is None or _error_code(body) != 0 or not body.get("payment_id"):
            return None
        return str(body["payment_id"]), body.get("payment_status")

    def _get(self, path: str, *, payment: Payment, kind: str) -> dict | None:
        """A GET to the Merchant API: its JSON, or None for 404 (unknown to Click)."""
        response = self._send("GET", path, idempotent=True)
        body = _json(response)
        self._record(payment, kind, {"path": path}, response, body)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise ProviderRefused(
                f"click {kind}: HTTP {response.status_code}", code=response.status_code
            )
        if body is None:
            raise ProviderUnavailable(f"click {kind}: unreadable answer")
        return body

    def _send(self, method: str, path: str, *, idempotent: bool) -> httpx.Response:
        config = _config()
        url = f"{config['api_url'].rstrip('/')}/{path}"

        def request(client: httpx.Client) -> httpx.Response:
            headers = {
                "Accept": "application/json",
                "Content-Type": "application/json",
                "Auth": auth_header(config["merchant_user_id"], config["secret_key"]),
            }
            return client.request(method, url, headers=headers)

        return http.call(self.code, request, idempotent=idempotent)

    @staticmethod
    def _record(
        payment: Payment, kind: str, sent: dict, response: httpx.Response, body: dict | None
    ) -> None:
        event_record(
            provider=Provider.CLICK,
            direction=PaymentEvent.Direction.OUT,
            kind=kind,
            verified=True,
            payment=payment,
            payload=sent,  # no Auth header stored
            answer={"http_status": response.status_code, "body": body},
        )


def _error_code(body: dict) -> int:
    """Click's error_code (0 = ok); anything missing or unreadable counts as an error."""
    try:
        return int(body.get("error_code"))
    except (TypeError, ValueError):
        return -1


def _json(response: httpx.Response) -> dict | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
