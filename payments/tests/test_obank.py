"""OBANK: hosted card payments, XML over mutual TLS.

The bank is a real HTTPS server started here (`FakeBank`), on 127.0.0.1, that REQUIRES a
client certificate signed by its CA (verify_mode=CERT_REQUIRED); the certificates are made
per session (`obank_pki.py`). Our side talks to it through the real `http.call` with the
`ssl.SSLContext` built from the PKCS#12 file. Inbound notifications go through our endpoint
with the Django test client, as raw bodies.
"""

from __future__ import annotations

import base64
import itertools
import logging
import re
import ssl
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test import Client as DjangoClient
from django.utils import timezone

from accounts.tests.support import PHONE_A, assert_error, authed, login
from evpower.models import SecurityEvent
from payments import errors, selectors
from payments.models import LedgerTransaction
from payments.payment_models import Payment, PaymentEvent
from payments.payment_records import credits_of
from payments.providers import http, provider_for
from payments.providers.base import FAILED, PAID, PENDING, UNKNOWN, ProviderRefused
from payments.providers.obank import tls
from payments.providers.obank import xml as obank_xml
from payments.providers.obank.tls import ObankConfigurationError
from payments.tests.support import assert_ledger_consistent, new_client
from payments.topups import payment_refund_to_provider, payments_expire, topup_cancel, topup_create

from .obank_pki import P12_PASSWORD, make_pki

NOTIFY = "/api/v1/payments/obank/notify"
RETURN = "/api/v1/payments/obank/return"
PAN = "4111111111111111"
PAN_LIKE = re.compile(r"\d{12,19}")
PAGE = "https://pay.obank.example/twec/pay"


# -- the bank ----------------------------------------------------------------------------


@dataclass
class Order:
    merchant_order_id: str
    amount: int
    currency: str
    session: str
    status: str = "CREATED"


@dataclass
class FakeBank:
    """TWEC-like XML over HTTPS; answers from `orders`; knobs for the tests."""

    orders: dict[str, Order] = field(default_factory=dict)
    requests: list[tuple[str, dict, str]] = field(default_factory=list)  # op, doc, peer CN
    echo_pan: bool = False  # put a card number in every answer, as a careless bank might
    answer_status: str = "00"  # another code: the answers to `failing` operations carry it
    failing: frozenset[str] | None = None  # None: every operation
    status_amount: int | None = None  # GetOrderStatus reports this amount instead
    lock: threading.Lock = field(default_factory=threading.Lock)
    ids: itertools.count = field(default_factory=lambda: itertools.count(4701))

    def reset(self) -> None:
        with self.lock:
            self.orders.clear()
            self.requests.clear()
        self.echo_pan, self.answer_status, self.status_amount = False, "00", None
        self.failing = None

    def operations(self) -> list[str]:
        return [op for op, _, _ in self.requests]

    def answer(self, body: bytes, peer: str) -> bytes:
        request = ET.fromstring(body).find("Request")  # noqa: S314 - our own documents
        doc = obank_xml.as_dict(request)
        operation = doc["Operation"]
        with self.lock:
            self.requests.append((operation, doc, peer))
            fields = getattr(self, operation.lower())(doc)
        if self.answer_status != "00" and (self.failing is None or operation in self.failing):
            fields = {"Status": self.answer_status, "Message": f"refused, card {PAN}"}
        if self.echo_pan:
            fields.setdefault("Order", {}).update(
                {
                    "PAN": PAN,
                    "Description": f"paid with card {PAN[:4]} {PAN[4:8]} {PAN[8:12]} {PAN[12:]}",
                }
            )
            fields["Message"] = f"card {PAN} ok"
        root = ET.Element("TKKPG")
        response = ET.SubElement(root, "Response")
        obank_xml._append(response, {"Operation": operation, **fields})
        return ET.tostring(root, encoding="utf-8", xml_declaration=True)

    def createorder(self, doc: dict) -> dict:
        order = doc["Order"]
        assert order["Merchant"] == "EVPOWER01"
        bank_id = str(next(self.ids))
        self.orders[bank_id] = Order(
            order["AddParams"]["MerchantOrderID"],
            int(order["Amount"]),
            order["Currency"],
            session=f"SESS{bank_id}ABCDEF",
        )
        return {
            "Status": "00",
            "Order": {"OrderID": bank_id, "SessionID": self.orders[bank_id].session, "URL": PAGE},
        }

    def _order(self, doc: dict) -> Order | None:
        order = self.orders.get(doc["Order"]["OrderID"])
        if order is None or doc.get("SessionID") != order.session:
            return None
        return order

    def getorderstatus(self, doc: dict) -> dict:
        order = self._order(doc)
        if order is None:
            return {"Status": "30", "Message": "order not found"}
        amount = self.status_amount if self.status_amount is not None else order.amount
        return {
            "Status": "00",
            "Order": {
                "OrderID": doc["Order"]["OrderID"],
                "OrderStatus": order.status,
                "Amount": amount,
                "Currency": order.currency,
            },
        }

    def reverse(self, doc: dict) -> dict:
        order = self._order(doc)
        if order is None or order.status not in ("CREATED", "ON-PAYMENT", "APPROVED"):
            return {"Status": "54", "Message": "cannot reverse"}
        order.status = "REVERSED" if order.status == "APPROVED" else "CANCELED"
        return {"Status": "00"}

    def refund(self, doc: dict) -> dict:
        order = self._order(doc)
        if (
            order is None
            or order.status != "APPROVED"
            or int(doc["Refund"]["Amount"]) > order.amount
        ):
            return {"Status": "54", "Message": "cannot refund"}
        order.status = "REFUNDED"
        return {"Status": "00"}

    def set_status(self, bank_id: str, status: str) -> None:
        with self.lock:
            self.orders[bank_id].status = status


class _Handler(BaseHTTPRequestHandler):
    bank: FakeBank

    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        peer = dict(item[0] for item in self.connection.getpeercert()["subject"])
        answer = self.server.bank.answer(body, peer.get("commonName", ""))
        self.send_response(200)
        self.send_header("Content-Type", "application/xml; charset=utf-8")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # refused handshakes are the point of some tests


def serve(cert, key, ca) -> tuple[_Server, FakeBank]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.verify_mode = ssl.CERT_REQUIRED  # no client certificate, no connection
    context.load_verify_locations(cafile=str(ca))
    context.load_cert_chain(str(cert), str(key))
    server = _Server(("127.0.0.1", 0), _Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.bank = FakeBank()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.bank


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("obank-pki"))


@pytest.fixture(scope="session")
def bank_server(pki):
    server, _ = serve(pki.server_cert, pki.server_key, pki.ca)
    yield server
    server.shutdown()


@pytest.fixture(scope="session")
def rogue_server(pki):
    """Presents a certificate for 127.0.0.1 signed by another CA; trusts our client CA."""
    server, _ = serve(pki.rogue_server_cert, pki.rogue_server_key, pki.ca)
    yield server
    server.shutdown()


def url_of(server, host: str = "127.0.0.1") -> str:
    return f"https://{host}:{server.server_address[1]}/twec/xml"


@pytest.fixture
def bank(settings, pki, bank_server) -> FakeBank:
    settings.PAYMENT_PROVIDERS = ["obank"]
    settings.OBANK = {
        "url": url_of(bank_server),
        "merchant_id": "EVPOWER01",
        "cert_path": str(pki.client_p12),
        "cert_password": P12_PASSWORD,
        "ca_path": str(pki.ca),
        "return_url": "https://api.evpower.example/api/v1/payments/obank/return",
    }
    settings.PAYMENT_HTTP_ATTEMPTS = 1
    settings.PAYMENT_HTTP_BACKOFF_SECONDS = 0
    settings.PAYMENT_HTTP_TIMEOUT_SECONDS = 5
    http._breakers.pop("obank", None)
    bank_server.bank.reset()
    yield bank_server.bank
    http._breakers.pop("obank", None)


@pytest.fixture
def log_lines():
    """Everything logged anywhere while the test runs ("payments" does not propagate)."""
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            lines.append(self.format(record))

    handler = Keep(level=logging.DEBUG)
    loggers = [logging.getLogger(), logging.getLogger("payments"), logging.getLogger("django")]
    for logger in loggers:
        logger.addHandler(handler)
    yield lines
    for logger in loggers:
        logger.removeHandler(handler)


def pay(amount: str = "150.50", client=None) -> Payment:
    return topup_create(client=client or new_client(), provider="obank", amount=amount)


def notify(bank_id: str = "", *, order_id: str = "", extra: str = "", http_client=None):
    inner = (f"<OrderID>{bank_id}</OrderID>" if bank_id else "") + (
        f"<MerchantOrderID>{order_id}</MerchantOrderID>" if order_id else ""
    )
    body = f"<?xml version='1.0' encoding='UTF-8'?><Message>{inner}{extra}</Message>"
    return (http_client or DjangoClient()).post(
        NOTIFY, data=body.encode(), content_type="application/xml"
    )


def answer_status(response) -> str:
    root = ET.fromstring(response.content)  # noqa: S314 - our own answer
    return root.findtext("Response/Status")


def balance(client) -> Decimal:
    return selectors.wallet_balance(client=client)


def topups_of(payment: Payment) -> int:
    return LedgerTransaction.objects.filter(
        ref_type="payment", ref_id=str(payment.pk), kind=LedgerTransaction.Kind.TOPUP
    ).count()


# -- create / status / cancel / refund / statement over mutual TLS -----------------------


@pytest.mark.django_db
def test_create_registers_an_order_for_the_hosted_page_over_mutual_tls(bank):
    payment = pay("150.50")

    assert payment.status == Payment.Status.PENDING
    [(operation, doc, peer)] = bank.requests
    assert (operation, peer) == ("CreateOrder", "evpower-merchant")  # our client certificate
    order = doc["Order"]
    assert order["Amount"] == "15050" and order["Currency"] == "417"  # tyiyn, KGS
    assert order["OrderType"] == "Purchase" and order["Merchant"] == "EVPOWER01"
    assert order["AddParams"] == {"MerchantOrderID": payment.order_id}
    assert order["ApproveURL"] == (
        f"https://api.evpower.example/api/v1/payments/obank/return?order={payment.order_id}"
    )
    assert order["DeclineURL"] == order["CancelURL"] == order["ApproveURL"]
    bank_id = payment.provider_transaction_id
    assert bank_id.isdigit()
    session = bank.orders[bank_id].session
    assert payment.provider_state["obank_session_id"] == session
    assert payment.checkout == {"payment_url": f"{PAGE}?ORDERID={bank_id}&SESSIONID={session}"}
    event = PaymentEvent.objects.get(payment=payment)
    assert (event.direction, event.kind, event.verified) == ("out", "CreateOrder", True)
    assert event.answer["TKKPG"]["Response"]["Order"]["OrderID"] == bank_id


@pytest.mark.django_db
def test_the_server_name_may_be_localhost_too(bank, settings, bank_server):
    settings.OBANK = {**settings.OBANK, "url": url_of(bank_server, "localhost")}
    assert pay().status == Payment.Status.PENDING


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("bank_status", "state"),
    [
        ("CREATED", PENDING),
        ("ON-PAYMENT", PENDING),
        ("PREAUTH-APPROVED", PENDING),
        ("APPROVED", PAID),
        ("DECLINED", FAILED),
        ("CANCELED", FAILED),
        ("EXPIRED", FAILED),
        ("REVERSED", FAILED),
        ("REFUNDED", UNKNOWN),
        ("SOMETHING-NEW", UNKNOWN),
    ],
)
def test_status_maps_the_banks_order_status(bank, bank_status, state):
    payment = pay("20.00")
    bank.set_status(payment.provider_transaction_id, bank_status)

    remote = provider_for("obank").status(payment)

    assert remote.state == state
    assert remote.provider_transaction_id == payment.provider_transaction_id
    assert remote.amount == Decimal("20.00")
    assert bank.operations() == ["CreateOrder", "GetOrderStatus"]
    assert bank.requests[1][1]["SessionID"] == payment.provider_state["obank_session_id"]


@pytest.mark.django_db
def test_cancel_reverses_the_unpaid_order_at_the_bank(bank):
    payment = pay()

    closed = topup_cancel(client=payment.client, payment_id=payment.pk)

    assert closed.status == Payment.Status.CANCELLED
    assert bank.operations() == ["CreateOrder", "GetOrderStatus", "Reverse"]
    assert bank.orders[payment.provider_transaction_id].status == "CANCELED"
    assert credits_of(payment) == 0


@pytest.mark.django_db
def test_cancel_of_an_order_paid_meanwhile_credits_it_instead(bank):
    payment = pay("75.00")
    bank.set_status(payment.provider_transaction_id, "APPROVED")

    closed = topup_cancel(client=payment.client, payment_id=payment.pk)

    assert closed.status == Payment.Status.PAID and balance(payment.client) == Decimal("75.00")
    assert "Reverse" not in bank.operations()


@pytest.mark.django_db
def test_refund_gives_a_paid_topup_back_through_the_bank(bank):
    payment = pay("120.00")
    bank.set_status(payment.provider_transaction_id, "APPROVED")
    assert notify(payment.provider_transaction_id).status_code == 200
    assert balance(payment.client) == Decimal("120.00")

    refunded = payment_refund_to_provider(payment_id=payment.pk, reason="driver asked")

    assert refunded.status == Payment.Status.REFUNDED
    assert balance(payment.client) == Decimal("0.00")
    operation, doc, peer = bank.requests[-1]
    assert (operation, peer) == ("Refund", "evpower-merchant")
    assert doc["Refund"] == {"Amount": "12000", "Currency": "417"}
    assert bank.orders[payment.provider_transaction_id].status == "REFUNDED"
    assert_ledger_consistent()


@pytest.mark.django_db
def test_a_refund_the_bank_refuses_gives_the_money_back_to_the_wallet(bank):
    payment = pay("120.00")
    bank.set_status(payment.provider_transaction_id, "APPROVED")
    notify(payment.provider_transaction_id)
    bank.answer_status = "54"

    with pytest.raises(errors.PaymentProviderError):
        payment_refund_to_provider(payment_id=payment.pk)

    payment.refresh_from_db()
    assert payment.status == Payment.Status.PAID and balance(payment.client) == Decimal("120")
    assert_ledger_consistent()


@pytest.mark.django_db
def test_statement_is_the_status_of_each_of_our_orders_in_the_window(bank):
    paid, declined, pending = pay("10.00"), pay("11.00"), pay("12.00")
    bank.set_status(paid.provider_transaction_id, "APPROVED")
    bank.set_status(declined.provider_transaction_id, "DECLINED")
    old = pay("13.00")
    Payment.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=3))
    bank.set_status(old.provider_transaction_id, "APPROVED")
    late = pay("14.00")  # created long ago, credited (late) within the window
    bank.set_status(late.provider_transaction_id, "APPROVED")
    notify(late.provider_transaction_id)
    Payment.objects.filter(pk=late.pk).update(created_at=timezone.now() - timedelta(days=3))
    now = timezone.now()

    lines = provider_for("obank").statement(now - timedelta(days=1), now + timedelta(minutes=1))

    assert [
        (line.order_id, line.provider_transaction_id, line.amount, line.state) for line in lines
    ] == [
        (paid.order_id, paid.provider_transaction_id, Decimal("10.00"), PAID),
        (declined.order_id, declined.provider_transaction_id, Decimal("11.00"), FAILED),
        (late.order_id, late.provider_transaction_id, Decimal("14.00"), PAID),
    ]
    assert pending.order_id not in [line.order_id for line in lines]
    late.refresh_from_db()
    assert lines[-1].at == late.paid_at and now - timedelta(minutes=1) < lines[0].at <= now


@pytest.mark.django_db
def test_reconciliation_of_the_day_finds_nothing_wrong(bank):
    from payments.reconciliation import reconcile

    paid, _ = pay("10.00"), pay("11.00")
    bank.set_status(paid.provider_transaction_id, "APPROVED")
    notify(paid.provider_transaction_id)

    assert reconcile("obank", timezone.now().date()) == []


# -- refusals: certificates, verification, configuration ---------------------------------


def assert_creation_failed(bank: FakeBank) -> None:
    payment = Payment.objects.get()
    assert payment.status == Payment.Status.CANCELLED
    assert payment.provider_transaction_id == "" and credits_of(payment) == 0
    assert bank.requests == []  # nothing reached the bank's application


@pytest.mark.django_db
def test_without_a_client_certificate_the_bank_refuses_the_connection(bank, pki, monkeypatch):
    def no_client_certificate():
        return ssl.create_default_context(cafile=str(pki.ca))  # server verified, no cert

    monkeypatch.setattr(tls, "ssl_context", no_client_certificate)

    with pytest.raises(errors.PaymentProviderError) as refused:
        pay()

    assert refused.value.code == "PAYMENT_PROVIDER_ERROR"
    assert_creation_failed(bank)
    event = PaymentEvent.objects.get()
    assert (event.kind, event.verified) == ("CreateOrder", False)
    assert "obank" in event.answer["error"]


@pytest.mark.django_db
def test_a_client_certificate_from_another_ca_is_refused_by_the_bank_api(bank, settings, pki):
    settings.OBANK = {**settings.OBANK, "cert_path": str(pki.rogue_client_p12)}
    api = authed(login(phone=PHONE_A)["access"])

    response = api.post(
        "/api/v1/wallet/topups", {"provider": "obank", "amount": "100.00"}, format="json"
    )

    assert_error(response, 502, "PAYMENT_PROVIDER_ERROR")
    assert_creation_failed(bank)


@pytest.mark.django_db
def test_a_server_certificate_not_signed_by_the_configured_ca_is_refused(
    bank, settings, rogue_server
):
    settings.OBANK = {**settings.OBANK, "url": url_of(rogue_server)}

    with pytest.raises(errors.PaymentProviderError):
        pay()

    assert rogue_server.bank.requests == []  # our request was never sent
    assert_creation_failed(bank)
    assert "CERTIFICATE_VERIFY_FAILED" in PaymentEvent.objects.get().answer["error"]


@pytest.mark.django_db
def test_without_a_configured_ca_the_system_cas_are_used_and_the_test_bank_is_refused(
    bank, settings
):
    settings.OBANK = {**settings.OBANK, "ca_path": ""}

    with pytest.raises(errors.PaymentProviderError):
        pay()

    assert "CERTIFICATE_VERIFY_FAILED" in PaymentEvent.objects.get().answer["error"]
    assert bank.requests == []


@pytest.mark.django_db
def test_a_wrong_pkcs12_password_is_a_clear_configuration_error_without_the_password(
    bank, settings, log_lines
):
    wrong = "not-the-Passw0rd-x1"
    settings.OBANK = {**settings.OBANK, "cert_password": wrong}

    with pytest.raises(ObankConfigurationError) as error:
        tls.ssl_context()
    with pytest.raises(errors.PaymentProviderError):
        pay()

    message = str(error.value)
    assert "wrong password" in message and "OBANK_CERT_PASSWORD" in message
    assert_creation_failed(bank)
    stored = [str(e.payload) + str(e.answer) for e in PaymentEvent.objects.all()]
    stored.append(Payment.objects.get().failure_reason)
    assert "wrong password" in Payment.objects.get().failure_reason
    for text in [*stored, *log_lines]:
        assert wrong not in text and P12_PASSWORD not in text


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"cert_path": ""}, "no client certificate configured"),
        ({"cert_path": "/nonexistent/obank.p12"}, "cannot be read"),
        ({"cert_path": "not_p12"}, "not a PKCS#12 file"),
        ({"cert_path": "expired_client_p12"}, "expired on"),
        ({"ca_path": "/nonexistent/ca.pem"}, "CA file cannot be loaded"),
        ({"url": ""}, "not configured (url)"),
        ({"url": "http://127.0.0.1:1/"}, "must be https"),
    ],
)
def test_unusable_configuration_is_a_provider_error_not_a_crash(bank, settings, pki, change, says):
    change = {k: str(getattr(pki, v)) if hasattr(pki, v) else v for k, v in change.items()}
    settings.OBANK = {**settings.OBANK, **change}

    with pytest.raises(errors.PaymentProviderError):
        pay()

    assert says in Payment.objects.get().failure_reason
    assert_creation_failed(bank)


def test_the_key_file_written_for_the_ssl_module_is_private_and_removed(pki, monkeypatch, tmp_path):
    seen = []
    original = ssl.SSLContext.load_cert_chain

    def spy(self, certfile, keyfile=None, password=None):
        import os

        mode = os.stat(certfile).st_mode & 0o777
        with open(certfile, "rb") as handle:
            pem = handle.read()
        seen.append((certfile, mode, pem))
        return original(self, certfile, keyfile, password)

    monkeypatch.setattr(ssl.SSLContext, "load_cert_chain", spy)
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))

    context = tls.build_context(
        cert_path=str(pki.client_p12), password=P12_PASSWORD, ca_path=str(pki.ca)
    )

    [(path, mode, pem)] = seen
    assert mode == 0o600
    assert b"ENCRYPTED PRIVATE KEY" in pem and b"BEGIN PRIVATE KEY" not in pem
    assert not list(tmp_path.iterdir())  # removed at once
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


# -- notifications: a trigger, never believed --------------------------------------------


@pytest.mark.django_db
def test_a_notification_asks_the_bank_and_credits_once_it_says_paid(bank):
    payment = pay("150.50")
    bank.set_status(payment.provider_transaction_id, "APPROVED")

    response = notify(payment.provider_transaction_id, extra="<OrderStatus>APPROVED</OrderStatus>")

    assert response.status_code == 200 and answer_status(response) == "00"
    assert response["Content-Type"].startswith("application/xml")
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PAID
    assert balance(payment.client) == Decimal("150.50") and topups_of(payment) == 1
    assert bank.operations() == ["CreateOrder", "GetOrderStatus"]
    inbound = PaymentEvent.objects.get(direction="in")
    assert (inbound.kind, inbound.verified, inbound.payment_id) == ("notify", False, payment.pk)
    assert inbound.payload["Message"]["OrderID"] == payment.provider_transaction_id
    assert inbound.answer == {"status": "00"}
    status_event = PaymentEvent.objects.get(direction="out", kind="GetOrderStatus")
    assert status_event.verified is True
    assert_ledger_consistent()


@pytest.mark.django_db
@pytest.mark.parametrize("bank_status", ["CREATED", "ON-PAYMENT", "REFUNDED"])
def test_a_notification_for_an_order_the_bank_says_is_unpaid_credits_nothing(bank, bank_status):
    payment = pay()
    bank.set_status(payment.provider_transaction_id, bank_status)

    response = notify(
        payment.provider_transaction_id, extra="<OrderStatus>APPROVED</OrderStatus>"
    )  # the notification lies

    assert response.status_code == 200
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PENDING and credits_of(payment) == 0
    assert balance(payment.client) == Decimal("0.00")


@pytest.mark.django_db
def test_a_notification_for_a_declined_order_closes_it_without_credit(bank):
    payment = pay()
    bank.set_status(payment.provider_transaction_id, "DECLINED")

    assert notify(payment.provider_transaction_id).status_code == 200

    payment.refresh_from_db()
    assert payment.status == Payment.Status.CANCELLED and credits_of(payment) == 0
    assert payment.failure_reason == "provider: declined"


@pytest.mark.django_db
def test_the_notifications_amount_is_ignored_the_banks_status_answer_decides(bank):
    payment = pay("100.00")
    bank.set_status(payment.provider_transaction_id, "APPROVED")

    notify(payment.provider_transaction_id, extra="<Amount>99999900</Amount>")

    assert balance(payment.client) == Decimal("100.00")


@pytest.mark.django_db
def test_a_status_answer_with_another_amount_credits_nothing(bank, log_lines):
    payment = pay("100.00")
    bank.set_status(payment.provider_transaction_id, "APPROVED")
    bank.status_amount = 1000000

    response = notify(payment.provider_transaction_id)

    assert response.status_code == 409 and answer_status(response) == "05"
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PENDING and credits_of(payment) == 0
    assert any("disagrees" in line and "AMOUNT_MISMATCH" in line for line in log_lines)


@pytest.mark.django_db
def test_a_notification_for_an_unknown_order_is_404_and_only_audited(bank):
    response = notify("99999")
    by_ours = notify(order_id="EVP0000000000000000")

    assert response.status_code == by_ours.status_code == 404
    assert answer_status(response) == "01"
    assert bank.requests == []  # the bank was not asked
    assert (
        list(PaymentEvent.objects.values_list("direction", "kind", "verified", "payment"))
        == [("in", "notify", False, None)] * 2
    )
    assert not Payment.objects.exists() and not LedgerTransaction.objects.exists()


@pytest.mark.django_db
def test_a_notification_naming_two_different_payments_is_refused(bank):
    one, other = pay(), pay()
    bank.set_status(one.provider_transaction_id, "APPROVED")

    response = notify(one.provider_transaction_id, order_id=other.order_id)

    assert response.status_code == 404
    assert bank.operations().count("GetOrderStatus") == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<Message><Nothing/></Message>",
        b"<Message><OrderID>1",
        b"<Message><OrderID>1 OR 1=1</OrderID></Message>",
        b'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<Message><OrderID>&x;</OrderID></Message>",
        b'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
        b"<Message><OrderID>&b;</OrderID></Message>",
        '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE m [<!ENTITY x "4701">]>'
        "<Message><OrderID>&x;</OrderID></Message>".encode("utf-16"),
    ],
)
def test_unreadable_notifications_are_400_and_only_audited(bank, body):
    payment = pay()
    bank.set_status(payment.provider_transaction_id, "APPROVED")

    response = DjangoClient().post(NOTIFY, data=body, content_type="application/xml")

    assert response.status_code == 400 and answer_status(response) == "30"
    assert bank.operations() == ["CreateOrder"]
    assert credits_of(payment) == 0
    event = PaymentEvent.objects.get(direction="in")
    assert (event.verified, event.payment_id, event.answer) == (False, None, {"status": "30"})


@pytest.mark.django_db
def test_a_form_notification_with_a_base64_xmlmsg_is_understood(bank):
    payment = pay("30.00")
    bank.set_status(payment.provider_transaction_id, "APPROVED")
    message = (
        f"<Message><OrderID>{payment.provider_transaction_id}</OrderID>"
        "<OrderStatus>APPROVED</OrderStatus></Message>"
    ).encode()

    response = DjangoClient().post(
        NOTIFY,
        urlencode({"xmlmsg": base64.b64encode(message)}),
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 200 and balance(payment.client) == Decimal("30.00")


@pytest.mark.django_db
def test_the_bank_unreachable_during_a_notification_asks_for_it_again(bank, settings):
    payment = pay("40.00")
    bank.set_status(payment.provider_transaction_id, "APPROVED")
    bank.answer_status = "96"  # the bank's system error

    response = notify(payment.provider_transaction_id)

    assert response.status_code == 503 and answer_status(response) == "96"
    assert credits_of(payment) == 0
    bank.answer_status = "00"
    assert notify(payment.provider_transaction_id).status_code == 200
    assert credits_of(payment) == 1


@pytest.mark.django_db
def test_notifications_out_of_order_converge_on_one_credit(bank):
    payment = pay("55.00")
    # the notification races ahead of the bank's own bookkeeping: still pending there
    assert notify(payment.provider_transaction_id).status_code == 200
    assert credits_of(payment) == 0
    # our expiry ran first and the bank then approves: the late payment is credited
    Payment.objects.filter(pk=payment.pk).update(expires_at=timezone.now() - timedelta(hours=1))
    bank.answer_status, bank.failing = "54", {"Reverse"}  # the driver is paying right now
    assert payments_expire() == 1
    bank.answer_status = "00"
    bank.set_status(payment.provider_transaction_id, "APPROVED")

    assert notify(payment.provider_transaction_id).status_code == 200
    assert notify(order_id=payment.order_id).status_code == 200

    payment.refresh_from_db()
    assert (
        payment.status == Payment.Status.PAID
        and "paid after it was closed" in payment.failure_reason
    )
    assert credits_of(payment) == 1 and balance(payment.client) == Decimal("55.00")
    asked = bank.operations().count("GetOrderStatus")
    assert notify(payment.provider_transaction_id).status_code == 200
    assert bank.operations().count("GetOrderStatus") == asked  # paid: the bank is not asked


@pytest.mark.django_db
def test_the_browser_return_checks_too_and_shows_a_page(bank):
    payment = pay("25.00")
    bank.set_status(payment.provider_transaction_id, "APPROVED")

    response = DjangoClient().get(RETURN, {"order": payment.order_id})

    assert response.status_code == 200 and "Payment received" in response.content.decode()
    assert balance(payment.client) == Decimal("25.00")
    assert DjangoClient().get(RETURN, {"order": "EVPNOPE"}).status_code == 404
    assert PaymentEvent.objects.filter(direction="in", kind="return").count() == 2


@pytest.mark.django_db
def test_no_bad_auth_security_events_are_made_for_unauthenticated_triggers(bank):
    notify("12345")
    assert not SecurityEvent.objects.exists()


# -- card data never stored or logged ----------------------------------------------------


@pytest.mark.django_db
def test_card_numbers_echoed_by_the_bank_are_never_stored_or_logged(bank, log_lines):
    bank.echo_pan = True
    payment = pay("60.00")
    bank.set_status(payment.provider_transaction_id, "APPROVED")
    notify(
        payment.provider_transaction_id,
        extra=f"<PAN>{PAN}</PAN><Note>card {PAN[:4]}-{PAN[4:8]}-{PAN[8:12]}-{PAN[12:]}</Note>",
    )
    DjangoClient().get(RETURN, {"order": payment.order_id, "card": PAN})
    failing = pay("61.00")
    bank.answer_status = "05"  # refused, with the card number in its message
    with pytest.raises(ProviderRefused):
        provider_for("obank").status(failing)

    assert credits_of(payment) == 1  # the flow itself worked
    assert PaymentEvent.objects.count() >= 6
    stored = [str(e.payload) + str(e.answer) for e in PaymentEvent.objects.all()]
    stored += [
        str(p.provider_state) + str(p.checkout) + p.failure_reason for p in Payment.objects.all()
    ]
    for text in [*stored, *log_lines]:
        assert not PAN_LIKE.search(re.sub(r"[ -]", "", text)), text
    assert any("************1111" in text for text in stored)  # masked, still recognisable
    assert any("[removed]" in text for text in stored)  # card fields are dropped outright
    assert any("card ************1111" in line for line in log_lines)


def test_masking():
    assert obank_xml.mask_text("card 4111111111111111 ok") == "card ************1111 ok"
    assert obank_xml.mask_text("4111 1111 1111 1111") == "************1111"
    assert obank_xml.mask_text("5500-0000-0000-0004") == "************0004"
    assert obank_xml.mask_text("a 123456789012345678901234 b") == "a " + "*" * 20 + "1234 b"
    assert (
        obank_xml.mask_text("amount 15050, order 4701, 2025-01-15 10:30")
        == "amount 15050, order 4701, 2025-01-15 10:30"
    )
    assert obank_xml.mask({"PAN": "x", "Order": {"cvv2": "123", "Amount": "100"}}) == {
        "PAN": "[removed]",
        "Order": {"cvv2": "[removed]", "Amount": "100"},
    }


@pytest.mark.parametrize(
    "document",
    [
        b'<!DOCTYPE x [<!ENTITY e "1">]><x>&e;</x>',
        b'<?xml version="1.0"?>\n<!doctype x SYSTEM "http://127.0.0.1:1/x.dtd"><x/>',
        '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x [<!ENTITY e "1">]><x>&e;</x>'.encode(
            "utf-16"
        ),
        '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x [<!ENTITY e "1">]><x>&e;</x>'.encode(
            "utf-16-le"
        ),
        b"<x>" + b"a" * obank_xml.MAX_BYTES + b"</x>",
        b"<x>\xff</x>",
    ],
)
def test_parsing_refuses_dtds_entities_odd_encodings_and_big_documents(document):
    with pytest.raises(obank_xml.XmlError):
        obank_xml.parse(document)


def test_parsing_reads_a_normal_answer():
    answer = obank_xml.parse_response(
        b'<?xml version="1.0" encoding="UTF-8"?><TKKPG><Response><Operation>GetOrderStatus'
        b"</Operation><Status>00</Status><Order><OrderID>7</OrderID><OrderStatus>APPROVED"
        b"</OrderStatus><Amount>1234</Amount><Currency>417</Currency><PAN>4111111111111111"
        b"</PAN></Order></Response></TKKPG>"
    )
    assert answer.ok and answer.operation == "GetOrderStatus"
    assert answer.order == {
        "OrderID": "7",
        "OrderStatus": "APPROVED",
        "Amount": "1234",
        "Currency": "417",
    }
    state = obank_xml.order_state(answer, "KGS")
    assert (state.state, state.amount, state.currency_ok) == (PAID, Decimal("12.34"), True)
    assert answer.audit["TKKPG"]["Response"]["Order"]["PAN"] == "[removed]"


# -- the same notification ten times: one credit -----------------------------------------


def _deliver_concurrently(bank_id: str, times: int) -> list[int]:
    barrier = threading.Barrier(times)
    codes: list[int] = []
    failures: list[BaseException] = []

    def deliver():
        try:
            barrier.wait(timeout=10)
            codes.append(notify(bank_id).status_code)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    return codes


@pytest.fixture
def postgres(transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (scripts/test.sh)")


def _assert_one_credit(payment: Payment, amount: str) -> None:
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PAID
    assert topups_of(payment) == 1
    assert balance(payment.client) == Decimal(amount)
    assert list(selectors.ledger_invariant_violations()) == []
    assert_ledger_consistent()


def test_the_same_notification_ten_times_credits_once(postgres, bank):
    payment = pay("150.50")
    bank.set_status(payment.provider_transaction_id, "APPROVED")

    sequential = [notify(payment.provider_transaction_id).status_code for _ in range(5)]
    concurrent = _deliver_concurrently(payment.provider_transaction_id, 5)

    assert sequential == [200] * 5 and concurrent == [200] * 5
    _assert_one_credit(payment, "150.50")
    assert PaymentEvent.objects.filter(direction="in", payment=payment).count() == 10


def test_five_first_deliveries_at_the_same_moment_credit_once(postgres, bank):
    payment = pay("80.00")
    bank.set_status(payment.provider_transaction_id, "APPROVED")

    codes = _deliver_concurrently(payment.provider_transaction_id, 5)

    assert codes == [200] * 5
    _assert_one_credit(payment, "80.00")
    assert bank.operations().count("GetOrderStatus") >= 1  # each asked the bank itself
