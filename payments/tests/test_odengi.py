"""O!Dengi: signed requests against a fake O!Dengi HTTP server (which checks OUR hashes
with its own implementation of the formula), and callbacks driven through our endpoint
exactly as O!Dengi sends them."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test import Client as HttpClient
from django.utils import timezone

from evpower.models import SecurityEvent
from evpower.tests.support.races import run_in_threads
from payments import errors, payment_records, topups
from payments.models import LedgerTransaction, Payment, PaymentEvent, Wallet
from payments.providers import http as provider_http
from payments.providers import provider_for
from payments.providers.base import (
    FAILED,
    PAID,
    PENDING,
    UNKNOWN,
    ProviderRefused,
    ProviderUnavailable,
)
from payments.providers.odengi import signing
from payments.providers.odengi.client import parse_history_csv
from payments.tests.support import (
    PASSWORD,
    SID,
    FakeODengi,
    assert_ledger_consistent,
    hmac_md5,
    new_client,
)

URL = "/api/v1/payments/odengi/callback"
BISHKEK = ZoneInfo("Asia/Bishkek")


@pytest.fixture
def fake(settings):
    server = FakeODengi()
    settings.PAYMENT_PROVIDERS = ["odengi"]
    settings.ODENGI = {
        "url": server.url,
        "sid": SID,
        "password": PASSWORD,
        "result_url": "https://evpower.example/api/v1/payments/odengi/callback",
    }
    settings.PAYMENT_HTTP_ATTEMPTS = 2
    settings.PAYMENT_HTTP_BACKOFF_SECONDS = 0
    settings.PAYMENT_HTTP_TIMEOUT_SECONDS = 5
    settings.PAYMENT_BREAKER_FAILURES = 5
    provider_http._breakers.clear()
    yield server
    server.stop()
    provider_http._breakers.clear()


def open_topup(amount: str = "100.50") -> Payment:
    return topups.topup_create(client=new_client(), provider="odengi", amount=amount)


def paid(
    fake: FakeODengi,
    payment: Payment,
    *,
    trans_id: str = "T-777",
    status="approved",
    amount: int | None = None,
) -> None:
    fake.statuses[payment.order_id] = {
        "status": status,
        "status_pay": 3,
        "trans_id": trans_id,
        "amount": amount if amount is not None else int(payment.amount * 100),
    }


def callback(
    payment: Payment, *, status_pay: str = "3", trans_id: str = "T-777", **changes
) -> dict:
    """A callback as O!Dengi sends it, signed per the published formula; `changes` are
    applied after signing unless `resign` is given."""
    resign = changes.pop("resign", False)
    fields = {
        "trans_id": trans_id,
        "status_pay": status_pay,
        "site_id": SID,
        "order_id": payment.order_id,
        "amount": str(int(payment.amount * 100)),
        "currency": "KGS",
        "mktime": "1700000000",
        "test": "1",
    }
    if resign:
        fields.update(changes)
    fields["hash"] = hmac_md5(
        ":::".join(
            fields[k]
            for k in (
                "trans_id",
                "status_pay",
                "site_id",
                "order_id",
                "amount",
                "currency",
                "mktime",
                "test",
            )
        )
    )
    if not resign:
        fields.update(changes)
    return fields


def post_json(fields: dict, client: HttpClient | None = None):
    return (client or HttpClient()).post(
        URL, data=json.dumps(fields), content_type="application/json"
    )


def credits(payment: Payment) -> int:
    return payment_records.credits_of(payment)


def balance(payment: Payment) -> Decimal:
    return Wallet.objects.get(client_id=payment.client_id).balance


# -- signatures ------------------------------------------------------------------------


def test_request_hash_reproduces_the_published_test_vector():
    message = {
        "cmd": "getOTP",
        "version": 1005,
        "sid": "1000000001",
        "mktime": "1487602271287",
        "lang": "ru",
        "data": {"return_url": None},
    }

    assert signing.canonical_json(message) == (
        '{"cmd":"getOTP","version":1005,"sid":"1000000001","mktime":"1487602271287",'
        '"lang":"ru","data":{"return_url":null}}'
    )
    assert signing.message_hash("Z@(K0APS@B~MW1Q", message) == "72d4a48dc7fe890af8beb00cd440c12d"
    signed = signing.sign("Z@(K0APS@B~MW1Q", message)
    assert list(signed) == ["cmd", "version", "sid", "mktime", "lang", "data", "hash"]
    assert signed["hash"] == "72d4a48dc7fe890af8beb00cd440c12d"


def test_request_json_keeps_unicode_and_slashes_unescaped():
    text = signing.canonical_json({"data": {"desc": "Пополнение", "url": "https://a/b"}})
    assert text == '{"data":{"desc":"Пополнение","url":"https://a/b"}}'


def test_callback_hash_is_the_colon_joined_fields():
    fields = {
        "trans_id": "1",
        "status_pay": "3",
        "site_id": SID,
        "order_id": "EVP1",
        "amount": "10050",
        "currency": "KGS",
        "mktime": "17",
        "test": "0",
    }
    expected = hmac_md5(f"1:::3:::{SID}:::EVP1:::10050:::KGS:::17:::0")

    assert signing.callback_hash(PASSWORD, fields) == expected
    assert signing.callback_hash_ok(PASSWORD, fields, expected.upper())
    assert not signing.callback_hash_ok(PASSWORD, {**fields, "amount": "10051"}, expected)
    assert not signing.callback_hash_ok("", fields, expected)


def test_answer_hash_is_checked_in_both_escapings():
    reply = {"cmd": "x", "data": {"url": "https://a/b", "desc": "ок"}}
    plain = signing.canonical_json(reply)
    php = json.dumps(reply, separators=(",", ":")).replace("/", "\\/")

    assert signing.response_hash_ok(PASSWORD, {**reply, "hash": hmac_md5(plain)}) is True
    assert signing.response_hash_ok(PASSWORD, {**reply, "hash": hmac_md5(php)}) is True
    assert signing.response_hash_ok(PASSWORD, {**reply, "hash": "0" * 32}) is False
    assert signing.response_hash_ok(PASSWORD, reply) is None


# -- outbound: createInvoice, statusPayment, invoiceCancel, refund, getHistoryCsv ------


@pytest.mark.django_db
def test_topup_creates_a_signed_invoice_and_shows_the_qr(fake):
    payment = open_topup("100.50")

    assert fake.bad_hashes == 0
    [request] = fake.commands("createInvoice")
    assert request["version"] == 1005 and request["sid"] == SID and request["lang"] == "ru"
    assert list(request) == ["cmd", "version", "sid", "mktime", "lang", "data", "hash"]
    data = request["data"]
    assert data["order_id"] == payment.order_id
    assert data["amount"] == 10050 and data["currency"] == "KGS"
    assert data["result_url"] == "https://evpower.example/api/v1/payments/odengi/callback"
    assert data["date_life"] == payment.expires_at.astimezone(BISHKEK).strftime("%Y-%m-%d %H:%M:%S")
    assert "пополнение" in data["desc"] and "пополнение" in fake.raw_bodies[0]  # unescaped
    assert payment.status == Payment.Status.PENDING
    assert payment.provider_transaction_id == "INV1"
    assert payment.checkout == {
        "qr_url": "https://mw-api-test.dengi.kg/qr/INV1.png",
        "qr_payload": "00020101021232680012p2p.dengi.kg0104858063045D1A",
        "deep_link": "https://api.dengi.o.kg/app?invoice=INV1",
        "payment_url": "https://pay.dengi.kg/INV1",
    }
    event = PaymentEvent.objects.get(payment=payment, kind="createInvoice")
    assert event.direction == "out" and event.verified
    assert event.answer["data"]["invoice_id"] == "INV1"


@pytest.mark.django_db
def test_result_url_defaults_to_our_callback_on_our_host(fake, settings):
    settings.ODENGI = {**settings.ODENGI, "result_url": ""}
    settings.ALLOWED_HOSTS = ["*", "api.evpower.kg"]
    open_topup()
    assert fake.commands("createInvoice")[0]["data"]["result_url"] == (
        "https://api.evpower.kg/api/v1/payments/odengi/callback"
    )


@pytest.mark.django_db
def test_answers_signed_with_php_escaping_are_accepted(fake):
    fake.mode = "php"
    payment = open_topup()
    assert payment.status == Payment.Status.PENDING and payment.provider_transaction_id


@pytest.mark.django_db
def test_status_maps_only_an_explicit_approval_to_paid(fake):
    payment = open_topup("100.50")
    provider = provider_for("odengi")

    assert provider.status(payment).state == PENDING
    [request] = fake.commands("statusPayment")
    assert request["data"] == {"invoice_id": "INV1", "order_id": payment.order_id}

    paid(fake, payment, status="approved")
    remote = provider.status(payment)
    assert (remote.state, remote.amount, remote.provider_transaction_id) == (
        PAID,
        Decimal("100.50"),
        "INV1",
    )
    for status, state in (
        ("paid", PAID),
        ("canceled", FAILED),
        ("expired", FAILED),
        ("processing", PENDING),
        ("success?", UNKNOWN),
        (None, UNKNOWN),
    ):
        fake.statuses[payment.order_id] = {"status": status, "status_pay": 3}
        assert provider.status(payment).state == state, status
    # status_pay alone (its codes are unconfirmed) never means paid
    fake.statuses[payment.order_id] = {"status_pay": 3, "amount": 10050}
    assert provider.status(payment).state == UNKNOWN
    # a `payments` list: an approved entry for another order does not count
    fake.statuses[payment.order_id] = {
        "payments": [
            {"order_id": "SOMEONE-ELSE", "status": "approved", "amount": 10050},
            {"order_id": payment.order_id, "status": "pending"},
        ]
    }
    assert provider.status(payment).state == PENDING
    assert fake.bad_hashes == 0


@pytest.mark.django_db
def test_an_answer_with_a_wrong_hash_is_not_trusted(fake):
    payment = open_topup()
    paid(fake, payment)
    fake.mode = "bad-hash"

    with pytest.raises(ProviderRefused, match="hash"):
        provider_for("odengi").status(payment)
    with pytest.raises(errors.PaymentProviderError):
        open_topup()
    assert PaymentEvent.objects.filter(kind="statusPayment", verified=False).count() == 1


@pytest.mark.django_db
def test_an_error_answer_is_a_refusal_with_its_code(fake):
    payment = open_topup()
    fake.statuses[payment.order_id] = {"error": 12, "desc": "Счёт не найден"}

    with pytest.raises(ProviderRefused) as refused:
        provider_for("odengi").status(payment)
    assert refused.value.code == 12 and "Счёт не найден" in str(refused.value)


@pytest.mark.django_db
def test_the_driver_cancelling_cancels_the_invoice(fake):
    payment = open_topup()

    topups.topup_cancel(client=payment.client, payment_id=payment.pk)

    [request] = fake.commands("invoiceCancel")
    assert request["data"] == {"invoice_id": "INV1"}
    payment.refresh_from_db()
    assert payment.status == Payment.Status.CANCELLED and credits(payment) == 0
    assert fake.bad_hashes == 0


@pytest.mark.django_db
def test_a_cancel_that_finds_it_paid_credits_instead(fake):
    payment = open_topup()
    paid(fake, payment)

    topups.topup_cancel(client=payment.client, payment_id=payment.pk)

    payment.refresh_from_db()
    assert payment.status == Payment.Status.PAID and credits(payment) == 1
    assert fake.commands("invoiceCancel") == []


@pytest.mark.django_db
def test_refund_goes_back_to_the_ewallet_by_trans_id(fake, staff_user):
    payment = open_topup("100.50")
    paid(fake, payment, trans_id="T-42")
    assert post_json(callback(payment)).status_code == 200

    topups.payment_refund_to_provider(
        payment_id=payment.pk, author=staff_user, reason="driver asked"
    )

    [request] = fake.commands("refundPaymentToEwallet")
    assert request["data"] == {"trans_id": "T-42", "amount": 10050}
    payment.refresh_from_db()
    assert payment.status == Payment.Status.REFUNDED and balance(payment) == Decimal("0.00")
    assert fake.commands("voidPayment") == [] and fake.bad_hashes == 0
    assert_ledger_consistent()


HISTORY = (
    "trans_id;invoice_id;order_id;amount;status;date\n"
    "T-1;INV1;EVP0001;10050;approved;2026-03-02 10:15:00\n"
    "T-2;INV2;EVP0002;5000;canceled;2026-03-02 11:00:00\n"
    "T-3;INV3;EVP0003;7000;pending;2026-03-02 11:30:00\n"
    "T-4;INV4;EVP0004;9900;approved;2026-03-03 00:00:00\n"
    "\n"
)


@pytest.mark.django_db
def test_statement_reads_the_history_csv(fake):
    fake.history_csv = HISTORY
    since = datetime(2026, 3, 2, tzinfo=BISHKEK)

    lines = provider_for("odengi").statement(since, since + timedelta(days=1))

    [request] = fake.commands("getHistoryCsv")
    assert request["data"] == {"date_from": "2026-03-02 00:00:00", "date_to": "2026-03-03 00:00:00"}
    assert [(x.provider_transaction_id, x.order_id, x.amount, x.state) for x in lines] == [
        ("INV1", "EVP0001", Decimal("100.50"), PAID),
        ("INV2", "EVP0002", Decimal("50.00"), FAILED),
    ]  # pending skipped; INV4 is the next day
    assert lines[0].at == datetime(2026, 3, 2, 4, 15, tzinfo=UTC)
    assert fake.bad_hashes == 0


def test_history_csv_with_commas_columns_reordered_and_day_first_dates():
    lines = parse_history_csv(
        "\ufeffDate,Status,Amount,Order_ID,Trans_ID\n02.03.2026 10:15:00,paid,100,EVP9,T-9\n"
    )
    assert [(x.provider_transaction_id, x.order_id, x.amount, x.state, x.at) for x in lines] == [
        ("T-9", "EVP9", Decimal("1.00"), PAID, datetime(2026, 3, 2, 4, 15, tzinfo=UTC))
    ]
    with pytest.raises(ProviderRefused, match="columns"):
        parse_history_csv("order_id;amount;date\nEVP1;100;2026-03-02 10:00:00\n")
    with pytest.raises(ProviderRefused, match="amount"):
        parse_history_csv(
            "trans_id;order_id;amount;status;date\nT;EVP1;1.5;approved;2026-03-02 10:00:00\n"
        )


# -- provider down, circuit breaker ----------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("mode", ["500", "close", "stopped"])
def test_provider_down_creates_nothing_pending(fake, mode):
    if mode == "stopped":
        fake.stop()
    else:
        fake.mode = mode

    with pytest.raises(errors.PaymentProviderError) as failed:
        open_topup()

    assert failed.value.code == "PAYMENT_PROVIDER_ERROR"
    assert not Payment.objects.filter(status__in=Payment.OPEN_STATUSES).exists()
    assert Payment.objects.get().status == Payment.Status.CANCELLED
    assert LedgerTransaction.objects.count() == 0


@pytest.mark.django_db
def test_the_circuit_opens_after_repeated_failures(fake, settings):
    settings.PAYMENT_BREAKER_FAILURES = 3
    settings.PAYMENT_HTTP_ATTEMPTS = 1
    payment = open_topup()
    provider = provider_for("odengi")
    fake.mode = "500"
    hits = fake.hits

    for _ in range(3):
        with pytest.raises(ProviderUnavailable):
            provider.status(payment)
    assert fake.hits == hits + 3
    fake.mode = "ok"  # it is back, but the breaker does not ask yet
    with pytest.raises(ProviderUnavailable, match="circuit open"):
        provider.status(payment)
    with pytest.raises(errors.PaymentProviderError):
        open_topup()
    assert fake.hits == hits + 3


# -- callbacks -------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_verified_callback_credits_once_statuspayment_confirms(fake):
    payment = open_topup("100.50")
    paid(fake, payment)

    response = post_json(callback(payment))

    assert (response.status_code, response.json()) == (200, {"status": "ok"})
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PAID and credits(payment) == 1
    assert balance(payment) == Decimal("100.50")
    assert len(fake.commands("statusPayment")) == 1 and fake.bad_hashes == 0
    event = PaymentEvent.objects.get(kind="callback")
    assert event.verified and event.payment == payment and event.direction == "in"
    assert event.answer == {"http_status": 200, "status": "ok"}
    assert_ledger_consistent()


@pytest.mark.django_db
def test_a_form_encoded_callback_is_accepted_too(fake):
    payment = open_topup()
    paid(fake, payment)

    response = HttpClient().post(
        URL, data=urlencode(callback(payment)), content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 200
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PAID and credits(payment) == 1


@pytest.mark.django_db
def test_json_numbers_are_verified_as_written(fake):
    payment = open_topup("100.50")
    paid(fake, payment)
    fields = callback(payment, status_pay="3", resign=True, test="0")
    body = (
        json.dumps(fields)
        .replace('"amount": "10050"', '"amount": 10050')
        .replace('"status_pay": "3"', '"status_pay": 3')
        .replace('"test": "0"', '"test": 0')
    )
    assert '"amount": 10050' in body

    response = HttpClient().post(URL, data=body, content_type="application/json")

    assert response.status_code == 200 and credits(payment) == 1


@pytest.mark.django_db
def test_a_callback_amount_in_som_is_accepted_as_well(fake):
    payment = open_topup("100.50")
    paid(fake, payment)

    response = post_json(callback(payment, amount="100.50", resign=True))

    assert response.status_code == 200 and credits(payment) == 1


@pytest.mark.django_db
def test_a_callback_whose_status_is_not_paid_credits_nothing(fake):
    payment = open_topup()
    fake.statuses[payment.order_id] = {"status": "pending", "status_pay": 3}

    response = post_json(callback(payment, status_pay="3"))

    assert response.status_code == 200
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PENDING and credits(payment) == 0
    assert len(fake.commands("statusPayment")) == 1


@pytest.mark.django_db
def test_a_callback_when_odengi_cannot_be_asked_asks_for_a_retry(fake):
    payment = open_topup()
    fake.mode = "500"

    response = post_json(callback(payment))

    assert (response.status_code, response.json()) == (
        503,
        {"status": "error", "message": "retry later"},
    )
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PENDING and credits(payment) == 0


@pytest.mark.django_db
def test_a_status_amount_that_differs_is_a_conflict_not_a_credit(fake):
    payment = open_topup("100.50")
    paid(fake, payment, amount=100)

    response = post_json(callback(payment))

    assert (response.status_code, response.json()["message"]) == (409, "AMOUNT_MISMATCH")
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PENDING and credits(payment) == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "make", "status", "security"),
    [
        ("bad hash", lambda p: callback(p, hash="0" * 32), 403, True),
        ("no hash", lambda p: {k: v for k, v in callback(p).items() if k != "hash"}, 403, True),
        ("amount changed", lambda p: callback(p, amount="1000000"), 403, True),
        ("order changed", lambda p: callback(p, order_id="EVP-OTHER"), 403, True),
        ("other site", lambda p: callback(p, site_id="999", resign=True), 403, True),
        ("signed, other amount", lambda p: callback(p, amount="1", resign=True), 400, False),
        ("signed, other currency", lambda p: callback(p, currency="USD", resign=True), 400, False),
        (
            "signed, unknown order",
            lambda p: callback(p, order_id="EVPNOPE", resign=True),
            400,
            False,
        ),
    ],
)
def test_forged_and_mismatched_callbacks_are_refused(fake, name, make, status, security):
    payment = open_topup()
    paid(fake, payment)  # even though O!Dengi would say paid

    response = post_json(make(payment))

    assert response.status_code == status, name
    assert response.json()["status"] == "error"
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PENDING and credits(payment) == 0
    assert fake.commands("statusPayment") == []  # O!Dengi was not even asked
    [event] = PaymentEvent.objects.filter(kind="callback")
    assert event.verified is (not security)
    assert (
        SecurityEvent.objects.filter(identity="odengi", kind="PaymentAuthFailed").exists()
        is security
    )
    if security:
        assert event.payment is None  # refused before anything was looked up


@pytest.mark.django_db
def test_an_unreadable_callback_is_refused(fake):
    response = HttpClient().post(URL, data=b"{not json", content_type="application/json")
    assert response.status_code == 400
    assert PaymentEvent.objects.get(kind="callback").verified is False


@pytest.mark.django_db
def test_callbacks_out_of_order_converge(fake):
    payment = open_topup("100.50")

    # 1. a callback arrives before O!Dengi's status says paid: nothing happens
    assert post_json(callback(payment, status_pay="1")).status_code == 200
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PENDING

    # 2. we give up on it (expiry: re-checked first, then cancelled at O!Dengi)
    Payment.objects.filter(pk=payment.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert topups.payments_expire() == 1
    payment.refresh_from_db()
    assert payment.status == Payment.Status.EXPIRED and len(fake.commands("invoiceCancel")) == 1

    # 3. it was paid after all: the late callback credits it (never lose money)
    paid(fake, payment)
    assert post_json(callback(payment, status_pay="3")).status_code == 200
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PAID and credits(payment) == 1
    assert "paid after it was closed" in payment.failure_reason

    # 4. a stale "not paid" callback after that changes nothing and asks no one
    asked = len(fake.commands("statusPayment"))
    fake.statuses[payment.order_id] = {"status": "canceled"}
    assert post_json(callback(payment, status_pay="2")).status_code == 200
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PAID and credits(payment) == 1
    assert len(fake.commands("statusPayment")) == asked
    assert balance(payment) == Decimal("100.50")
    assert_ledger_consistent()


@pytest.fixture
def postgres(transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (scripts/test.sh)")


def test_ten_deliveries_five_sequential_five_concurrent_credit_once(postgres, fake):
    payment = open_topup("100.50")
    paid(fake, payment)
    body = callback(payment)
    answers: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def deliver():
        response = post_json(body)
        with lock:
            answers.append((response.status_code, response.json()))

    for _ in range(5):
        deliver()
    run_in_threads([(deliver,) for _ in range(5)], threads=5)

    assert answers == [(200, {"status": "ok"})] * 10
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PAID
    assert (
        LedgerTransaction.objects.filter(
            ref_type="payment", ref_id=str(payment.pk), kind=LedgerTransaction.Kind.TOPUP
        ).count()
        == 1
    )
    assert balance(payment) == Decimal("100.50")
    assert PaymentEvent.objects.filter(kind="callback", verified=True).count() == 10
    assert fake.bad_hashes == 0
    assert_ledger_consistent()


def test_concurrent_callbacks_while_pending_then_paid_credit_once(postgres, fake):
    payment = open_topup("20.00")
    body = callback(payment)
    codes: list[int] = []

    def deliver():
        codes.append(post_json(body).status_code)

    run_in_threads([(deliver,) for _ in range(5)], threads=5)  # pending at O!Dengi
    paid(fake, payment)
    run_in_threads([(deliver,) for _ in range(5)], threads=5)

    assert codes == [200] * 10
    assert credits(payment) == 1 and balance(payment) == Decimal("20.00")
    assert_ledger_consistent()


# -- amounts are parsed strictly ---------------------------------------------------------


@pytest.mark.django_db
def test_a_status_amount_in_other_digits_is_refused_cleanly_not_a_500(fake):
    payment = open_topup("100.50")
    paid(fake, payment, amount="10050²")  # str.isdigit() says yes; int() says no

    response = post_json(callback(payment))

    assert response.status_code != 500 and response.status_code >= 400
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PENDING and credits(payment) == 0


@pytest.mark.django_db
def test_the_expiry_job_goes_past_a_payment_it_cannot_read(fake):
    unreadable, fine = open_topup("100.50"), open_topup("20.00")
    paid(fake, unreadable, amount="10050²")
    fake.statuses[fine.order_id] = {"status": "pending", "status_pay": 1}
    Payment.objects.filter(pk__in=[unreadable.pk, fine.pk]).update(
        expires_at=timezone.now() - timedelta(hours=1)
    )

    topups.payments_expire()

    fine.refresh_from_db()
    assert fine.status == Payment.Status.EXPIRED  # the later payment was not held up
    assert credits(unreadable) == 0
