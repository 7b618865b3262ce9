"""Payme Merchant API: Payme calls POST /api/v1/payments/payme (JSON-RPC 2.0, HTTP Basic
`Paycom:<key>`). Every inbound call here goes over HTTP exactly as Payme sends it; the
sandbox scenarios (developer.help.paycom.uz/pesochnitsa) plus replays, races and forgeries."""

from __future__ import annotations

import base64
import itertools
import json
import secrets
import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test import Client as HttpClient
from django.utils import timezone

from accounts.models import Client
from evpower.models import SecurityEvent
from payments.models import LedgerTransaction, Payment, PaymentEvent, Wallet
from payments.providers import provider_for
from payments.providers.base import FAILED, PAID, PENDING, NotSupported
from payments.providers.payme import rpc
from payments.selectors import ledger_invariant_violations
from payments.tests.support import assert_ledger_consistent, new_client
from payments.topups import payments_expire, topup_cancel, topup_create
from payments.wallet import wallet_hold, wallet_lock

URL = "/api/v1/payments/payme"
KEY = "Zx9#sandbox&key:42"
MERCHANT = "5e730e8e0b852a417aa49ceb"
AMOUNT = Decimal("15000.00")  # sum
TIYIN = 1_500_000
_ids = itertools.count(1)


@pytest.fixture(autouse=True)
def payme_settings(settings):
    settings.PAYMENT_PROVIDERS = ["payme"]
    settings.PAYME = {
        "merchant_id": MERCHANT,
        "key": KEY,
        "checkout_url": "https://checkout.test.paycom.uz",
    }


# -- helpers -----------------------------------------------------------------------------


def basic(user: str = "Paycom", key: str = KEY) -> str:
    return "Basic " + base64.b64encode(f"{user}:{key}".encode()).decode()


def post(body: bytes | str, authorization: str | None = None, method: str = "post"):
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization is not None else {}
    if method == "get":
        response = HttpClient().get(URL, **headers)
    else:
        response = getattr(HttpClient(), method)(
            URL, data=body, content_type="application/json", **headers
        )
    assert response.status_code == 200, response.content
    return response.json()


def call(method: str, params: dict, *, authorization: str | None = None) -> dict:
    request_id = next(_ids)
    answer = post(
        json.dumps({"method": method, "params": params, "id": request_id}),
        authorization if authorization is not None else basic(),
    )
    assert answer["id"] == request_id
    return answer


def result(method: str, params: dict) -> dict:
    answer = call(method, params)
    assert "error" not in answer, answer
    return answer["result"]


def error(method: str, params: dict) -> dict:
    answer = call(method, params)
    assert "result" not in answer, answer
    return answer["error"]


def new_payment(amount: Decimal = AMOUNT) -> Payment:
    client = new_client()
    Wallet.objects.create(client=client, currency="UZS")
    return topup_create(client=client, provider="payme", amount=amount)


def txn_id() -> str:
    return secrets.token_hex(12)  # Payme ids: 24 characters


def create(payment: Payment, txn: str, *, at: int | None = None, amount: int = TIYIN) -> dict:
    return call(
        "CreateTransaction",
        {
            "id": txn,
            "time": at or rpc.now_ms(),
            "amount": amount,
            "account": {"order_id": payment.order_id},
        },
    )


def available(payment: Payment) -> Decimal:
    wallet = Wallet.objects.get(client_id=payment.client_id)
    return wallet.available


def credits(payment: Payment) -> int:
    return LedgerTransaction.objects.filter(
        ref_type="payment", ref_id=str(payment.pk), kind=LedgerTransaction.Kind.TOPUP
    ).count()


def auth_failures() -> int:
    return SecurityEvent.objects.filter(identity="payme", kind="PaymentAuthFailed").count()


def tick() -> None:
    time.sleep(0.005)  # so that a time taken again would differ


# -- checkout link and the provider interface ----------------------------------------------


@pytest.mark.django_db
def test_checkout_link_is_the_base64_get_form():
    payment = new_payment()

    url = payment.checkout["payment_url"]

    assert payment.status == Payment.Status.PENDING
    base, encoded = url.rsplit("/", 1)
    assert base == "https://checkout.test.paycom.uz"
    assert base64.b64decode(encoded).decode() == (
        f"m={MERCHANT};ac.order_id={payment.order_id};a={TIYIN}"
    )


@pytest.mark.django_db
def test_status_answers_from_what_payme_told_us_and_cancel_is_not_offered():
    provider = provider_for("payme")
    payment = new_payment()
    assert provider.status(payment).state == PENDING
    txn = txn_id()
    create(payment, txn)
    payment.refresh_from_db()
    assert provider.status(payment).state == PENDING

    result("PerformTransaction", {"id": txn})
    payment.refresh_from_db()
    paid = provider.status(payment)
    assert (paid.state, paid.amount, paid.provider_transaction_id) == (PAID, AMOUNT, txn)

    other = new_payment()
    other_txn = txn_id()
    create(other, other_txn)
    result("CancelTransaction", {"id": other_txn, "reason": 3})
    other.refresh_from_db()
    assert provider.status(other).state == FAILED
    with pytest.raises(NotSupported):
        provider.cancel(other)


# -- the envelope: auth, method, JSON ------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        basic(key="wrong-key"),
        basic(user="Payme"),
        basic(key=KEY + "x"),
        "Bearer " + KEY,
        "Basic !!!not-base64!!!",
        basic(key=""),
    ],
)
def test_bad_auth_is_refused_with_32504_and_changes_nothing(authorization):
    payment = new_payment()
    before = auth_failures()
    body = json.dumps(
        {
            "method": "CreateTransaction",
            "id": 77,
            "params": {
                "id": txn_id(),
                "time": rpc.now_ms(),
                "amount": TIYIN,
                "account": {"order_id": payment.order_id},
            },
        }
    )

    answer = post(body, authorization)

    assert answer["id"] == 77 and answer["error"]["code"] == -32504
    assert set(answer["error"]["message"]) == {"ru", "uz", "en"}
    assert auth_failures() == before + 1
    payment.refresh_from_db()
    assert (payment.provider_transaction_id, payment.status) == ("", Payment.Status.PENDING)
    events = list(PaymentEvent.objects.filter(provider="payme"))
    assert [(e.verified, e.kind, e.payment_id) for e in events] == [
        (False, "CreateTransaction", None)
    ]
    assert "Authorization" not in json.dumps(events[0].payload)


@pytest.mark.django_db
def test_no_key_configured_refuses_everyone(settings):
    settings.PAYME = {**settings.PAYME, "key": ""}
    answer = post(
        json.dumps({"method": "CheckTransaction", "id": 1, "params": {"id": "x"}}), basic(key="")
    )
    assert answer["error"]["code"] == -32504


@pytest.mark.django_db
def test_bad_auth_on_garbage_still_answers_32504_first():
    answer = post(b"\xff{not json", basic(key="nope"))
    assert answer == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": -32504, "message": rpc.MESSAGES[-32504]},
    }


@pytest.mark.django_db
def test_envelope_errors():
    assert post("", basic(), method="get")["error"]["code"] == -32300
    assert post("{}", basic(), method="put")["error"]["code"] == -32300
    assert post("{not json", basic())["error"]["code"] == -32700
    assert post(b"\xff\xfe", basic())["error"]["code"] == -32700
    assert (
        post('{"method": "CheckTransaction", "params": {"id": NaN}, "id": 1}', basic())["error"][
            "code"
        ]
        == -32700
    )
    assert post("[]", basic())["error"]["code"] == -32600
    assert post('{"params": {}, "id": 5}', basic()) == {
        "jsonrpc": "2.0",
        "id": 5,
        "error": {"code": -32600, "message": rpc.MESSAGES[-32600]},
    }
    assert (
        post('{"method": "CheckTransaction", "params": [], "id": 6}', basic())["error"]["code"]
        == -32600
    )
    assert error("CheckTransaction", {}) == {
        "code": -32600,
        "message": rpc.MESSAGES[-32600],
        "data": "id",
    }
    assert error("GetStatement", {"from": "1", "to": 2})["code"] == -32600
    assert error("NoSuchMethod", {}) == {
        "code": -32601,
        "message": rpc.MESSAGES[-32601],
        "data": "NoSuchMethod",
    }


@pytest.mark.django_db
def test_change_password_is_not_offered_and_the_password_is_never_stored():
    assert error("ChangePassword", {"password": "new-secret-key"})["code"] == -32601
    event = PaymentEvent.objects.get(kind="ChangePassword")
    assert event.verified and event.payload["params"]["password"] == "***"
    assert "new-secret-key" not in json.dumps([event.payload, event.answer])


@pytest.mark.django_db
def test_an_unexpected_failure_is_a_system_error(monkeypatch):
    def broken(params):
        raise RuntimeError("database went away")

    monkeypatch.setitem(rpc.METHODS, "CheckTransaction", broken)
    assert error("CheckTransaction", {"id": txn_id()}) == {
        "code": -32400,
        "message": rpc.MESSAGES[-32400],
    }


# -- CheckPerformTransaction -------------------------------------------------------------


@pytest.mark.django_db
def test_check_perform_allows_a_pending_order_with_its_amount():
    payment = new_payment()
    assert result(
        "CheckPerformTransaction", {"amount": TIYIN, "account": {"order_id": payment.order_id}}
    ) == {"allow": True}
    event = PaymentEvent.objects.get(kind="CheckPerformTransaction")
    assert (event.verified, event.payment_id, event.answer["result"]) == (
        True,
        payment.pk,
        {"allow": True},
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "amount", [TIYIN - 1, TIYIN + 100, TIYIN // 100, 0, -TIYIN, 15000.0, "1500000"]
)
def test_check_perform_with_a_wrong_amount_is_31001(amount):
    payment = new_payment()
    err = error(
        "CheckPerformTransaction", {"amount": amount, "account": {"order_id": payment.order_id}}
    )
    assert err["code"] == -31001


@pytest.mark.django_db
@pytest.mark.parametrize(
    "account",
    [
        {"order_id": "EVP0000000000000000"},
        {"order_id": ""},
        {"phone": "998901234567"},
        {},
        None,
        "EVP1",
        {"order_id": ["x"]},
    ],
)
def test_check_perform_for_an_unknown_order_is_31050_localised(account):
    new_payment()
    err = error("CheckPerformTransaction", {"amount": TIYIN, "account": account})
    assert err == {
        "code": -31050,
        "data": "order_id",
        "message": {"ru": "Заказ не найден", "uz": "Buyurtma topilmadi", "en": "Order not found"},
    }


@pytest.mark.django_db
def test_an_order_of_another_provider_is_unknown_to_payme():
    client = new_client()
    other = Payment.objects.create(
        client=client,
        provider="odengi",
        order_id="EVPKGS01",
        amount=AMOUNT,
        currency="KGS",
        expires_at=timezone.now() + timedelta(minutes=30),
    )
    err = error(
        "CheckPerformTransaction", {"amount": TIYIN, "account": {"order_id": other.order_id}}
    )
    assert (err["code"], err["data"]) == (-31050, "order_id")


@pytest.mark.django_db
def test_closed_or_expired_orders_cannot_be_paid():
    cancelled, expired = new_payment(), new_payment()
    topup_cancel(client=cancelled.client, payment_id=cancelled.pk)
    Payment.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(1))

    for payment in (cancelled, expired):
        params = {"amount": TIYIN, "account": {"order_id": payment.order_id}}
        err = error("CheckPerformTransaction", params)
        assert (err["code"], err["data"], err["message"]) == (
            -31050,
            "order_id",
            rpc.ORDER_NOT_PAYABLE,
        )
        assert create(payment, txn_id())["error"]["code"] == -31050
        payment.refresh_from_db()
        assert payment.provider_transaction_id == ""


# -- Create → Perform → Check ------------------------------------------------------------


@pytest.mark.django_db
def test_create_perform_check_credits_the_wallet_once():
    payment = new_payment()
    txn, at = txn_id(), rpc.now_ms()

    created = create(payment, txn, at=at)["result"]
    assert created["state"] == 1 and created["transaction"] == str(payment.pk)
    assert abs(created["create_time"] - rpc.now_ms()) < 60_000
    assert available(payment) == 0

    performed = result("PerformTransaction", {"id": txn})
    assert performed["state"] == 2 and performed["transaction"] == str(payment.pk)
    assert performed["perform_time"] >= created["create_time"]

    assert result("CheckTransaction", {"id": txn}) == {
        "create_time": created["create_time"],
        "perform_time": performed["perform_time"],
        "cancel_time": 0,
        "transaction": str(payment.pk),
        "state": 2,
        "reason": None,
    }
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PAID
    assert payment.provider_transaction_id == txn
    assert payment.provider_state["time"] == at and payment.provider_state["amount"] == TIYIN
    assert available(payment) == AMOUNT and credits(payment) == 1
    assert_ledger_consistent()


@pytest.mark.django_db
def test_create_reserves_the_order_until_paymes_timeout():
    payment = new_payment()
    at = rpc.now_ms()
    create(payment, txn_id(), at=at)

    payments_expire(now=timezone.now() + timedelta(hours=2))  # past our 30 minutes

    payment.refresh_from_db()
    assert payment.status == Payment.Status.PENDING
    assert payment.expires_at == rpc.from_ms(at + rpc.TIMEOUT_MS)


@pytest.mark.django_db
def test_create_perform_cancel_replayed_give_identical_answers():
    payment = new_payment()
    txn = txn_id()
    at = rpc.now_ms()

    first_create = create(payment, txn, at=at)["result"]
    tick()
    assert create(payment, txn, at=at)["result"] == first_create
    first_perform = result("PerformTransaction", {"id": txn})
    tick()
    assert result("PerformTransaction", {"id": txn}) == first_perform
    first_cancel = result("CancelTransaction", {"id": txn, "reason": 5})
    tick()
    assert result("CancelTransaction", {"id": txn, "reason": 5}) == first_cancel

    assert first_cancel["state"] == -2
    assert result("CheckTransaction", {"id": txn}) == {
        "create_time": first_create["create_time"],
        "perform_time": first_perform["perform_time"],
        "cancel_time": first_cancel["cancel_time"],
        "transaction": str(payment.pk),
        "state": -2,
        "reason": 5,
    }
    assert credits(payment) == 1
    assert (
        LedgerTransaction.objects.filter(
            ref_type="payment", ref_id=str(payment.pk), kind=LedgerTransaction.Kind.TOPUP_REVERSAL
        ).count()
        == 1
    )
    assert available(payment) == 0
    assert_ledger_consistent()


@pytest.mark.django_db
def test_create_replay_after_perform_or_cancel_is_31008():
    performed, cancelled = new_payment(), new_payment()
    t1, t2 = txn_id(), txn_id()
    create(performed, t1)
    result("PerformTransaction", {"id": t1})
    create(cancelled, t2)
    result("CancelTransaction", {"id": t2, "reason": 3})

    assert create(performed, t1)["error"]["code"] == -31008
    assert create(cancelled, t2)["error"]["code"] == -31008
    assert error("PerformTransaction", {"id": t2})["code"] == -31008


@pytest.mark.django_db
def test_a_second_transaction_for_the_same_order_is_31008():
    payment = new_payment()
    first, second = txn_id(), txn_id()
    create(payment, first)

    err = create(payment, second)["error"]
    assert (err["code"], err["message"]) == (-31008, rpc.ORDER_BUSY)
    check = error(
        "CheckPerformTransaction", {"amount": TIYIN, "account": {"order_id": payment.order_id}}
    )
    assert check["code"] == -31008
    assert error("CheckTransaction", {"id": second})["code"] == -31003
    payment.refresh_from_db()
    assert payment.provider_transaction_id == first

    result("PerformTransaction", {"id": first})  # paid: still busy for another id
    assert create(payment, second)["error"]["code"] == -31008
    assert credits(payment) == 1


@pytest.mark.django_db
def test_after_a_cancelled_transaction_the_order_is_closed():
    payment = new_payment()
    first = txn_id()
    create(payment, first)
    result("CancelTransaction", {"id": first, "reason": 3})

    err = create(payment, txn_id())["error"]
    assert (err["code"], err["data"]) == (-31050, "order_id")
    payment.refresh_from_db()
    assert (payment.status, payment.provider_transaction_id) == (Payment.Status.CANCELLED, first)


@pytest.mark.django_db
def test_create_with_a_wrong_amount_or_an_unknown_order():
    payment = new_payment()
    assert create(payment, txn_id(), amount=TIYIN + 1)["error"]["code"] == -31001
    err = call(
        "CreateTransaction",
        {
            "id": txn_id(),
            "time": rpc.now_ms(),
            "amount": TIYIN,
            "account": {"order_id": "EVPNOSUCHORDER"},
        },
    )["error"]
    assert (err["code"], err["data"]) == (-31050, "order_id")
    assert error(
        "CreateTransaction",
        {"id": txn_id(), "amount": TIYIN, "account": {"order_id": payment.order_id}},
    ) == {"code": -32600, "message": rpc.MESSAGES[-32600], "data": "time"}
    payment.refresh_from_db()
    assert payment.provider_transaction_id == ""


@pytest.mark.django_db
def test_a_known_transaction_quoted_with_another_order_is_refused():
    one, two = new_payment(), new_payment()
    txn = txn_id()
    create(one, txn)
    err = create(two, txn)["error"]
    assert (err["code"], err["data"]) == (-31050, "order_id")
    two.refresh_from_db()
    assert two.provider_transaction_id == ""


# -- the 12-hour timeout ------------------------------------------------------------------


@pytest.mark.django_db
def test_a_transaction_past_12_hours_is_cancelled_by_perform():
    payment = new_payment()
    txn = txn_id()
    old = rpc.now_ms() - rpc.TIMEOUT_MS - 1_000
    assert create(payment, txn, at=old)["result"]["state"] == 1

    assert error("PerformTransaction", {"id": txn})["code"] == -31008

    check = result("CheckTransaction", {"id": txn})
    assert (check["state"], check["reason"], check["perform_time"]) == (-1, 4, 0)
    assert check["cancel_time"] > 0
    payment.refresh_from_db()
    assert payment.status == Payment.Status.EXPIRED
    assert credits(payment) == 0 and available(payment) == 0
    assert create(payment, txn, at=old)["error"]["code"] == -31008
    assert error("PerformTransaction", {"id": txn})["code"] == -31008
    # Payme's own timeout cancel gets the stored cancellation
    assert result("CancelTransaction", {"id": txn, "reason": 4}) == {
        "transaction": str(payment.pk),
        "cancel_time": check["cancel_time"],
        "state": -1,
    }


@pytest.mark.django_db
def test_a_transaction_past_12_hours_is_cancelled_by_a_create_replay():
    payment = new_payment()
    txn = txn_id()
    old = rpc.now_ms() - rpc.TIMEOUT_MS - 1
    create(payment, txn, at=old)

    assert create(payment, txn, at=old)["error"]["code"] == -31008

    check = result("CheckTransaction", {"id": txn})
    assert (check["state"], check["reason"]) == (-1, 4)


@pytest.mark.django_db
def test_a_transaction_just_inside_12_hours_is_performed():
    payment = new_payment()
    txn = txn_id()
    create(payment, txn, at=rpc.now_ms() - rpc.TIMEOUT_MS + 60_000)
    assert result("PerformTransaction", {"id": txn})["state"] == 2
    assert available(payment) == AMOUNT


# -- Cancel ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_cancel_before_perform_closes_the_payment_and_perform_is_refused():
    payment = new_payment()
    txn = txn_id()
    create(payment, txn)

    cancelled = result("CancelTransaction", {"id": txn, "reason": 3})

    assert cancelled["state"] == -1 and cancelled["transaction"] == str(payment.pk)
    assert error("PerformTransaction", {"id": txn})["code"] == -31008
    payment.refresh_from_db()
    assert payment.status == Payment.Status.CANCELLED
    assert credits(payment) == 0
    assert result("CheckTransaction", {"id": txn})["reason"] == 3


@pytest.mark.django_db
def test_cancel_after_perform_with_the_money_still_there_refunds_it():
    payment = new_payment()
    txn = txn_id()
    create(payment, txn)
    result("PerformTransaction", {"id": txn})

    cancelled = result("CancelTransaction", {"id": txn, "reason": 5})

    assert cancelled["state"] == -2
    payment.refresh_from_db()
    assert payment.status == Payment.Status.REFUNDED and payment.refunded_at is not None
    assert available(payment) == 0
    reversal = LedgerTransaction.objects.get(kind=LedgerTransaction.Kind.TOPUP_REVERSAL)
    assert (reversal.key, reversal.amount) == (f"payment:{payment.pk}:payme-cancel", AMOUNT)
    assert provider_for("payme").status(payment).state == FAILED
    assert_ledger_consistent()


@pytest.mark.django_db
def test_cancel_after_perform_when_the_money_was_spent_is_31007():
    payment = new_payment()
    txn = txn_id()
    create(payment, txn)
    performed = result("PerformTransaction", {"id": txn})
    wallet_hold(client=payment.client, amount=Decimal("100.00"), ref=("session", 1), key="s1")

    assert error("CancelTransaction", {"id": txn, "reason": 5})["code"] == -31007
    assert error("CancelTransaction", {"id": txn, "reason": 5})["code"] == -31007

    check = result("CheckTransaction", {"id": txn})
    assert (check["state"], check["perform_time"], check["cancel_time"], check["reason"]) == (
        2,
        performed["perform_time"],
        0,
        None,
    )
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PAID
    assert available(payment) == AMOUNT - Decimal("100.00")
    assert_ledger_consistent()


@pytest.mark.django_db
def test_perform_after_the_driver_cancelled_the_top_up_credits_nothing():
    payment = new_payment()
    txn = txn_id()
    create(payment, txn)
    topup_cancel(client=payment.client, payment_id=payment.pk)

    assert error("PerformTransaction", {"id": txn})["code"] == -31008
    assert result("CancelTransaction", {"id": txn, "reason": 3})["state"] == -1

    payment.refresh_from_db()
    assert payment.status == Payment.Status.CANCELLED and credits(payment) == 0


@pytest.mark.django_db
def test_unknown_transactions_are_31003():
    for method, params in [
        ("PerformTransaction", {}),
        ("CancelTransaction", {"reason": 3}),
        ("CheckTransaction", {}),
        ("SetFiscalData", {"type": "PERFORM", "fiscal_data": {}}),
    ]:
        err = error(method, {"id": txn_id(), **params})
        assert err["code"] == -31003 and set(err["message"]) == {"ru", "uz", "en"}
    assert error("CancelTransaction", {"id": txn_id()})["code"] == -32600  # no reason


# -- GetStatement and the statement for reconciliation -------------------------------------


@pytest.mark.django_db
def test_get_statement_selects_by_payme_time_ascending():
    base = rpc.now_ms() - 100_000
    payments = {offset: new_payment() for offset in (3_000, 1_000, 2_000, 50_000)}
    ids = {}
    for offset, payment in payments.items():  # created out of time order
        ids[offset] = txn_id()
        create(payment, ids[offset], at=base + offset)
    result("PerformTransaction", {"id": ids[2_000]})
    result("CancelTransaction", {"id": ids[3_000], "reason": 3})

    statement = result("GetStatement", {"from": base + 1_000, "to": base + 3_000})
    rows = statement["transactions"]

    assert [r["id"] for r in rows] == [ids[1_000], ids[2_000], ids[3_000]]
    assert [r["state"] for r in rows] == [1, 2, -1]
    paid = payments[2_000]
    check = result("CheckTransaction", {"id": ids[2_000]})
    assert rows[1] == {
        "id": ids[2_000],
        "time": base + 2_000,
        "amount": TIYIN,
        "account": {"order_id": paid.order_id},
        **check,
        "receivers": None,
    }
    assert result("GetStatement", {"from": base + 60_000, "to": base + 90_000}) == {
        "transactions": []
    }
    event = PaymentEvent.objects.filter(kind="GetStatement").order_by("id").first()
    assert event.answer["result"] == {"transactions": 3}

    lines = provider_for("payme").statement(rpc.from_ms(base + 1_000), rpc.from_ms(base + 3_000))
    assert [
        (line.provider_transaction_id, line.order_id, line.amount, line.state, line.at)
        for line in lines
    ] == [
        (ids[1_000], payments[1_000].order_id, AMOUNT, PENDING, rpc.from_ms(base + 1_000)),
        (ids[2_000], payments[2_000].order_id, AMOUNT, PAID, rpc.from_ms(base + 2_000)),
        (ids[3_000], payments[3_000].order_id, AMOUNT, FAILED, rpc.from_ms(base + 3_000)),
    ]


@pytest.mark.django_db
def test_set_fiscal_data_is_stored():
    payment = new_payment()
    txn = txn_id()
    create(payment, txn)
    result("PerformTransaction", {"id": txn})
    receipt = {
        "receipt_id": 24,
        "status_code": 0,
        "message": "accepted",
        "terminal_id": "EP000000000025",
        "fiscal_sign": "440239149967",
        "qr_code_url": "https://ofd.soliq.uz/check?t=EP&r=24",
        "date": "20220706221021",
    }

    assert result("SetFiscalData", {"id": txn, "type": "PERFORM", "fiscal_data": receipt}) == {
        "success": True
    }
    assert (
        error("SetFiscalData", {"id": txn, "type": "REFUND", "fiscal_data": receipt})["code"]
        == -32600
    )

    payment.refresh_from_db()
    assert payment.provider_state["fiscal"] == {"PERFORM": receipt}
    assert payment.provider_state["state"] == 2


# -- forgeries and out-of-order deliveries --------------------------------------------------


@pytest.mark.django_db
def test_forged_perform_is_refused_and_credits_nothing():
    payment = new_payment()
    txn = txn_id()
    create(payment, txn)
    before = auth_failures()

    for forged in (basic(key="guess"), basic(user="admin"), None):
        answer = call("PerformTransaction", {"id": txn}, authorization=forged or "")
        assert answer["error"]["code"] == -32504
    assert auth_failures() == before + 3
    mutated = txn[:-1] + ("0" if txn[-1] != "0" else "1")
    assert error("PerformTransaction", {"id": mutated})["code"] == -31003
    assert error("PerformTransaction", {"id": 12345})["code"] == -32600

    payment.refresh_from_db()
    assert payment.status == Payment.Status.PENDING and credits(payment) == 0
    assert result("CheckTransaction", {"id": txn})["state"] == 1
    assert available(payment) == 0


@pytest.mark.django_db
def test_out_of_order_calls_converge():
    payment = new_payment()
    txn = txn_id()
    # Perform / Cancel / Check before Create: Payme has not created it with us
    assert error("PerformTransaction", {"id": txn})["code"] == -31003
    assert error("CancelTransaction", {"id": txn, "reason": 3})["code"] == -31003
    assert error("CheckTransaction", {"id": txn})["code"] == -31003

    create(payment, txn)
    result("PerformTransaction", {"id": txn})
    assert create(payment, txn)["error"]["code"] == -31008  # a late Create replay
    assert result("CheckTransaction", {"id": txn})["state"] == 2
    assert available(payment) == AMOUNT and credits(payment) == 1
    assert_ledger_consistent()


# -- concurrency (real threads, PostgreSQL) -------------------------------------------------


@pytest.fixture
def postgres(transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (scripts/test.sh)")


def in_threads(*jobs) -> list[dict]:
    """Run the jobs at the same moment, each on its own thread and connection."""
    answers: list = [None] * len(jobs)
    failures: list[BaseException] = []
    barrier = threading.Barrier(len(jobs))

    def run(index, job):
        try:
            connection.ensure_connection()
            barrier.wait(timeout=30)
            answers[index] = job()
        except BaseException as exc:  # reported below
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures
    return answers


def test_perform_delivered_ten_times_credits_once(postgres):
    payment = new_payment()
    txn = txn_id()
    creates = in_threads(*[lambda: create(payment, txn)] * 5)
    assert len({json.dumps(a["result"], sort_keys=True) for a in creates}) == 1

    sequential = [result("PerformTransaction", {"id": txn}) for _ in range(5)]
    concurrent = in_threads(*[lambda: call("PerformTransaction", {"id": txn})] * 5)

    answers = sequential + [a["result"] for a in concurrent]
    assert all(a == sequential[0] for a in answers) and sequential[0]["state"] == 2
    assert credits(payment) == 1
    assert available(payment) == AMOUNT
    assert list(ledger_invariant_violations()) == []
    assert_ledger_consistent()
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PAID


def test_creates_with_different_ids_race_and_one_wins(postgres):
    payment = new_payment()
    ids = [txn_id() for _ in range(5)]
    answers = in_threads(*[lambda t=t: create(payment, t) for t in ids])

    winners = [a for a in answers if "result" in a]
    assert len(winners) == 1
    assert sorted(a["error"]["code"] for a in answers if "error" in a) == [-31008] * 4
    payment.refresh_from_db()
    assert payment.provider_transaction_id in ids


def test_perform_racing_cancel_converges(postgres):
    for _ in range(4):
        payment = new_payment()
        txn = txn_id()
        create(payment, txn)

        perform, cancel = in_threads(
            lambda t=txn: call("PerformTransaction", {"id": t}),
            lambda t=txn: call("CancelTransaction", {"id": t, "reason": 3}),
        )

        check = result("CheckTransaction", {"id": txn})
        payment.refresh_from_db()
        if "result" in perform:  # performed first, then refunded by the cancel
            assert cancel["result"]["state"] == -2 and check["state"] == -2
            assert payment.status == Payment.Status.REFUNDED and credits(payment) == 1
        else:  # cancelled first: the perform is refused
            assert perform["error"]["code"] == -31008 and check["state"] == -1
            assert payment.status == Payment.Status.CANCELLED and credits(payment) == 0
        assert available(payment) == 0
    assert_ledger_consistent()


def perform_waits_for_a_lock(timeout: float = 60) -> None:
    """Until another connection of this test waits on a row lock (PostgreSQL's view of it):
    the interleaving the test is about, reached however slow the machine."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            # inside a transaction PostgreSQL keeps the first snapshot of its statistics
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                "current_database() AND wait_event_type = 'Lock' AND pid <> "
                "pg_backend_pid()"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.02)
    raise AssertionError("PerformTransaction never waited for the wallet")


def test_perform_racing_a_charging_settlement_does_not_deadlock(postgres):
    """Charging locks the wallet, then a session row joined with its client; Perform locks
    the payment, then the wallet. Locking the payment must not lock the client row too."""
    payment = new_payment()
    txn = txn_id()
    create(payment, txn)
    wallet_locked = threading.Event()

    def settlement():
        with transaction.atomic():
            wallet_lock(client_id=payment.client_id)
            wallet_locked.set()
            perform_waits_for_a_lock()  # Perform holds the payment and waits for the wallet
            list(Client.objects.select_for_update().filter(pk=payment.client_id))
        return "settled"

    def perform():
        wallet_locked.wait(timeout=10)
        return call("PerformTransaction", {"id": txn})

    settled, performed = in_threads(settlement, perform)

    assert settled == "settled" and performed["result"]["state"] == 2
    assert credits(payment) == 1
