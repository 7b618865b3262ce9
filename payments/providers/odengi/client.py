"""O!Dengi QR invoices: the calls we make (the callback is in views.py).

Every request is a JSON POST to settings.ODENGI["url"]:
`{cmd, version: 1005, sid, mktime, lang, data, hash}` signed as in signing.py; the body
sent is exactly the signed serialisation. Answers are `{…, data, hash}`; `data.error`
(with `data.desc`) is a refusal. Settings: ODENGI = {url, sid, password, result_url}
(optional "lang", default "ru"). Every call is appended to the payment audit
(PaymentEvent, direction "out", kind = the command; `verified` = the answer's hash
verified).

Decisions where the protocol is not confirmed (change them here, in one place):
- Answer hash: verified when present (see signing.py); a mismatch refuses the answer.
  An answer whose `sid` is not ours is refused too.
- createInvoice sends order_id, desc, amount (tyiyn), currency "KGS", date_life
  (payment.expires_at in Bishkek local time, TIME_FORMAT) and result_url
  (settings.ODENGI["result_url"], else https://<first concrete ALLOWED_HOSTS entry> +
  our callback path, else null: the cabinet's URL is used). Read back: invoice_id
  (required), qr image URL (`qr` / `qr_url` / `emv_qr` when it is a URL), EMV payload
  (`emv_qr_data` / `emv_qr` / `qr_data` / `qr` when it starts with "000201", or the
  "#000201…" fragment of a pay link), deep link (`link_app`), web page (`site_pay` /
  `paylink_url`). Our Payment.provider_transaction_id is the invoice_id.
- statusPayment `status` (string): only "approved" / "paid" is PAID; "canceled",
  "cancelled", "declined", "rejected", "expired", "failed" are FAILED; "pending",
  "processing", "new", "created", "waiting" are PENDING; anything else is UNKNOWN (no
  change). The numeric `status_pay` is NOT used: sources disagree on its codes. When the
  answer has a `payments` list, each entry is read the same way (an entry for another
  order or invoice is ignored). Amounts are in tyiyn; without one, the invoice's own
  amount is taken (an O!Dengi invoice is for a fixed amount).
- refund: refundPaymentToEwallet {trans_id, amount in tyiyn}, on any day and for any
  amount. voidPayment (same-day full cancellation) is not used: its day boundary is not
  documented and one path is easier to reconcile. The O!Dengi trans_id is read from
  statusPayment at refund time (provider_state["trans_id"] is used when present).
- getHistoryCsv {date_from, date_to} (Bishkek local time, TIME_FORMAT) answers the CSV
  inline (`data.csv`) or a link to it (`data.link` / `url` / `file` / `csv_url`; https or
  the API's own origin), fetched with a GET. Expected CSV (delimiter ";" or "," or tab,
  UTF-8 or cp1251, a header row, columns in any order, names case-insensitive):
      trans_id;invoice_id;order_id;amount;status;date
  `amount` in tyiyn; `status` read as for statusPayment (pending / unknown rows are
  skipped); `date` "YYYY-MM-DD HH:MM:SS" (or "DD.MM.YYYY HH:MM:SS") Bishkek time.
  trans_id and invoice_id are optional (at least one of them); the line's
  provider_transaction_id is the invoice_id when given (what we store), else trans_id.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from datetime import datetime
from decimal import Decimal
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

import httpx
from django.conf import settings
from django.urls import NoReverseMatch, reverse

from payments.payment_records import event_record

from ...money import from_minor, minor_units_from_text, to_minor
from ...payment_models import PaymentEvent
from .. import http
from ..base import (
    FAILED,
    PAID,
    PENDING,
    UNKNOWN,
    Checkout,
    PaymentProvider,
    ProviderRefused,
    ProviderUnavailable,
    RemoteStatus,
    StatementLine,
)
from . import signing

log = logging.getLogger("payments.odengi")

CODE = "odengi"
VERSION = 1005
LOCAL_TZ = ZoneInfo("Asia/Bishkek")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
CSV_TIME_FORMATS = (TIME_FORMAT, "%d.%m.%Y %H:%M:%S")
EMV_PREFIX = "000201"  # EMV QR: payload format indicator "01"

PAID_STATUSES = frozenset({"approved", "paid"})
FAILED_STATUSES = frozenset({"canceled", "cancelled", "declined", "rejected", "expired", "failed"})
PENDING_STATUSES = frozenset({"pending", "processing", "new", "created", "waiting"})

CSV_COLUMNS = {
    "trans_id": ("trans_id",),
    "invoice_id": ("invoice_id",),
    "order_id": ("order_id",),
    "amount": ("amount",),
    "status": ("status",),
    "date": ("date", "date_pay", "dt"),
}
CSV_REQUIRED = ("order_id", "amount", "status", "date")
CSV_LINK_KEYS = ("link", "url", "file", "csv_url")

MASKED_KEYS = frozenset(
    {"password", "passw", "mobile", "phone", "account", "account_id", "pan", "card", "card_number"}
)


def masked(value):
    """A copy for the audit log: personal and secret fields replaced."""
    if isinstance(value, dict):
        return {k: "***" if str(k).lower() in MASKED_KEYS else masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v) for v in value]
    return value


def local_time(moment: datetime) -> str:
    return moment.astimezone(LOCAL_TZ).strftime(TIME_FORMAT)


def state_of(status) -> str:
    word = str(status or "").strip().lower()
    if word in PAID_STATUSES:
        return PAID
    if word in FAILED_STATUSES:
        return FAILED
    if word in PENDING_STATUSES:
        return PENDING
    return UNKNOWN


def callback_url() -> str | None:
    """Where O!Dengi should call us: the configured result_url, else our callback on the
    first concrete host we serve, else None (the merchant cabinet's URL applies)."""
    configured = settings.ODENGI.get("result_url") or ""
    if configured:
        return configured
    try:
        path = reverse("odengi-callback")
    except NoReverseMatch:
        return None
    hosts = [h for h in settings.ALLOWED_HOSTS if h and "*" not in h and not h.startswith(".")]
    return f"https://{hosts[0]}{path}" if hosts else None


class ODengiProvider(PaymentProvider):
    code = CODE
    currencies = ("KGS",)

    # -- the PaymentProvider interface ---------------------------------------------------

    def create(self, payment) -> Checkout:
        data = self._command(
            "createInvoice",
            {
                "order_id": payment.order_id,
                "desc": f"EvPower: пополнение баланса на {payment.amount} {payment.currency}",
                "amount": to_minor(payment.amount, payment.currency),
                "currency": payment.currency,
                "date_life": local_time(payment.expires_at),
                "result_url": callback_url(),
            },
            payment=payment,
            idempotent=False,
        )
        invoice_id = str(data.get("invoice_id") or "")
        if not invoice_id:
            raise ProviderRefused("createInvoice answered without an invoice_id")
        strings = {k: v for k, v in data.items() if isinstance(v, str) and v}
        urls = [strings.get(k, "") for k in ("qr", "qr_url", "emv_qr")]
        links = [strings.get(k, "") for k in ("site_pay", "paylink_url")]
        return Checkout(
            provider_transaction_id=invoice_id,
            qr_url=next((u for u in urls if u.startswith(("https://", "http://"))), ""),
            qr_payload=_emv_payload(strings),
            deep_link=strings.get("link_app", ""),
            payment_url=next((u for u in links if u.startswith(("https://", "http://"))), ""),
            state={"invoice_id": invoice_id},
        )

    def status(self, payment) -> RemoteStatus:
        data = self._command(
            "statusPayment", self._invoice_ref(payment), payment=payment, idempotent=True
        )
        entries = self._entries_for(payment, data)
        states = [(state_of(entry.get("status")), entry) for entry in entries]
        for state, entry in states:
            if state == PAID:
                return RemoteStatus(
                    PAID,
                    provider_transaction_id=str(
                        entry.get("invoice_id") or payment.provider_transaction_id or ""
                    ),
                    amount=_amount(entry.get("amount")),
                    detail=f"status {entry.get('status')!r}",
                )
        shown = ", ".join(repr(entry.get("status")) for entry in entries) or "none"
        for wanted in (PENDING, FAILED):  # anything still pending keeps it open
            if any(state == wanted for state, _ in states):
                return RemoteStatus(wanted, detail=f"status {shown}")
        return RemoteStatus(UNKNOWN, detail=f"status {shown}")

    def cancel(self, payment) -> None:
        if not payment.provider_transaction_id:
            return  # never reached O!Dengi: nothing to cancel there
        self._command(
            "invoiceCancel",
            {"invoice_id": payment.provider_transaction_id},
            payment=payment,
            idempotent=True,
        )

    def refund(self, payment, amount: Decimal) -> None:
        trans_id = payment.provider_state.get("trans_id") or self._trans_id(payment)
        if not trans_id:
            raise ProviderRefused("no O!Dengi trans_id known for this payment")
        self._command(
            "refundPaymentToEwallet",
            {"trans_id": trans_id, "amount": to_minor(amount, payment.currency)},
            payment=payment,
            idempotent=False,
        )

    def statement(self, since: datetime, until: datetime) -> list[StatementLine]:
        data = self._command(
            "getHistoryCsv",
            {"date_from": local_time(since), "date_to": local_time(until)},
            idempotent=True,
        )
        text = data.get("csv")
        if not isinstance(text, str) or not text.strip():
            text = self._download(data)
        return [line for line in parse_history_csv(text) if since <= line.at < until]

    # -- helpers -------------------------------------------------------------------------

    @staticmethod
    def _invoice_ref(payment) -> dict:
        ref = {"order_id": payment.order_id}
        if payment.provider_transaction_id:
            ref = {"invoice_id": payment.provider_transaction_id, **ref}
        return ref

    @staticmethod
    def _entries_for(payment, data: dict) -> list[dict]:
        """The answer's entries that are about this payment (a `payments` list or the
        answer itself)."""
        entries = data.get("payments")
        if not isinstance(entries, list) or not entries:
            entries = [data]
        mine = []
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            order, invoice = str(entry.get("order_id") or ""), str(entry.get("invoice_id") or "")
            if (order and order != payment.order_id) or (
                invoice
                and payment.provider_transaction_id
                and invoice != payment.provider_transaction_id
            ):
                log.warning(
                    "odengi: statusPayment for %s answered about order %r invoice %r",
                    payment.order_id,
                    order,
                    invoice,
                )
                continue
            mine.append(entry)
        return mine

    def _trans_id(self, payment) -> str:
        data = self._command(
            "statusPayment", self._invoice_ref(payment), payment=payment, idempotent=True
        )
        for entry in self._entries_for(payment, data):
            if state_of(entry.get("status")) == PAID and entry.get("trans_id"):
                return str(entry["trans_id"])
        return ""

    def _download(self, data: dict) -> str:
        link = next(
            (data[k] for k in CSV_LINK_KEYS if isinstance(data.get(k), str) and data[k]), ""
        )
        if not link:
            raise ProviderRefused("getHistoryCsv answered neither a CSV nor a link")
        api, target = urlsplit(settings.ODENGI["url"]), urlsplit(link)
        if target.scheme != "https" and (target.scheme, target.netloc) != (api.scheme, api.netloc):
            raise ProviderRefused("getHistoryCsv link is neither https nor the API's origin")
        response = http.call(CODE, lambda client: client.get(link), idempotent=True)
        if response.status_code >= 400:
            raise ProviderRefused(
                f"CSV download: HTTP {response.status_code}", code=response.status_code
            )
        try:
            return response.content.decode("utf-8-sig")
        except UnicodeDecodeError:
            return response.content.decode("cp1251")

    def _command(self, cmd: str, data: dict, *, payment=None, idempotent: bool) -> dict:
        """Send one signed command; its `data` answer, or ProviderUnavailable /
        ProviderRefused. Audited either way."""
        conf = settings.ODENGI
        sid, password = conf.get("sid") or "", conf.get("password") or ""
        if not (sid and password and conf.get("url")):
            raise ProviderUnavailable("odengi: not configured (url, sid, password)")
        message = signing.sign(
            password,
            {
                "cmd": cmd,
                "version": VERSION,
                "sid": sid,
                "mktime": str(int(time.time() * 1000)),
                "lang": conf.get("lang") or "ru",
                "data": data,
            },
        )
        body = signing.canonical_json(message).encode()
        audit = {"answer": None, "verified": False}
        try:
            response = http.call(
                CODE,
                lambda client: client.post(
                    conf["url"],
                    content=body,
                    headers={
                        "Content-Type": "application/json; charset=utf-8",
                        "Accept": "application/json",
                    },
                ),
                idempotent=idempotent,
            )
            return self._answer(cmd, response, password, sid, audit)
        except ProviderUnavailable as exc:
            audit["answer"] = audit["answer"] or {"error": str(exc)[:300]}
            raise
        finally:
            _audit(cmd, message, payment, audit)

    @staticmethod
    def _answer(cmd: str, response: httpx.Response, password: str, sid: str, audit: dict) -> dict:
        try:
            answer = json.loads(response.content)
        except ValueError:
            audit["answer"] = {"http_status": response.status_code, "body": response.text[:300]}
            if response.status_code >= 400:
                raise ProviderRefused(
                    f"{cmd}: HTTP {response.status_code}", code=response.status_code
                ) from None
            raise ProviderUnavailable(f"{cmd}: the answer is not JSON") from None
        audit["answer"] = masked(answer) if isinstance(answer, dict) else {"body": answer}
        if response.status_code >= 400:
            raise ProviderRefused(f"{cmd}: HTTP {response.status_code}", code=response.status_code)
        if not isinstance(answer, dict):
            raise ProviderRefused(f"{cmd}: the answer is not a JSON object")
        verified = signing.response_hash_ok(password, answer)
        if verified is False:
            raise ProviderRefused(f"{cmd}: the answer's hash does not verify")
        audit["verified"] = bool(verified)
        their_sid = answer.get("sid")
        if their_sid not in (None, "") and str(their_sid) != sid:
            raise ProviderRefused(f"{cmd}: answered for another sid")
        data = answer.get("data")
        if not isinstance(data, dict):
            raise ProviderRefused(f"{cmd}: the answer has no data")
        if data.get("error") not in (None, "", 0, "0"):
            raise ProviderRefused(f"{cmd}: {data.get('desc') or 'error'}", code=data.get("error"))
        return data


def _audit(cmd: str, message: dict, payment, audit: dict) -> None:
    event_record(
        provider=CODE,
        direction=PaymentEvent.Direction.OUT,
        kind=cmd,
        verified=audit["verified"],
        payload=masked(message),
        answer=audit["answer"],
        payment=payment,
    )


def _emv_payload(strings: dict[str, str]) -> str:
    for key in ("emv_qr_data", "emv_qr", "qr_data", "qr"):
        value = strings.get(key, "")
        if value.startswith(EMV_PREFIX):
            return value
    for key in ("paylink_url", "qr", "qr_url", "site_pay", "link_app"):
        fragment = unquote(urlsplit(strings.get(key, "")).fragment)
        if fragment.startswith(EMV_PREFIX):
            return fragment
    return ""


def _amount(value) -> Decimal | None:
    """Tyiyn (an integer, maybe as a string) → som; None when absent."""
    if value in (None, ""):
        return None
    try:
        return from_minor(minor_units_from_text(value))
    except ValueError:
        raise ProviderRefused(f"unreadable amount {value!r}") from None


def parse_history_csv(text: str) -> list[StatementLine]:
    """getHistoryCsv rows as statement lines (see the module docstring for the format)."""
    text = text.lstrip("\ufeff")
    header = text.splitlines()[0] if text.strip() else ""
    if not header:
        return []
    delimiter = max(";,\t", key=header.count)
    rows = csv.reader(io.StringIO(text), delimiter=delimiter)
    names = [name.strip().lower() for name in next(rows)]
    where = {}
    for column, aliases in CSV_COLUMNS.items():
        where[column] = next((names.index(a) for a in aliases if a in names), None)
    missing = [c for c in CSV_REQUIRED if where[c] is None]
    if missing or (where["trans_id"] is None and where["invoice_id"] is None):
        raise ProviderRefused(f"getHistoryCsv: columns missing: {missing or 'trans_id'}")
    lines = []
    for number, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue

        def cell(column: str, row=row) -> str:
            index = where[column]
            return row[index].strip() if index is not None and index < len(row) else ""

        state = state_of(cell("status"))
        if state not in (PAID, FAILED):
            log.info("odengi statement line %s skipped: status %r", number, cell("status"))
            continue
        amount = _amount(cell("amount"))
        if amount is None:
            raise ProviderRefused(f"getHistoryCsv line {number}: no amount")
        lines.append(
            StatementLine(
                provider_transaction_id=cell("invoice_id") or cell("trans_id"),
                order_id=cell("order_id"),
                amount=amount,
                state=state,
                at=_csv_time(cell("date"), number),
            )
        )
    return lines


def _csv_time(value: str, number: int) -> datetime:
    for fmt in CSV_TIME_FORMATS:
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=LOCAL_TZ)
        except ValueError:
            continue
    raise ProviderRefused(f"getHistoryCsv line {number}: unreadable date {value!r}")
