"""GET /api/v1/wallet and /api/v1/wallet/transactions with real logins."""

from __future__ import annotations

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from accounts.models import Client
from accounts.tests.support import PHONE_A, PHONE_B, assert_error, authed, login
from evpower.api.messages import message_for
from payments.wallet import (
    wallet_capture,
    wallet_credit_topup,
    wallet_hold,
    wallet_release,
)

pytestmark = pytest.mark.django_db


def logged_in(phone: str = PHONE_A) -> tuple[APIClient, Client]:
    tokens = login(phone=phone)
    return authed(tokens["access"]), Client.objects.get(pk=tokens["client"]["id"])


def test_a_new_client_has_an_empty_wallet():
    api, _ = logged_in()
    response = api.get("/api/v1/wallet")
    assert response.status_code == 200
    assert response.json() == {
        "balance": "0.00",
        "held": "0.00",
        "available": "0.00",
        "debt": "0.00",
        "currency": "KGS",
    }
    assert api.get("/api/v1/wallet/transactions").json()["results"] == []


def test_wallet_shows_balance_held_and_available():
    api, client = logged_in()
    wallet_credit_topup(client=client, amount=Decimal("250"), payment_ref=17, key="p17")
    wallet_hold(client=client, amount=Decimal("80.5"), ref=("session", 3), key="s3")

    assert api.get("/api/v1/wallet").json() == {
        "balance": "250.00",
        "held": "80.50",
        "available": "169.50",
        "debt": "0.00",
        "currency": "KGS",
    }


def test_transactions_are_the_clients_own_newest_first_with_refs():
    api, client = logged_in()
    _, other = logged_in(PHONE_B)
    wallet_credit_topup(client=client, amount=Decimal("100"), payment_ref=17, key="p17")
    wallet_credit_topup(client=other, amount=Decimal("999"), payment_ref=18, key="p18")
    hold = wallet_hold(client=client, amount=Decimal("60"), ref=("session", 3), key="s3")
    wallet_capture(hold=hold, amount=Decimal("45.25"), key="s3c")
    wallet_release(hold=hold, key="s3r")

    body = api.get("/api/v1/wallet/transactions").json()

    assert body["count"] == 4
    rows = [
        (
            r["kind"],
            r["amount"],
            r["balance_change"],
            r["available_change"],
            r["balance_after"],
            r["ref"],
        )
        for r in body["results"]
    ]
    assert rows == [
        ("release", "14.75", "0.00", "14.75", "54.75", {"type": "session", "id": "3"}),
        ("capture", "45.25", "-45.25", "0.00", "54.75", {"type": "session", "id": "3"}),
        ("hold", "60.00", "0.00", "-60.00", "100.00", {"type": "session", "id": "3"}),
        ("topup", "100.00", "100.00", "100.00", "100.00", {"type": "payment", "id": "17"}),
    ]
    assert set(body["results"][0]) == {
        "id",
        "kind",
        "amount",
        "currency",
        "balance_change",
        "available_change",
        "balance_after",
        "held_after",
        "ref",
        "created_at",
    }


def test_transactions_are_paginated():
    api, client = logged_in()
    for n in range(25):
        wallet_credit_topup(client=client, amount=Decimal("1"), payment_ref=n, key=f"p{n}")

    first = api.get("/api/v1/wallet/transactions").json()
    assert (first["count"], len(first["results"])) == (25, 20)
    second = api.get(first["next"]).json()
    assert len(second["results"]) == 5 and second["next"] is None
    assert len(api.get("/api/v1/wallet/transactions?page_size=5").json()["results"]) == 5


def test_wallet_needs_a_login():
    assert_error(APIClient().get("/api/v1/wallet"), 401, "UNAUTHENTICATED")
    assert_error(APIClient().get("/api/v1/wallet/transactions"), 401, "UNAUTHENTICATED")
    bad = authed("not-a-token")
    assert_error(bad.get("/api/v1/wallet"), 401, "TOKEN_INVALID")


def test_wallet_is_read_only_through_the_api():
    api, _ = logged_in()
    assert_error(
        api.post("/api/v1/wallet", {"balance": "1000"}, format="json"), 405, "METHOD_NOT_ALLOWED"
    )


def test_payment_error_codes_have_messages_in_every_language():
    from payments.api.messages import MESSAGES

    for code in (
        "INSUFFICIENT_BALANCE",
        "IDEMPOTENCY_CONFLICT",
        "HOLD_CLOSED",
        "REFUND_EXCEEDS_CHARGE",
        "INVALID_AMOUNT",
        "ADJUSTMENT_NOT_ALLOWED",
        "IDEMPOTENCY_IN_PROGRESS",
    ):
        assert set(MESSAGES[code]) == {"ru", "ky", "en"}
    assert message_for("INSUFFICIENT_BALANCE", None).startswith("Not enough money")
