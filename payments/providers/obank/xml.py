"""OBANK's XML: the documents we send, the answers we read, and masking for the audit log.

The shape is (unconfirmed): OBANK has not given us its specification. It follows the
Compass Plus TranzWare e-Commerce gateway (TWEC PG) that banks of the region run for
hosted card pages; everything about it lives in this module so that it changes here.

Every request is one POST of `<TKKPG><Request>...</Request></TKKPG>` over mutual TLS;
every answer is `<TKKPG><Response><Operation/><Status/>[<Message/>]<Order>...</Order>
</Response></TKKPG>`. `Status` "00" is success; "96" (system error) and "97" (timeout) are
the bank's own trouble (we treat them as unavailable, try later); any other code is a
refusal. Amounts are integer tyiyn; currency is ISO 4217 numeric (KGS = 417).

    operation        we send (inside <Request>)                      we read (<Order>)
    CreateOrder      Operation, Language, Order{OrderType=Purchase,  OrderID (the bank's),
                     Merchant, Amount, Currency, Description,        SessionID, URL
                     ApproveURL, CancelURL, DeclineURL,
                     AddParams{MerchantOrderID = our order id}}
    GetOrderStatus   Operation, Language, Order{Merchant, OrderID},  OrderID, OrderStatus,
                     SessionID                                       [Amount, Currency,
                                                                      PayDate]
    Reverse          Operation, Language, Order{Merchant, OrderID},  (Status only)
                     SessionID, Description
    Refund           Operation, Language, Order{Merchant, OrderID},  (Status only)
                     SessionID, Refund{Amount, Currency}

The hosted page is `URL?ORDERID=<OrderID>&SESSIONID=<SessionID>`; the card is typed on the
bank's page only. OrderStatus → ours (see `REMOTE_STATES`): APPROVED is paid; CREATED,
ON-PAYMENT, ON-LOCK and PREAUTH-APPROVED are still pending (a pre-authorisation is money
held, not taken); DECLINED, CANCELED, EXPIRED and REVERSED will not be paid; REFUNDED (and
anything unknown) is left for a person: we neither credit nor cancel on it.

Inbound notification (its format and authentication are unconfirmed, so it is only a
trigger to ask the bank): a POST whose body is XML with an `OrderID` (the bank's) and/or
`MerchantOrderID` (ours) element anywhere in it, e.g. `<Message><OrderID>4711</OrderID>
<OrderStatus>APPROVED</OrderStatus></Message>`; or a form with `xmlmsg` (that XML, plain
or base64, as TWEC posts it through the browser) or `OrderID` / `MerchantOrderID` / `order`
fields. Nothing else in it is believed. Our answer is `<TKKPG><Response>
<Operation>Notification</Operation><Status>..</Status></Response></TKKPG>`.

Parsing is hardened without defusedxml (not installed here): bodies are size-limited,
must be UTF-8, may not carry a DOCTYPE or an entity declaration (checked in the text and
again by the expat parser itself, whatever the document claims its encoding is).

Card data never reaches us by design; still, everything kept from a bank document for the
audit log or written to a log goes through `mask` (card-data elements removed, any run of
12-19 digits, spaced or not, masked to its last four).
"""

from __future__ import annotations

import base64
import binascii
import re
import xml.etree.ElementTree as ET  # noqa: S405 - built by us; parsing goes through parse()
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit
from xml.parsers import expat  # noqa: S410 - DTDs and entities refused in parse()

from ...money import from_minor, minor_units_from_text, to_minor
from ..base import FAILED, PAID, PENDING, UNKNOWN

OK = "00"
TRANSIENT_CODES = frozenset({"96", "97"})
NUMERIC_CURRENCY = {"KGS": "417"}
LANGUAGE = "RU"
MAX_BYTES = 256 * 1024

REMOTE_STATES = {
    "APPROVED": PAID,
    "CREATED": PENDING,
    "ON-PAYMENT": PENDING,
    "ON-LOCK": PENDING,
    "PREAUTH-APPROVED": PENDING,
    "DECLINED": FAILED,
    "CANCELED": FAILED,
    "CANCELLED": FAILED,
    "EXPIRED": FAILED,
    "REVERSED": FAILED,
    "REFUNDED": UNKNOWN,
    "PARTIAL-REFUNDED": UNKNOWN,
}

# elements whose content is card data: removed from anything we keep
CARD_FIELDS = frozenset(
    {
        "pan",
        "maskedpan",
        "cardnumber",
        "card",
        "cvv",
        "cvv2",
        "cvc",
        "cvc2",
        "expdate",
        "expiry",
        "expirydate",
        "track2",
        "cardholder",
        "cardholdername",
    }
)
REMOVED = "[removed]"
_PAN = re.compile(r"(?<!\d)(?:\d[ -]?){11,18}\d(?!\d)|\d{20,}")


class XmlError(ValueError):
    """Not a document we accept (malformed, too big, DTD/entities, wrong shape)."""


# -- masking -----------------------------------------------------------------------------


def mask_text(text: str) -> str:
    """Every PAN-like run (12-19 digits, optionally spaced/dashed; longer runs too) → its
    last four digits behind asterisks. NUL characters (PostgreSQL's JSON cannot hold them)
    are replaced too."""

    def hide(match: re.Match) -> str:
        digits = re.sub(r"\D", "", match.group())
        return "*" * (len(digits) - 4) + digits[-4:]

    return _PAN.sub(hide, text.replace("\x00", "\ufffd"))


def mask(value):
    """A JSON-able value with card-data keys removed and PAN-like numbers masked."""
    if isinstance(value, dict):
        return {k: REMOVED if str(k).lower() in CARD_FIELDS else mask(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask(v) for v in value]
    if isinstance(value, str):
        return mask_text(value)
    return value


# -- building ----------------------------------------------------------------------------


def _append(parent: ET.Element, fields: dict) -> None:
    for name, value in fields.items():
        if value is None or value == "":
            continue
        child = ET.SubElement(parent, name)
        if isinstance(value, dict):
            _append(child, value)
        else:
            child.text = str(value)


def build(operation: str, fields: dict) -> tuple[bytes, dict]:
    """The request document and the same as a dict (for the audit log)."""
    content = {"Operation": operation, "Language": LANGUAGE, **fields}
    root = ET.Element("TKKPG")
    _append(ET.SubElement(root, "Request"), content)
    return (
        ET.tostring(root, encoding="utf-8", xml_declaration=True),
        {"Request": {k: v for k, v in content.items() if v not in (None, "")}},
    )


def create_order(
    *,
    merchant: str,
    order_id: str,
    amount: Decimal,
    currency: str,
    description: str,
    return_url: str,
) -> tuple[bytes, dict]:
    urls = {}
    if return_url:
        back = with_query(return_url, order=order_id)
        urls = {"ApproveURL": back, "CancelURL": back, "DeclineURL": back}
    return build(
        "CreateOrder",
        {
            "Order": {
                "OrderType": "Purchase",
                "Merchant": merchant,
                "Amount": to_minor(amount, currency),
                "Currency": numeric_currency(currency),
                "Description": description,
                **urls,
                "AddParams": {"MerchantOrderID": order_id},
            }
        },
    )


def order_status(*, merchant: str, bank_order_id: str, session_id: str) -> tuple[bytes, dict]:
    return build(
        "GetOrderStatus",
        {"Order": {"Merchant": merchant, "OrderID": bank_order_id}, "SessionID": session_id},
    )


def reverse(
    *, merchant: str, bank_order_id: str, session_id: str, description: str
) -> tuple[bytes, dict]:
    return build(
        "Reverse",
        {
            "Order": {"Merchant": merchant, "OrderID": bank_order_id},
            "SessionID": session_id,
            "Description": description,
        },
    )


def refund(
    *, merchant: str, bank_order_id: str, session_id: str, amount: Decimal, currency: str
) -> tuple[bytes, dict]:
    return build(
        "Refund",
        {
            "Order": {"Merchant": merchant, "OrderID": bank_order_id},
            "SessionID": session_id,
            "Refund": {
                "Amount": to_minor(amount, currency),
                "Currency": numeric_currency(currency),
            },
        },
    )


def numeric_currency(code: str) -> str:
    try:
        return NUMERIC_CURRENCY[code]
    except KeyError:
        raise ValueError(f"obank does not take {code}") from None


def with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit(parts._replace(query=query))


def hosted_page(url: str, bank_order_id: str, session_id: str) -> str:
    return with_query(url, ORDERID=bank_order_id, SESSIONID=session_id)


def notification_answer(status: str) -> bytes:
    root = ET.Element("TKKPG")
    _append(ET.SubElement(root, "Response"), {"Operation": "Notification", "Status": status})
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


# -- parsing -----------------------------------------------------------------------------


def _forbidden(*_args) -> None:
    raise XmlError("DTDs and entities are not accepted")


def parse(data: bytes) -> ET.Element:
    """A hardened parse: size limit, UTF-8 only, no DOCTYPE / entity declarations / external
    references (refused by expat handlers too, so no encoding trick gets one through)."""
    if len(data) > MAX_BYTES:
        raise XmlError("document too large")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise XmlError("not UTF-8") from None
    lowered = text.lower()
    if "<!doctype" in lowered or "<!entity" in lowered or "\x00" in text:
        raise XmlError("DTDs and entities are not accepted")
    parser = expat.ParserCreate(encoding="UTF-8")  # overrides what the document declares
    builder = ET.TreeBuilder()
    parser.StartDoctypeDeclHandler = _forbidden
    parser.EntityDeclHandler = _forbidden
    parser.UnparsedEntityDeclHandler = _forbidden
    parser.ExternalEntityRefHandler = _forbidden
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    parser.buffer_text = True
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise XmlError(f"malformed XML: {exc}") from None
    return builder.close()


def as_dict(element: ET.Element):
    """An element as JSON-able data: text for a leaf, {tag: ...} for children (a repeated tag
    becomes a list)."""
    children = list(element)
    if not children:
        return (element.text or "").strip()
    result: dict = {}
    for child in children:
        value = as_dict(child)
        if child.tag in result:
            if not isinstance(result[child.tag], list):
                result[child.tag] = [result[child.tag]]
            result[child.tag].append(value)
        else:
            result[child.tag] = value
    return result


@dataclass(frozen=True)
class BankResponse:
    operation: str
    status: str
    message: str  # masked
    order: dict[str, str] = field(default_factory=dict)  # <Order>'s leaf fields
    audit: dict = field(default_factory=dict)  # the whole answer, masked

    @property
    def ok(self) -> bool:
        return self.status == OK


def parse_response(data: bytes) -> BankResponse:
    root = parse(data)
    response = root if root.tag == "Response" else root.find("Response")
    if response is None:
        raise XmlError(f"no <Response> in the answer (root <{root.tag[:40]}>)")
    status = (response.findtext("Status") or "").strip()
    if not status:
        raise XmlError("no <Status> in the answer")
    order_element = response.find("Order")
    order = (
        {}
        if order_element is None
        else {
            child.tag: (child.text or "").strip()
            for child in order_element
            if not len(child) and child.tag.lower() not in CARD_FIELDS
        }
    )
    return BankResponse(
        operation=(response.findtext("Operation") or "").strip(),
        status=status,
        message=mask_text((response.findtext("Message") or "").strip()),
        order=order,
        audit=mask({root.tag: as_dict(root)}),
    )


@dataclass(frozen=True)
class OrderState:
    state: str  # PAID | PENDING | FAILED | UNKNOWN
    bank_status: str
    amount: Decimal | None
    currency_ok: bool
    paid_at: str = ""


def order_state(response: BankResponse, currency: str) -> OrderState:
    """What GetOrderStatus says, in our terms (see REMOTE_STATES)."""
    bank_status = response.order.get("OrderStatus", "").upper()
    amount = None
    raw_amount = response.order.get("Amount", "")
    if raw_amount:
        try:
            amount = from_minor(minor_units_from_text(raw_amount), currency)
        except ValueError:
            raise XmlError("Amount is not integer tyiyn") from None
    raw_currency = response.order.get("Currency", "")
    currency_ok = not raw_currency or raw_currency in (numeric_currency(currency), currency)
    return OrderState(
        state=REMOTE_STATES.get(bank_status, UNKNOWN),
        bank_status=bank_status,
        amount=amount,
        currency_ok=currency_ok,
        paid_at=response.order.get("PayDate", ""),
    )


# -- inbound notifications ---------------------------------------------------------------


@dataclass(frozen=True)
class Notification:
    order_id: str  # ours (MerchantOrderID / order), may be empty
    bank_order_id: str  # the bank's OrderID, may be empty
    audit: dict  # what it said, masked (nothing in it is believed)


_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _ids_from_xml(data: bytes) -> tuple[str, str, dict]:
    root = parse(data)
    ours = next((e.text or "" for e in root.iter("MerchantOrderID")), "").strip()
    bank = next((e.text or "" for e in root.iter("OrderID")), "").strip()
    return ours, bank, {root.tag: as_dict(root)}


def parse_notification(body: bytes, query: dict[str, str]) -> Notification:
    """The order ids a notification names (see the module doc); XmlError if it names none
    (or names them in a shape we cannot read)."""
    stripped = body.lstrip()
    fields: dict[str, str] = dict(query)  # a form body: urlencoded (as TWEC posts)
    audit: dict = {}
    ours = bank = ""
    if stripped.startswith(b"<"):
        ours, bank, audit = _ids_from_xml(stripped)
    elif stripped:
        try:
            form = parse_qs(stripped.decode("utf-8"), max_num_fields=50)
        except (UnicodeDecodeError, ValueError):
            raise XmlError("not XML and not a form") from None
        fields.update({k: v[0] for k, v in form.items()})
    if "xmlmsg" in fields and not (ours or bank):
        message = fields.pop("xmlmsg").strip().encode()
        if not message.startswith(b"<"):
            try:  # a "+" sent without form-encoding arrives as a space
                message = base64.b64decode(message.replace(b" ", b"+"), validate=True)
            except (binascii.Error, ValueError):
                raise XmlError("xmlmsg is neither XML nor base64") from None
        ours, bank, audit = _ids_from_xml(message)
    ours = ours or fields.get("MerchantOrderID", "") or fields.get("order", "")
    bank = bank or fields.get("OrderID", "")
    audit = mask({**audit, **{k: v for k, v in fields.items() if k != "xmlmsg"}})
    ours, bank = ours.strip(), bank.strip()
    if not (ours or bank):
        raise XmlError("no order id in the notification")
    for value in (ours, bank):
        if value and not _ID.match(value):
            raise XmlError("order id is not an id")
    return Notification(order_id=ours, bank_order_id=bank, audit=audit)
