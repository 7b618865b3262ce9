"""OBANK's inbound side: POST /api/v1/payments/obank/notify (the bank) and
GET|POST /api/v1/payments/obank/return (the driver's browser back from the payment page).

How the bank authenticates a notification is unconfirmed, so neither is believed: each is
only a trigger. The payment it names (`xml.parse_notification`) is looked up, and while it
is not credited yet the bank is ASKED over mutual TLS (`payments.topups.payment_sync`);
only that answer credits, through the one crediting path. Anyone may therefore send one:
it costs a status query for a payment that exists and is not paid yet, nothing more.

Answers (notify, XML, `xml.notification_answer`): 200 Status 00 — done (credited now or
before, or still pending at the bank); 400 Status 30 — unreadable / names no order;
404 Status 01 — no such OBANK order (nothing written but the audit line); 409 Status 05 —
the bank's own answer disagrees with the payment (amount or id; logged for a person);
503 Status 96 — the bank could not be asked now, send it again.
Every message is recorded in the payment audit log (masked, verified=False: nothing in it
is authenticated; the status query that follows is recorded as verified).
"""

from __future__ import annotations

import logging

from django.db.models import Q
from django.http import HttpResponse
from drf_spectacular.utils import extend_schema

from payments import errors
from payments.callbacks.endpoint import ProviderEndpoint
from payments.payment_models import Payment
from payments.payment_records import event_record
from payments.providers.base import ProviderError
from payments.providers.obank import xml
from payments.topups import payment_sync

log = logging.getLogger("payments")
CODE = "obank"
Status = Payment.Status

DONE, UNREADABLE, NOT_FOUND, MISMATCH, RETRY = "00", "30", "01", "05", "96"
HTTP_STATUS = {DONE: 200, UNREADABLE: 400, NOT_FOUND: 404, MISMATCH: 409, RETRY: 503}


def _find(notification: xml.Notification) -> Payment | None:
    match = Q()
    if notification.order_id:
        match |= Q(order_id=notification.order_id)
    if notification.bank_order_id:
        match |= Q(provider_transaction_id=notification.bank_order_id)
    found = list(Payment.objects.filter(match, provider=CODE)[:2])
    return found[0] if len(found) == 1 else None  # two different payments named: neither


def _trigger(payment: Payment) -> str:
    """Ask the bank about a payment not credited yet and apply its answer; an answer code."""
    if payment.status in (Status.PAID, Status.REFUNDED):
        return DONE
    try:
        payment_sync(payment_id=payment.pk)
    except ProviderError as exc:
        log.warning(
            "obank: payment %s could not be checked now: %s", payment.pk, xml.mask_text(str(exc))
        )
        return RETRY
    except (errors.AmountMismatch, errors.ProviderTransactionMismatch) as exc:
        log.error(
            "obank: payment %s: the bank's status disagrees (%s %s); not credited",
            payment.pk,
            exc.code,
            xml.mask(exc.details),
        )
        return MISMATCH
    return DONE


def _handle(request, kind: str) -> tuple[str, Payment | None]:
    remote_addr = request.META.get("REMOTE_ADDR", "")
    query = {k: v for k, v in request.GET.items()}
    payment = None
    audit: dict = {}
    code = UNREADABLE
    try:
        try:
            notification = xml.parse_notification(request.body, query)
        except xml.XmlError as exc:
            audit = {
                "error": str(exc)[:200],
                "query": xml.mask(query),
                "body": xml.mask_text(request.body[:2000].decode("utf-8", "replace")),
            }
            return code, None
        audit, code = notification.audit, "error"  # until answered (an unexpected failure)
        payment = _find(notification)
        if payment is None:
            code = NOT_FOUND
            return code, None
        code = _trigger(payment)
        payment.refresh_from_db()
        return code, payment
    finally:
        event_record(
            provider=CODE,
            direction="in",
            kind=kind,
            verified=False,
            payload=xml.mask(audit),
            answer={"status": code},
            payment=payment,
            remote_addr=remote_addr,
        )


class NotifyView(ProviderEndpoint):
    """The bank says something happened to an order: ask it (see the module doc)."""

    @extend_schema(exclude=True)  # the provider's protocol, not the driver API
    def post(self, request):
        code, _ = _handle(request, "notify")
        return HttpResponse(
            xml.notification_answer(code),
            status=HTTP_STATUS[code],
            content_type="application/xml; charset=utf-8",
        )


PAGE = (
    '<!doctype html><html><head><meta charset="utf-8"><title>EvPower</title></head>'
    "<body><p>{text}</p></body></html>"
)
TEXTS = {
    Status.PAID: "Оплата получена. Вернитесь в приложение EvPower. / "
    "Payment received. Please return to the EvPower app.",
    "open": "Платёж обрабатывается. Вернитесь в приложение EvPower. / "
    "The payment is being processed. Please return to the EvPower app.",
    "closed": "Платёж не выполнен. Вернитесь в приложение EvPower. / "
    "The payment did not go through. Please return to the EvPower app.",
}


class ReturnView(ProviderEndpoint):
    """The driver's browser back from the bank's page (ApproveURL / DeclineURL / CancelURL,
    with ?order=<our order id>): the same trigger, then a short page pointing to the app."""

    @extend_schema(exclude=True)  # the provider's protocol, not the driver API
    def get(self, request):
        code, payment = _handle(request, "return")
        if payment is None:
            return HttpResponse(
                PAGE.format(text="Платёж не найден. / Payment not found."), status=HTTP_STATUS[code]
            )  # 404, or 400 if unreadable
        if payment.status in (Status.PAID, Status.REFUNDED):
            text = TEXTS[Status.PAID]
        elif payment.status in Payment.OPEN_STATUSES:
            text = TEXTS["open"]
        else:
            text = TEXTS["closed"]
        return HttpResponse(PAGE.format(text=text))

    @extend_schema(exclude=True)  # the provider's protocol, not the driver API
    def post(self, request):
        return self.get(request)
