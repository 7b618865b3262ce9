"""Click: the SHOP API driven exactly as Click drives it (form-encoded Prepare / Complete,
md5 sign_string over the raw strings), Click's published test scenarios, replays and
forgeries; and the Merchant API calls (status, reversal) against a local fake Click."""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from django.db import connection
from django.test import Client as HttpClient
from django.utils import timezone

from evpower.models import SecurityEvent
from payments.models import Wallet
from payments.payment_models import Payment, PaymentEvent
from payments.payment_records import credits_of
from payments.providers import http, provider_for
from payments.providers.base import FAILED, PAID, PENDING, UNKNOWN, NotSupported
from payments.tests.support import assert_ledger_consistent, new_client
from payments.topups import (
    payment_refund_to_provider,
    payment_sync,
    payments_expire,
    topup_cancel,
    topup_create,
)

SECRET = "click-test-secret-0001"
SERVICE_ID = "31337"
PREPARE_URL = "/api/v1/payments/click/prepare"
COMPLETE_URL = "/api/v1/payments/click/complete"
SIGN_TIME = "2025-03-14 10:20:30"


# -- a fake Click Merchant API -------------------------------------------------------------


class FakeClick(ThreadingHTTPServer):
    """Answers `routes[(method, path)] = (status, json body)`; 404 otherwise. Keeps what
    it was sent in `seen` (method, path, headers)."""

    daemon_threads = True

    def __init__(self):
        self.routes: dict[tuple[str, str], tuple[int, object]] = {}
        self.seen: list[tuple[str, str, dict]] = []
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v2/merchant"


class _Handler(BaseHTTPRequestHandler):
    def _answer(self):
        server: FakeClick = self.server  # type: ignore[assignment]
        server.seen.append((self.command, self.path, dict(self.headers)))
        status, body = server.routes.get((self.command, self.path), (404, {"error": "nope"}))
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_DELETE = _answer  # noqa: N815 - http.server's naming

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_click(settings):
    server = FakeClick()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    settings.CLICK = {**settings.CLICK, "api_url": server.base}
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


# -- set-up and Click's side of the protocol -----------------------------------------------


@pytest.fixture(autouse=True)
def click_settings(settings):
    settings.PAYMENT_PROVIDERS = ["click"]
    settings.CLICK = {
        "service_id": SERVICE_ID,
        "merchant_id": "4242",
        "merchant_user_id": "777",
        "secret_key": SECRET,
        "pay_url": "https://my.click.uz/services/pay",
        "api_url": "http://127.0.0.1:9/v2/merchant",
    }
    settings.PAYMENT_HTTP_BACKOFF_SECONDS = 0.01
    http._breakers.clear()  # no circuit left open by another test


def new_payment(amount: str = "1000.00") -> Payment:
    client = new_client()
    Wallet.objects.create(client=client, currency="UZS")
    return topup_create(client=client, provider="click", amount=Decimal(amount))


def md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def click_request(
    payment_or_order,
    *,
    action: int,
    click_trans_id: str = "2001",
    amount: str = "1000.00",
    prepare_id: str | None = None,
    error: str = "0",
    error_note: str = "Success",
    secret: str = SECRET,
    sign: str | None = None,
    action_sent: str | None = None,
    **overrides,
) -> dict[str, str]:
    """The fields Click posts, signed as Click signs them (over these exact strings)."""
    order_id = getattr(payment_or_order, "order_id", payment_or_order)
    fields = {
        "click_trans_id": click_trans_id,
        "service_id": SERVICE_ID,
        "click_paydoc_id": "9" + click_trans_id,
        "merchant_trans_id": order_id,
        "amount": amount,
        "action": action_sent or str(action),
        "error": error,
        "error_note": error_note,
        "sign_time": SIGN_TIME,
    }
    if action == 1:
        fields["merchant_prepare_id"] = (
            str(payment_or_order.pk) if prepare_id is None else prepare_id
        )
    fields.update(overrides)
    signed = (
        fields["click_trans_id"]
        + fields["service_id"]
        + secret
        + fields["merchant_trans_id"]
        + (fields["merchant_prepare_id"] if action == 1 else "")
        + fields["amount"]
        + fields["action"]
        + fields["sign_time"]
    )
    fields["sign_string"] = md5(signed) if sign is None else sign
    return fields


def post(url: str, fields: dict[str, str] | str, http: HttpClient | None = None) -> dict:
    body = fields if isinstance(fields, str) else urlencode(fields)
    response = (http or HttpClient()).post(
        url, data=body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    return response.json()


def prepare(payment, **kwargs) -> dict:
    return post(PREPARE_URL, click_request(payment, action=0, **kwargs))


def complete(payment, **kwargs) -> dict:
    return post(COMPLETE_URL, click_request(payment, action=1, **kwargs))


def balance(payment: Payment) -> Decimal:
    return Wallet.objects.get(client_id=payment.client_id).balance


def refreshed(payment: Payment) -> Payment:
    payment.refresh_from_db()
    return payment


def auth_failures() -> int:
    return SecurityEvent.objects.filter(identity="click", kind="PaymentAuthFailed").count()


# -- Click's published test scenarios ------------------------------------------------------


@pytest.mark.django_db
def test_click_scenarios_prepare_and_confirm():
    payment = new_payment()

    # Prepare with a wrong signature: -1, nothing but the audit line and a security event
    answer = prepare(payment, sign=md5("forged"))
    assert (answer["error"], answer["error_note"]) == (-1, "SIGN CHECK FAILED!")
    assert refreshed(payment).provider_transaction_id == ""
    assert auth_failures() == 1

    # Prepare for an order we do not have: -5
    assert prepare("EVPNOSUCHORDER00")["error"] == -5

    # a valid Prepare: 0, with our payment id as merchant_prepare_id
    answer = prepare(payment)
    assert answer == {
        "click_trans_id": 2001,
        "merchant_trans_id": payment.order_id,
        "merchant_prepare_id": payment.pk,
        "error": 0,
        "error_note": "Success",
    }
    assert refreshed(payment).provider_transaction_id == "2001"
    assert payment.status == Payment.Status.PENDING

    # Complete with a wrong signature: -1, nothing credited
    assert complete(payment, secret="not-the-key")["error"] == -1
    assert auth_failures() == 2

    # Complete with a wrong amount: -2
    assert complete(payment, amount="999.00")["error"] == -2
    assert refreshed(payment).status == Payment.Status.PENDING

    # confirm: 0, credited once through payment_mark_paid
    answer = complete(payment)
    payment = refreshed(payment)
    assert answer == {
        "click_trans_id": 2001,
        "merchant_trans_id": payment.order_id,
        "merchant_confirm_id": payment.credit_id,
        "error": 0,
        "error_note": "Success",
    }
    assert payment.status == Payment.Status.PAID
    assert payment.provider_transaction_id == "2001"
    assert balance(payment) == Decimal("1000.00")

    # the same confirm again: -4, no second credit
    answer = complete(payment)
    assert (answer["error"], answer["error_note"]) == (-4, "Already paid")
    assert answer["merchant_confirm_id"] == payment.credit_id

    # Click cancels the confirmed payment: -9 (Click's error is looked at before "already
    # paid"); a confirmed payment stays confirmed (money back only through a reversal)
    answer = complete(payment, error="-5017", error_note="Insufficient funds")
    assert (answer["error"], answer["error_note"]) == (-9, "Transaction cancelled")
    payment = refreshed(payment)
    assert payment.status == Payment.Status.PAID
    assert payment.provider_state["click_cancelled"] == -5017

    assert credits_of(payment) == 1
    assert balance(payment) == Decimal("1000.00")
    assert_ledger_consistent()


@pytest.mark.django_db
def test_click_scenarios_prepare_and_cancel():
    payment = new_payment()
    assert prepare(payment, click_trans_id="3001")["error"] == 0

    # Complete with a merchant_prepare_id we never gave: -6
    answer = complete(payment, click_trans_id="3001", prepare_id=str(payment.pk + 1000))
    assert (answer["error"], answer["error_note"]) == (-6, "Transaction does not exist")

    # Click cancels (its own error < 0): the payment is cancelled, -9
    answer = complete(
        payment, click_trans_id="3001", error="-5017", error_note="Insufficient funds"
    )
    assert answer["error"] == -9
    payment = refreshed(payment)
    assert payment.status == Payment.Status.CANCELLED
    assert "cancelled by Click: -5017" in payment.failure_reason

    # the same cancel again: -9
    assert complete(payment, click_trans_id="3001", error="-5017")["error"] == -9

    # a confirm after the cancel: -9, nothing credited
    assert complete(payment, click_trans_id="3001")["error"] == -9
    payment = refreshed(payment)
    assert payment.status == Payment.Status.CANCELLED
    assert credits_of(payment) == 0
    assert balance(payment) == Decimal("0.00")

    # and a new Prepare for the cancelled order: -9
    assert prepare(payment, click_trans_id="3002")["error"] == -9
    assert_ledger_consistent()


# -- malformed requests -------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "action, missing",
    [
        *[
            (0, name)
            for name in (
                "click_trans_id",
                "service_id",
                "click_paydoc_id",
                "merchant_trans_id",
                "amount",
                "action",
                "error",
                "sign_time",
                "sign_string",
            )
        ],
        (1, "merchant_prepare_id"),
        (1, "sign_string"),
        (1, "amount"),
    ],
)
def test_a_missing_field_is_minus_8_and_changes_nothing(action, missing):
    payment = new_payment()
    if action == 1:
        assert prepare(payment)["error"] == 0
    fields = click_request(payment, action=action)
    del fields[missing]
    answer = post(COMPLETE_URL if action else PREPARE_URL, fields)
    assert (answer["error"], answer["error_note"]) == (-8, "Error in request from click")
    assert refreshed(payment).status == Payment.Status.PENDING
    assert credits_of(payment) == 0
    event = PaymentEvent.objects.filter(provider="click").latest("id")
    assert (event.verified, event.answer["error"]) == (False, -8)
    assert auth_failures() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body", ["", "not a form", "amount=1&amount=2", "\x00\x01", "click_trans_id=%00&amount=1"]
)
def test_a_body_that_is_not_click_form_data_is_minus_8(body):
    assert post(PREPARE_URL, body)["error"] == -8


@pytest.mark.django_db
def test_an_empty_required_value_is_minus_8():
    payment = new_payment()
    assert post(PREPARE_URL, click_request(payment, action=0, click_trans_id=""))["error"] == -8


@pytest.mark.django_db
def test_an_unknown_action_is_minus_3():
    payment = new_payment()
    answer = post(PREPARE_URL, click_request(payment, action=0, action_sent="5"))
    assert (answer["error"], answer["error_note"]) == (-3, "Action not found")
    # a Prepare posted to the Complete address (signed as a Complete would be): -3
    assert post(COMPLETE_URL, click_request(payment, action=1, action_sent="0"))["error"] == -3
    assert refreshed(payment).provider_transaction_id == ""


@pytest.mark.django_db
def test_signed_but_malformed_values_are_minus_8():
    payment = new_payment()
    assert prepare(payment, amount="lots")["error"] == -8
    assert prepare(payment, click_trans_id="12ab")["error"] == -8
    assert prepare(payment, click_trans_id="²")["error"] == -8
    assert prepare(payment, error="--1")["error"] == -8
    assert (
        post(PREPARE_URL, click_request(payment, action=0, click_trans_id="²", secret="bad"))[
            "error"
        ]
        == -1
    )
    assert prepare(payment, service_id="999")["error"] == -8  # not our service
    assert refreshed(payment).provider_transaction_id == ""


# -- amounts ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_amount_is_signed_and_compared_as_sent():
    payment = new_payment("1500.00")
    assert prepare(payment, amount="1500")["error"] == 0  # "1500" is what Click may send
    assert complete(payment, amount="1500.0")["error"] == 0
    assert refreshed(payment).status == Payment.Status.PAID
    assert balance(payment) == Decimal("1500.00")


@pytest.mark.django_db
@pytest.mark.parametrize("amount", ["999.99", "1000.01", "1000.001", "100", "0", "-1000"])
def test_prepare_with_another_amount_is_minus_2(amount):
    payment = new_payment()
    assert prepare(payment, amount=amount)["error"] == -2
    assert refreshed(payment).provider_transaction_id == ""


# -- forgeries ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_forged_completes_credit_nothing():
    payment = new_payment()
    assert prepare(payment)["error"] == 0
    events_before = PaymentEvent.objects.count()

    # signed for 1000.00, then the amount changed on the way
    fields = click_request(payment, action=1)
    fields["amount"] = "1.00"
    assert post(COMPLETE_URL, fields)["error"] == -1
    # signed, then pointed at another prepare id / order
    fields = click_request(payment, action=1)
    fields["merchant_prepare_id"] = str(payment.pk + 1)
    assert post(COMPLETE_URL, fields)["error"] == -1
    other = new_payment()
    fields = click_request(payment, action=1)
    fields["merchant_trans_id"] = other.order_id
    assert post(COMPLETE_URL, fields)["error"] == -1
    # signed with another key; a garbage signature; no signature at all
    assert complete(payment, secret="guessed")["error"] == -1
    assert complete(payment, sign="z" * 32)["error"] == -1
    assert complete(payment, sign="")["error"] == -8

    payment = refreshed(payment)
    assert payment.status == Payment.Status.PENDING and credits_of(payment) == 0
    assert credits_of(other) == 0
    assert auth_failures() == 5
    forged = list(PaymentEvent.objects.filter(direction="in").order_by("id"))[-6:]
    assert [e.verified for e in forged] == [False] * 6
    assert all(e.payment_id is None for e in forged)
    assert all(e.payload.get("sign_string") in ("***", None) for e in forged)
    assert PaymentEvent.objects.count() == events_before + 6
    assert_ledger_consistent()


@pytest.mark.django_db
def test_a_cancel_replayed_as_a_success_after_the_cancel_is_refused():
    """Click's sign_string does not cover `error`: a captured cancel could be replayed with
    error=0 and still verify. The cancel is sticky, so that replay gets -9."""
    payment = new_payment()
    assert prepare(payment)["error"] == 0
    cancel = click_request(payment, action=1, error="-5017", error_note="Insufficient funds")
    assert post(COMPLETE_URL, cancel)["error"] == -9
    flipped = {**cancel, "error": "0", "error_note": "Success"}
    assert post(COMPLETE_URL, flipped)["error"] == -9
    assert credits_of(refreshed(payment)) == 0


@pytest.mark.django_db
def test_a_valid_signature_for_an_unknown_order_is_minus_5_and_credits_nothing():
    payment = new_payment()
    assert complete("EVPNOSUCHORDER00", prepare_id=str(payment.pk))["error"] == -5
    assert credits_of(payment) == 0
    assert auth_failures() == 0


@pytest.mark.django_db
def test_nothing_verifies_without_a_secret_key(settings):
    payment = new_payment()
    settings.CLICK = {**settings.CLICK, "secret_key": ""}
    assert prepare(payment, secret="")["error"] == -1


@pytest.mark.django_db
def test_a_complete_for_another_click_transaction_is_minus_6():
    payment = new_payment()
    assert prepare(payment, click_trans_id="5001")["error"] == 0
    assert complete(payment, click_trans_id="5002")["error"] == -6
    assert credits_of(payment) == 0


# -- order and repetition -----------------------------------------------------------------


@pytest.mark.django_db
def test_a_repeated_prepare_answers_the_same():
    payment = new_payment()
    first, second = prepare(payment), prepare(payment)
    assert first == second and first["merchant_prepare_id"] == payment.pk


@pytest.mark.django_db
def test_a_second_click_transaction_for_a_held_top_up_is_refused():
    payment = new_payment()
    assert prepare(payment, click_trans_id="6001")["error"] == 0
    assert prepare(payment, click_trans_id="6002")["error"] == -9
    assert refreshed(payment).provider_transaction_id == "6001"
    assert complete(payment, click_trans_id="6001")["error"] == 0


@pytest.mark.django_db
def test_complete_before_prepare_is_minus_6_then_the_normal_order_works():
    payment = new_payment()
    assert complete(payment)["error"] == -6
    assert complete(payment, error="-5017")["error"] == -6  # nothing to cancel either
    assert refreshed(payment).status == Payment.Status.PENDING
    assert prepare(payment)["error"] == 0
    assert complete(payment)["error"] == 0
    assert prepare(payment)["error"] == -4  # Prepare repeated after the confirm
    assert credits_of(refreshed(payment)) == 1


@pytest.mark.django_db
def test_prepare_for_an_expired_top_up_is_minus_9():
    payment = new_payment()
    Payment.objects.filter(pk=payment.pk).update(expires_at=timezone.now() - timedelta(hours=1))
    payments_expire()  # Click is unreachable here: the re-check fails, the payment expires
    assert refreshed(payment).status == Payment.Status.EXPIRED
    assert prepare(payment)["error"] == -9


@pytest.mark.django_db
def test_a_confirm_after_we_expired_a_prepared_top_up_is_credited_late():
    """Click has taken the money by the time it confirms: crediting late beats an error
    answer (which only leaves the payment hanging at Click)."""
    payment = new_payment()
    assert prepare(payment)["error"] == 0
    Payment.objects.filter(pk=payment.pk).update(expires_at=timezone.now() - timedelta(hours=1))
    payments_expire()
    assert refreshed(payment).status == Payment.Status.EXPIRED
    assert complete(payment)["error"] == 0
    payment = refreshed(payment)
    assert payment.status == Payment.Status.PAID and credits_of(payment) == 1
    assert "paid after it was closed" in payment.failure_reason
    assert_ledger_consistent()


# -- ten deliveries of the same Complete ----------------------------------------------------


def _deliver(url: str, fields: dict[str, str], answers: list, barrier=None) -> None:
    try:
        if barrier is not None:
            barrier.wait(timeout=30)
        answers.append(post(url, fields))
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_the_same_prepare_and_complete_ten_times_credit_once():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (scripts/test.sh)")
    payment = new_payment()
    for url, fields in (
        (PREPARE_URL, click_request(payment, action=0)),
        (COMPLETE_URL, click_request(payment, action=1)),
    ):
        answers: list[dict] = []
        for _ in range(5):  # one after the other
            answers.append(post(url, fields))
        barrier = threading.Barrier(5)
        threads = [
            threading.Thread(target=_deliver, args=(url, fields, answers, barrier))
            for _ in range(5)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert len(answers) == 10
        codes = sorted(a["error"] for a in answers)
        if url == PREPARE_URL:
            assert codes == [0] * 10
            assert {a["merchant_prepare_id"] for a in answers} == {payment.pk}
        else:
            assert codes == [-4] * 9 + [0]
            assert len({a["merchant_confirm_id"] for a in answers}) == 1

    payment = refreshed(payment)
    assert payment.status == Payment.Status.PAID
    assert credits_of(payment) == 1
    assert balance(payment) == Decimal("1000.00")
    assert PaymentEvent.objects.filter(payment=payment, direction="in").count() == 20
    assert_ledger_consistent()


# -- outbound: the payment page and the Merchant API ---------------------------------------


@pytest.mark.django_db
def test_create_gives_the_click_payment_page(settings):
    settings.CLICK = {**settings.CLICK, "return_url": "https://app.evpower.kg/topup/done"}
    payment = new_payment("25000.50")
    url = urlsplit(payment.checkout["payment_url"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == "https://my.click.uz/services/pay"
    assert dict(parse_qsl(url.query)) == {
        "service_id": SERVICE_ID,
        "merchant_id": "4242",
        "amount": "25000.50",
        "transaction_param": payment.order_id,
        "return_url": "https://app.evpower.kg/topup/done",
    }
    assert payment.status == Payment.Status.PENDING and payment.currency == "UZS"


@pytest.mark.django_db
def test_a_kgs_wallet_cannot_use_click():
    from payments.errors import ProviderNotAvailable

    client = new_client()
    Wallet.objects.create(client=client, currency="KGS")
    with pytest.raises(ProviderNotAvailable):
        topup_create(client=client, provider="click", amount=Decimal("100"))


def _status_path(payment: Payment, day: str) -> str:
    return f"/v2/merchant/payment/status_by_mti/{SERVICE_ID}/{payment.order_id}/{day}"


@pytest.mark.django_db
def test_status_asks_click_by_merchant_trans_id_with_the_auth_header(fake_click):
    payment = new_payment()
    day = payment.created_at.astimezone(timezone.get_fixed_timezone(300)).date().isoformat()
    fake_click.routes[("GET", _status_path(payment, day))] = (
        200,
        {
            "error_code": 0,
            "error_note": "Успешно",
            "payment_id": 88001,
            "merchant_trans_id": payment.order_id,
            "payment_status": 2,
        },
    )

    remote = provider_for("click").status(payment)
    assert remote.state == PAID and "88001" in remote.detail

    method, path, headers = fake_click.seen[-1]
    assert (method, path) == ("GET", _status_path(payment, day))
    user, digest, timestamp = headers["Auth"].split(":")
    assert user == "777" and len(timestamp) == 10
    assert digest == hashlib.sha1((timestamp + SECRET).encode(), usedforsecurity=False).hexdigest()
    assert headers["Accept"] == "application/json"
    assert SECRET not in json.dumps(list(PaymentEvent.objects.values("payload", "answer")))


@pytest.mark.django_db
@pytest.mark.parametrize(
    "payment_status, state", [(2, PAID), (-1, FAILED), (-99, FAILED), (0, PENDING), (1, PENDING)]
)
def test_status_follows_the_payment_id_when_payment_status_is_not_given(
    fake_click, payment_status, state
):
    payment = new_payment()
    assert prepare(payment)["error"] == 0  # the day comes from Click's sign_time now
    fake_click.routes[("GET", _status_path(payment, SIGN_TIME[:10]))] = (
        200,
        {
            "error_code": 0,
            "error_note": "ok",
            "payment_id": 88002,
            "merchant_trans_id": payment.order_id,
        },
    )
    fake_click.routes[("GET", f"/v2/merchant/payment/status/{SERVICE_ID}/88002")] = (
        200,
        {
            "error_code": 0,
            "error_note": "ok",
            "payment_id": 88002,
            "payment_status": payment_status,
        },
    )
    assert provider_for("click").status(refreshed(payment)).state == state


@pytest.mark.django_db
@pytest.mark.parametrize(
    "answer", [(404, {"error": "Not Found"}), (200, {"error_code": -16, "error_note": "Not found"})]
)
def test_a_payment_click_does_not_know_is_unknown(fake_click, answer):
    payment = new_payment()
    day = payment.created_at.astimezone(timezone.get_fixed_timezone(300)).date().isoformat()
    fake_click.routes[("GET", _status_path(payment, day))] = answer
    assert provider_for("click").status(payment).state == UNKNOWN


@pytest.mark.django_db
def test_status_polling_credits_a_payment_click_reports_paid(fake_click):
    payment = new_payment()
    assert prepare(payment)["error"] == 0
    fake_click.routes[("GET", _status_path(payment, SIGN_TIME[:10]))] = (
        200,
        {"error_code": 0, "payment_id": 88003, "payment_status": 2},
    )
    payment = payment_sync(payment_id=payment.pk)
    assert payment.status == Payment.Status.PAID and credits_of(payment) == 1
    # Click's late Complete then finds it paid
    assert complete(payment)["error"] == -4
    assert credits_of(refreshed(payment)) == 1
    assert_ledger_consistent()


@pytest.mark.django_db
def test_the_driver_cancels_an_open_top_up_locally(fake_click):
    payment = new_payment()
    payment = topup_cancel(client=payment.client, payment_id=payment.pk)
    assert payment.status == Payment.Status.CANCELLED
    with pytest.raises(NotSupported):
        provider_for("click").cancel(payment)
    assert prepare(payment)["error"] == -9


@pytest.mark.django_db
def test_refund_reverses_the_whole_payment_at_click(fake_click):
    payment = new_payment()
    assert prepare(payment)["error"] == 0
    assert complete(payment)["error"] == 0
    fake_click.routes[("GET", _status_path(payment, SIGN_TIME[:10]))] = (
        200,
        {"error_code": 0, "payment_id": 88004, "payment_status": 2},
    )
    reversal = ("DELETE", f"/v2/merchant/payment/reversal/{SERVICE_ID}/88004")
    fake_click.routes[reversal] = (200, {"error_code": 0, "error_note": "ok", "payment_id": 88004})

    payment = payment_refund_to_provider(payment_id=payment.pk, reason="driver asked")
    assert payment.status == Payment.Status.REFUNDED
    assert balance(payment) == Decimal("0.00")
    assert [s[:2] for s in fake_click.seen][-1] == reversal
    assert_ledger_consistent()


@pytest.mark.django_db
def test_a_refused_reversal_gives_the_money_back_to_the_wallet(fake_click):
    from payments.errors import PaymentProviderError

    payment = new_payment()
    assert prepare(payment)["error"] == 0
    assert complete(payment)["error"] == 0
    fake_click.routes[("GET", _status_path(payment, SIGN_TIME[:10]))] = (
        200,
        {"error_code": 0, "payment_id": 88005, "payment_status": 2},
    )
    fake_click.routes[("DELETE", f"/v2/merchant/payment/reversal/{SERVICE_ID}/88005")] = (
        200,
        {"error_code": -5, "error_note": "Reversal is not possible"},
    )
    with pytest.raises(PaymentProviderError):
        payment_refund_to_provider(payment_id=payment.pk)
    payment = refreshed(payment)
    assert payment.status == Payment.Status.PAID
    assert balance(payment) == Decimal("1000.00")
    assert_ledger_consistent()


@pytest.mark.django_db
def test_partial_refunds_are_not_supported():
    payment = new_payment()
    with pytest.raises(NotSupported):
        provider_for("click").refund(payment, Decimal("1.00"))


@pytest.mark.django_db
def test_statement_lists_what_click_reports_paid_or_failed(fake_click):
    paid, failed, open_ = new_payment(), new_payment("20.00"), new_payment("30.00")
    for payment, status in ((paid, 2), (failed, -1), (open_, 0)):
        day = payment.created_at.astimezone(timezone.get_fixed_timezone(300)).date()
        fake_click.routes[("GET", _status_path(payment, day.isoformat()))] = (
            200,
            {"error_code": 0, "payment_id": 7000 + payment.pk, "payment_status": status},
        )
    old = new_payment()  # created before the window, not credited in it: not asked
    Payment.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=3))
    late = new_payment("40.00")  # created before the window, credited in it: asked
    assert prepare(late, amount="40.00")["error"] == 0
    assert complete(late, amount="40.00")["error"] == 0
    Payment.objects.filter(pk=late.pk).update(created_at=timezone.now() - timedelta(days=3))
    fake_click.routes[("GET", _status_path(late, SIGN_TIME[:10]))] = (
        200,
        {"error_code": 0, "payment_id": 7999, "payment_status": 2},
    )

    lines = provider_for("click").statement(
        timezone.now() - timedelta(days=1), timezone.now() + timedelta(minutes=1)
    )
    assert sorted((line.order_id, line.state, line.amount) for line in lines) == sorted(
        [
            (paid.order_id, PAID, Decimal("1000.00")),
            (failed.order_id, FAILED, Decimal("20.00")),
            (late.order_id, PAID, Decimal("40.00")),
        ]
    )
    assert {line.provider_transaction_id for line in lines} == {"", "2001"}
    asked = {path.split("/")[6] for _, path, _ in fake_click.seen}
    assert old.order_id not in asked


@pytest.mark.django_db
def test_daily_reconciliation_of_click_finds_a_payment_paid_at_click_but_not_here(fake_click):
    from payments.reconciliation import reconcile

    payment = new_payment()
    assert prepare(payment)["error"] == 0  # Click's Complete never reached us
    fake_click.routes[("GET", _status_path(payment, SIGN_TIME[:10]))] = (
        200,
        {"error_code": 0, "payment_id": 7001, "payment_status": 2},
    )
    issues = reconcile("click", timezone.now().date())
    assert [(i.kind, i.payment_id) for i in issues] == [("missing_credit", payment.pk)]
    assert credits_of(refreshed(payment)) == 0  # nothing is credited by reconciliation
