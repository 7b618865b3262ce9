"""The payment sandbox end to end: a real server with PAYMENT_SANDBOX on, a driver topping up
through the API, and the checkout page's Pay / Decline — the "provider" then calls our real
endpoints over HTTP, signed as it signs, and the wallet is credited exactly once."""

from __future__ import annotations

import base64
import html
from decimal import Decimal

import httpx
import pytest

from accounts.tests.factories import ClientFactory
from accounts.tokens import session_start as login_session
from evpower.tests.settings_import import import_settings_with
from evpower.tests.support.processes import ServerProcess
from payments.models import LedgerTransaction, Wallet
from payments.payment_models import Payment, PaymentEvent
from payments.providers.odengi import signing

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def sandbox(django_db_setup, django_db_blocker):
    server = ServerProcess(
        {"PAYMENT_SANDBOX": "true", "PAYMENT_SANDBOX_URL": "http://127.0.0.1:{port}"}
    )
    yield server
    server.stop()


class Driver:
    def __init__(self, server, phone: str, currency: str = "KGS"):
        self.client = ClientFactory(phone=phone)
        Wallet.objects.create(client=self.client, currency=currency)
        self.http = httpx.Client(
            base_url=f"http://127.0.0.1:{server.port}",
            timeout=120,
            headers={"Authorization": "Bearer " + login_session(client=self.client).access},
        )

    def top_up(self, provider: str, amount: str) -> tuple[Payment, str]:
        response = self.http.post(
            "/api/v1/wallet/topups", json={"provider": provider, "amount": amount}
        )
        assert response.status_code == 201, response.text
        body = response.json()
        return Payment.objects.get(pk=body["id"]), body["checkout"]["payment_url"]

    def press(self, url: str, action: str) -> str:
        """The Pay or Decline button: a form post to the checkout page itself."""
        page = httpx.post(url, data={"action": action}, timeout=120)
        assert page.status_code == 200, page.text
        return html.unescape(page.text)

    def balance(self) -> Decimal:
        return Wallet.objects.get(client=self.client).balance


def credits(payment: Payment) -> int:
    return LedgerTransaction.objects.filter(key=f"payment:{payment.pk}:credit").count()


def test_an_odengi_top_up_is_credited_once_through_the_signed_callback(sandbox):
    driver = Driver(sandbox, "+996700500001")
    payment, url = driver.top_up("odengi", "500.00")
    assert url.startswith(f"http://127.0.0.1:{sandbox.port}/sandbox/odengi/pay/")
    checkout = httpx.get(url).text
    assert "500.00 KGS" in checkout and payment.order_id in checkout

    first = driver.press(url, "pay")
    again = driver.press(url, "pay")  # a second press: O!Dengi delivers its callback again

    payment.refresh_from_db()
    assert payment.status == Payment.Status.PAID and credits(payment) == 1
    assert driver.balance() == Decimal("500.00")
    assert "EvPower answered HTTP 200" in first and "EvPower answered HTTP 200" in again
    callbacks = PaymentEvent.objects.filter(payment=payment, kind="callback")
    assert callbacks.count() == 2 and all(e.verified for e in callbacks)
    # credited only once statusPayment (asked back at the sandbox) said so
    assert PaymentEvent.objects.filter(payment=payment, kind="statusPayment").exists()


def test_a_declined_odengi_invoice_closes_the_payment_without_credit(sandbox):
    driver = Driver(sandbox, "+996700500002")
    payment, url = driver.top_up("odengi", "120.00")

    driver.press(url, "decline")

    payment.refresh_from_db()
    assert payment.status == Payment.Status.CANCELLED and credits(payment) == 0
    assert driver.balance() == Decimal("0.00")
    assert "nothing to pay" in driver.press(url, "pay")  # a declined invoice stays declined


def test_a_payme_top_up_is_performed_once_and_a_decline_is_cancelled(sandbox):
    driver = Driver(sandbox, "+998900500003", currency="UZS")
    payment, url = driver.top_up("payme", "1000.00")
    encoded = url.rsplit("/checkout/", 1)[1]
    assert base64.b64decode(encoded).decode().endswith(f"ac.order_id={payment.order_id};a=100000")

    page = driver.press(url, "pay")
    driver.press(url, "pay")  # Payme retries PerformTransaction: the stored result

    payment.refresh_from_db()
    assert "Payme PerformTransaction" in page and credits(payment) == 1
    assert payment.status == Payment.Status.PAID and driver.balance() == Decimal("1000.00")
    assert payment.provider_state["state"] == 2

    declined, other = driver.top_up("payme", "300.00")
    driver.press(other, "decline")
    declined.refresh_from_db()
    assert declined.status == Payment.Status.CANCELLED
    assert declined.provider_state["state"] == -1 and credits(declined) == 0
    assert driver.balance() == Decimal("1000.00")


def test_a_click_top_up_completes_once_and_the_merchant_api_agrees(sandbox, settings):
    from payments import topups

    driver = Driver(sandbox, "+998900500004", currency="UZS")
    payment, url = driver.top_up("click", "2500.00")

    page = driver.press(url, "pay")
    repeat = driver.press(url, "pay")  # a repeated Complete: -4, nothing more

    payment.refresh_from_db()
    assert "Click Prepare" in page and "Click Complete" in page
    assert '"error": -4' in repeat
    assert payment.status == Payment.Status.PAID and credits(payment) == 1
    # our client reads the status from the sandbox's Merchant API, as from Click's
    base = f"http://127.0.0.1:{sandbox.port}/sandbox/click"
    settings.CLICK = {
        **settings.CLICK,
        "service_id": "9001",
        "merchant_id": "9002",
        "merchant_user_id": "9003",
        "secret_key": "sandbox-click-secret",
        "pay_url": f"{base}/pay",
        "api_url": f"{base}/api",
    }
    settings.PAYMENT_PROVIDERS = ["click"]
    assert topups.payment_sync(payment_id=payment.pk).status == Payment.Status.PAID
    assert credits(payment) == 1 and driver.balance() == Decimal("2500.00")

    declined, other = driver.top_up("click", "400.00")
    assert '"error": -9' in driver.press(other, "decline")
    declined.refresh_from_db()
    assert declined.status == Payment.Status.CANCELLED and credits(declined) == 0


def test_the_sandbox_api_refuses_what_odengi_would_refuse(sandbox):
    api = f"http://127.0.0.1:{sandbox.port}/sandbox/odengi/api"
    message = {
        "cmd": "statusPayment",
        "version": 1005,
        "sid": "1000000001",
        "mktime": "1",
        "lang": "ru",
        "data": {"order_id": "EVP0"},
    }
    forged = {**message, "hash": "0" * 32}
    signed = signing.sign("sandbox-odengi-password", message)

    assert httpx.post(api, json=forged).json()["data"]["error"] == 3  # invalid hash
    answer = httpx.post(api, json=signed).json()
    assert answer["data"]["error"] == 6  # a valid request about an unknown invoice
    assert signing.response_hash_ok("sandbox-odengi-password", answer) is True


def test_a_page_for_something_the_provider_never_issued_is_not_found(sandbox):
    base = f"http://127.0.0.1:{sandbox.port}/sandbox"
    assert httpx.get(f"{base}/odengi/pay/404404404404").status_code == 404
    assert httpx.get(f"{base}/payme/checkout/bm90LWEtbGluaw==").status_code == 404
    assert httpx.get(f"{base}/click/pay?service_id=1").status_code == 404
    assert httpx.get(f"{base}/click/api/payment/status/9001/1").status_code == 401  # no Auth


def test_without_the_sandbox_there_is_no_sandbox(client):
    assert (
        client.post("/sandbox/odengi/api", data="{}", content_type="application/json").status_code
        == 404
    )


def test_production_refuses_to_start_with_the_sandbox():
    production = {
        "EVPOWER_ENV": "production",
        "SECRET_KEY": "k" * 25 + "Q7#x" * 7,
        "ALLOWED_HOSTS": "evpower.example",
        "SMS_BACKEND": "accounts.sms.http.HttpJsonBackend",
        "SMS_HTTP_URL": "https://sms.example/send",
        "SMS_HTTP_TOKEN": "gateway-token",
    }

    assert import_settings_with(**production).returncode == 0
    refused = import_settings_with(**production, PAYMENT_SANDBOX="true")
    assert refused.returncode != 0 and "PAYMENT_SANDBOX is on" in refused.stderr
