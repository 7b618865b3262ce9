"""O!Dengi's side: the JSON API our client calls (payments/providers/odengi/client.py) and
what happens when the payer pays or declines the QR invoice.

API: every request is checked as O!Dengi checks it (our sid, the HMAC-MD5 `hash` over the
request) and every answer is signed the same way. Commands: createInvoice, statusPayment,
invoiceCancel, refundPaymentToEwallet, getHistoryCsv; anything else is an error answer.

Pay: the invoice becomes paid (a trans_id), then O!Dengi's callback goes to the invoice's
`result_url` with the HMAC-MD5 hash over `trans_id:::status_pay:::site_id:::...:::test`;
our callback asks statusPayment back here, which now answers "approved", and credits.
Decline: the invoice becomes "declined" and the same callback goes out (our side then
reads "declined" and closes the payment). Paying a paid invoice again delivers the
callback again, as O!Dengi's retries do: our side credits once.
"""

from __future__ import annotations

import hmac
import json
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.urls import reverse

from payments.providers.odengi import signing

from . import store
from .calls import Step, post

CODE = "odengi"
VERSION = 1005
BISHKEK = ZoneInfo("Asia/Bishkek")
PAID, PENDING, DECLINED, CANCELLED, REFUNDED = (
    "approved",
    "pending",
    "declined",
    "canceled",
    "refunded",
)


# -- the API ---------------------------------------------------------------------------------


def answer_request(body: bytes) -> dict:
    """One API request → O!Dengi's signed answer."""
    conf = settings.ODENGI
    try:
        message = json.loads(body)
    except ValueError:
        return _signed("", {"error": 1, "desc": "invalid json"})
    if not isinstance(message, dict):
        return _signed("", {"error": 1, "desc": "invalid request"})
    cmd = str(message.get("cmd", ""))
    if not hmac.compare_digest(str(message.get("sid", "")).encode(), conf["sid"].encode()):
        return _signed(cmd, {"error": 2, "desc": "unknown sid"})
    given = str(message.get("hash", "")).lower().encode()
    if not hmac.compare_digest(given, signing.message_hash(conf["password"], message).encode()):
        return _signed(cmd, {"error": 3, "desc": "invalid hash"})
    data = message.get("data") if isinstance(message.get("data"), dict) else {}
    handler = COMMANDS.get(cmd)
    if handler is None:
        return _signed(cmd, {"error": 4, "desc": f"unknown command {cmd}"})
    return _signed(cmd, handler(data))


def _signed(cmd: str, data: dict) -> dict:
    answer = {
        "cmd": cmd,
        "version": VERSION,
        "sid": settings.ODENGI["sid"],
        "mktime": str(int(time.time() * 1000)),
        "data": data,
    }
    return signing.sign(settings.ODENGI["password"], answer)


def _create_invoice(data: dict) -> dict:
    try:
        amount = int(str(data.get("amount")))
    except ValueError:
        return {"error": 5, "desc": "amount must be an integer in tyiyn"}
    if not data.get("order_id") or amount <= 0:
        return {"error": 5, "desc": "order_id and a positive amount are required"}
    invoice_id = store.new_id(digits=12)
    invoice = {
        "invoice_id": invoice_id,
        "order_id": str(data["order_id"]),
        "amount": amount,
        "currency": str(data.get("currency") or "KGS"),
        "desc": str(data.get("desc", "")),
        "result_url": data.get("result_url") or "",
        "status": PENDING,
        "trans_id": "",
        "paid_at": "",
    }
    store.save(CODE, "invoice", invoice_id, invoice)
    store.save(CODE, "order", invoice["order_id"], {"invoice_id": invoice_id})
    store.add_to_index(CODE, invoice_id)
    page = settings.PAYMENT_SANDBOX_URL + reverse("sandbox-odengi-pay", args=[invoice_id])
    emv = f"000201010212{invoice_id}5303417540{len(str(amount)):02d}{amount}6304SBOX"
    return {
        "invoice_id": invoice_id,
        "site_pay": page,
        "emv_qr_data": emv,
        "link_app": f"odengi://pay?invoice_id={invoice_id}",
    }


def _find(data: dict) -> dict | None:
    invoice_id = str(data.get("invoice_id") or "")
    if not invoice_id and data.get("order_id"):
        invoice_id = (store.load(CODE, "order", str(data["order_id"])) or {}).get("invoice_id", "")
    return store.load(CODE, "invoice", invoice_id) if invoice_id else None


def _status(data: dict) -> dict:
    invoice = _find(data)
    if invoice is None:
        return {"error": 6, "desc": "invoice not found"}
    return {
        "invoice_id": invoice["invoice_id"],
        "order_id": invoice["order_id"],
        "status": invoice["status"],
        "amount": invoice["amount"],
        "currency": invoice["currency"],
        "trans_id": invoice["trans_id"],
    }


def _cancel(data: dict) -> dict:
    invoice = _find(data)
    if invoice is None:
        return {"error": 6, "desc": "invoice not found"}
    if invoice["status"] == PENDING:
        invoice["status"] = CANCELLED
        store.save(CODE, "invoice", invoice["invoice_id"], invoice)
    return {"invoice_id": invoice["invoice_id"], "status": invoice["status"]}


def _refund(data: dict) -> dict:
    trans_id = str(data.get("trans_id") or "")
    for invoice_id in store.index(CODE):
        invoice = store.load(CODE, "invoice", invoice_id)
        if invoice and trans_id and invoice["trans_id"] == trans_id:
            if invoice["status"] != PAID:
                return {"error": 7, "desc": f"payment is {invoice['status']}"}
            invoice["status"] = REFUNDED
            store.save(CODE, "invoice", invoice_id, invoice)
            return {"trans_id": trans_id, "status": REFUNDED}
    return {"error": 6, "desc": "payment not found"}


def _history(data: dict) -> dict:
    """getHistoryCsv: the paid and declined invoices of the period, inline."""
    lines = ["trans_id;invoice_id;order_id;amount;status;date"]
    since, until = str(data.get("date_from", "")), str(data.get("date_to", ""))
    for invoice_id in store.index(CODE):
        invoice = store.load(CODE, "invoice", invoice_id)
        if not invoice or not invoice["paid_at"] or invoice["status"] == PENDING:
            continue
        if since <= invoice["paid_at"] <= until:
            lines.append(
                ";".join(
                    [
                        invoice["trans_id"],
                        invoice_id,
                        invoice["order_id"],
                        str(invoice["amount"]),
                        invoice["status"],
                        invoice["paid_at"],
                    ]
                )
            )
    return {"csv": "\n".join(lines) + "\n"}


COMMANDS = {
    "createInvoice": _create_invoice,
    "statusPayment": _status,
    "invoiceCancel": _cancel,
    "refundPaymentToEwallet": _refund,
    "getHistoryCsv": _history,
}


# -- the payer ---------------------------------------------------------------------------------


def invoice(invoice_id: str) -> dict | None:
    return store.load(CODE, "invoice", invoice_id)


def pay(invoice_id: str) -> list[Step]:
    record = invoice(invoice_id)
    if record["status"] == PENDING:
        record.update(status=PAID, trans_id=store.new_id(digits=10), paid_at=_local_now())
        store.save(CODE, "invoice", invoice_id, record)
    elif record["status"] != PAID:
        return [Step(f"nothing to pay: the invoice is {record['status']}", 0, "")]
    return [_callback(record)]


def decline(invoice_id: str) -> list[Step]:
    record = invoice(invoice_id)
    if record["status"] != PENDING:
        return [Step(f"nothing to decline: the invoice is {record['status']}", 0, "")]
    # a declined attempt is a transaction at O!Dengi too: the callback names it
    record.update(status=DECLINED, trans_id=store.new_id(digits=10), paid_at=_local_now())
    store.save(CODE, "invoice", invoice_id, record)
    return [_callback(record)]


def _callback(record: dict) -> Step:
    """O!Dengi's notification to the invoice's result_url, signed as O!Dengi signs it."""
    fields = {
        "trans_id": record["trans_id"],
        "status_pay": "1" if record["status"] == PAID else "0",
        "site_id": settings.ODENGI["sid"],
        "order_id": record["order_id"],
        "amount": str(record["amount"]),
        "currency": record["currency"],
        "mktime": str(int(time.time() * 1000)),
        "test": "1",
    }
    fields["hash"] = signing.callback_hash(settings.ODENGI["password"], fields)
    target = record["result_url"] or reverse("odengi-callback")
    return post("O!Dengi's callback", target, json=fields)


def _local_now() -> str:
    return datetime.now(BISHKEK).strftime("%Y-%m-%d %H:%M:%S")
