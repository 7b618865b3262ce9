"""OBANK: card top-ups on the bank's hosted payment page; XML over mutual TLS, we call them.

No card data ever passes through us: `create` registers an order and the driver types the
card on the bank's page. Documents are in `xml.py` (shape unconfirmed), the client
certificate and server verification in `tls.py`.

- `create` → CreateOrder: the bank's OrderID becomes the payment's provider transaction id,
  its SessionID is kept in `provider_state["obank_session_id"]` (every later call needs
  both), the hosted page is the checkout's `payment_url`.
- `status` → GetOrderStatus, mapped by `xml.REMOTE_STATES` (APPROVED = paid; CREATED /
  ON-PAYMENT / ON-LOCK / PREAUTH-APPROVED = pending; DECLINED / CANCELED / EXPIRED /
  REVERSED = failed; REFUNDED or anything else = unknown, nothing done). An amount or
  currency in the answer is checked by the crediting path.
- `cancel` → Reverse of the order (an unpaid one is closed; one paid in the meantime is
  given back to the card, and we do not credit it). Not registered at the bank: nothing.
- `refund` → Refund of the amount.
- `statement(since, until)` → the bank offers no list of operations that we know of, so it
  is a GetOrderStatus per OBANK payment of ours created or credited in [since, until)
  (every order at the bank is one we registered; one paid late is found by its credit):
  APPROVED → a PAID line; DECLINED / CANCELED / EXPIRED / REVERSED / REFUNDED → a FAILED
  line (the money is not with us); pending ones and orders the bank does not know have no
  line. A line's time is the bank's PayDate when it gives one, else our credit time, else
  the order's creation.

Every exchange is recorded in the payment audit log (request and answer, masked).
Transport trouble, 5xx, the bank's codes 96/97 and an unusable certificate configuration
raise ProviderUnavailable; any other answer than Status 00 raises ProviderRefused.
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from payments.payment_models import Payment
from payments.payment_records import event_record
from payments.providers import http
from payments.providers.base import (
    FAILED,
    PAID,
    UNKNOWN,
    Checkout,
    PaymentProvider,
    ProviderError,
    ProviderRefused,
    ProviderUnavailable,
    RemoteStatus,
    StatementLine,
)
from payments.providers.obank import tls, xml
from payments.providers.obank.tls import ObankConfigurationError

log = logging.getLogger("payments")

CODE = "obank"
SESSION = "obank_session_id"  # key in Payment.provider_state
HEADERS = {"Content-Type": "application/xml; charset=utf-8", "Accept": "application/xml"}
STATEMENT_FAILED = frozenset(
    {"DECLINED", "CANCELED", "CANCELLED", "EXPIRED", "REVERSED", "REFUNDED", "PARTIAL-REFUNDED"}
)


def _conf() -> dict:
    conf = settings.OBANK
    missing = [name for name in ("url", "merchant_id") if not conf.get(name)]
    if missing:
        raise ObankConfigurationError(f"obank: not configured ({', '.join(missing)})")
    if not conf["url"].startswith("https://"):
        raise ObankConfigurationError("obank: the url must be https")
    return conf


class ObankProvider(PaymentProvider):
    code = CODE
    currencies = ("KGS",)

    # -- operations ----------------------------------------------------------------------

    def create(self, payment) -> Checkout:
        conf = _conf()
        body, sent = xml.create_order(
            merchant=conf["merchant_id"],
            order_id=payment.order_id,
            amount=payment.amount,
            currency=payment.currency,
            description=f"EvPower top-up {payment.order_id}",
            return_url=conf.get("return_url") or "",
        )
        answer = self._exchange(payment, "CreateOrder", body, sent, idempotent=False)
        bank_id = answer.order.get("OrderID", "")
        session = answer.order.get("SessionID", "")
        page = answer.order.get("URL", "")
        if not (bank_id and session and page) or len(bank_id) > 64 or len(session) > 128:
            raise ProviderRefused("obank CreateOrder: the answer lacks OrderID, SessionID or URL")
        if not page.startswith("https://"):
            raise ProviderRefused("obank CreateOrder: the payment page is not https")
        return Checkout(
            provider_transaction_id=bank_id,
            payment_url=xml.hosted_page(page, bank_id, session),
            state={SESSION: session},
        )

    def status(self, payment) -> RemoteStatus:
        bank_id = payment.provider_transaction_id
        if not bank_id or not payment.provider_state.get(SESSION):
            return RemoteStatus(state=UNKNOWN, detail="not registered at the bank")
        state = self._order_state(payment)
        if not state.currency_ok:
            return RemoteStatus(
                state=UNKNOWN,
                provider_transaction_id=bank_id,
                detail="the bank answered in another currency",
            )
        return RemoteStatus(
            state=state.state,
            provider_transaction_id=bank_id,
            amount=state.amount,
            detail=xml.mask_text(state.bank_status.lower())[:60] or "no order status",
        )

    def cancel(self, payment) -> None:
        if not payment.provider_transaction_id or not payment.provider_state.get(SESSION):
            return  # never registered at the bank: nothing to close there
        body, sent = xml.reverse(
            merchant=_conf()["merchant_id"],
            bank_order_id=payment.provider_transaction_id,
            session_id=payment.provider_state[SESSION],
            description=f"EvPower top-up {payment.order_id} closed",
        )
        self._exchange(payment, "Reverse", body, sent, idempotent=False)

    def refund(self, payment, amount: Decimal) -> None:
        if not payment.provider_transaction_id or not payment.provider_state.get(SESSION):
            raise ProviderRefused("obank: the payment is not registered at the bank")
        body, sent = xml.refund(
            merchant=_conf()["merchant_id"],
            bank_order_id=payment.provider_transaction_id,
            session_id=payment.provider_state[SESSION],
            amount=amount,
            currency=payment.currency,
        )
        self._exchange(payment, "Refund", body, sent, idempotent=False)

    def statement(self, since: datetime, until: datetime) -> list[StatementLine]:

        lines = []
        window = Q(created_at__gte=since, created_at__lt=until) | Q(
            paid_at__gte=since, paid_at__lt=until
        )
        payments = (
            Payment.objects.filter(window, provider=CODE)
            .exclude(provider_transaction_id="")
            .order_by("id")
        )
        for payment in list(payments):
            if not payment.provider_state.get(SESSION):
                continue
            try:
                state = self._order_state(payment)
            except ProviderRefused:
                continue  # the bank does not know it: no line (reconciliation sees that)
            if state.state == PAID:
                kind = PAID
            elif state.bank_status in STATEMENT_FAILED:
                kind = FAILED
            else:
                continue
            lines.append(
                StatementLine(
                    provider_transaction_id=payment.provider_transaction_id,
                    order_id=payment.order_id,
                    amount=state.amount if state.amount is not None else payment.amount,
                    state=kind,
                    at=_when(state.paid_at) or payment.paid_at or payment.created_at,
                )
            )
        return lines

    # -- plumbing ------------------------------------------------------------------------

    def _order_state(self, payment) -> xml.OrderState:
        body, sent = xml.order_status(
            merchant=_conf()["merchant_id"],
            bank_order_id=payment.provider_transaction_id,
            session_id=payment.provider_state.get(SESSION, ""),
        )
        answer = self._exchange(payment, "GetOrderStatus", body, sent, idempotent=True)
        answered_id = answer.order.get("OrderID", "")
        if answered_id and answered_id != payment.provider_transaction_id:
            raise ProviderRefused("obank GetOrderStatus: the answer is about another order")
        try:
            return xml.order_state(answer, payment.currency)
        except xml.XmlError as exc:
            raise ProviderRefused(f"obank GetOrderStatus: {exc}") from None

    def _exchange(
        self, payment, operation: str, body: bytes, sent: dict, *, idempotent: bool
    ) -> xml.BankResponse:
        """One request to the bank over mutual TLS; recorded in the audit log either way."""
        answer: xml.BankResponse | None = None
        try:
            url = _conf()["url"]
            context = tls.ssl_context()
            response = http.call(
                CODE,
                lambda client: client.post(url, content=body, headers=HEADERS),
                idempotent=idempotent,
                client_kwargs={"verify": context},
            )
            if response.status_code != 200:
                raise ProviderRefused(
                    f"obank {operation}: HTTP {response.status_code}", code=response.status_code
                )
            try:
                answer = xml.parse_response(response.content)
            except xml.XmlError as exc:
                raise ProviderRefused(f"obank {operation}: unreadable answer ({exc})") from None
            if answer.status in xml.TRANSIENT_CODES:
                raise ProviderUnavailable(
                    f"obank {operation}: bank status {answer.status} {answer.message}".strip()
                )
            if not answer.ok:
                raise ProviderRefused(
                    f"obank {operation}: bank status {answer.status} {answer.message}".strip(),
                    code=answer.status,
                )
        except ProviderError as exc:
            message = xml.mask_text(str(exc))
            _record(
                payment,
                operation,
                sent,
                verified=False,
                answer={"error": message, **(answer.audit if answer else {})},
            )
            log.warning("obank %s for payment %s failed: %s", operation, payment.pk, message)
            raise
        _record(payment, operation, sent, verified=True, answer=answer.audit)
        return answer


def _record(payment, operation: str, sent: dict, *, verified: bool, answer: dict) -> None:

    event_record(
        provider=CODE,
        direction="out",
        kind=operation,
        verified=verified,
        payload=xml.mask(sent),
        answer=xml.mask(answer),
        payment=payment,
    )


def _when(text: str) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment
