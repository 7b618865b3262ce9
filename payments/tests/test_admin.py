"""Staff side: read-only wallets and ledger; the "Adjust wallet" action."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from payments.models import LedgerTransaction, Wallet
from payments.tests.support import assert_ledger_consistent
from payments.wallet import wallet_credit_topup

pytestmark = pytest.mark.django_db
URL = "/admin/payments/wallet/"


@pytest.fixture
def superuser(client):
    user = get_user_model().objects.create_superuser("ops", "ops@example.kg", "pw-0123456789")
    client.force_login(user)
    return user


@pytest.fixture
def wallet(make_client):
    driver = make_client()
    wallet_credit_topup(client=driver, amount=Decimal("100"), payment_ref=1, key="p1")
    return Wallet.objects.get(client=driver)


def adjust(client, wallet, **fields):
    return client.post(URL, {"action": "adjust_wallet", "_selected_action": [wallet.pk], **fields})


def test_adjust_action_asks_for_amount_and_reason_then_posts_once(client, superuser, wallet):
    form = adjust(client, wallet)
    assert form.status_code == 200
    key = form.context["form"].initial["key"]
    assert key.startswith("admin-adjust:")

    fields = {"adjust": "1", "amount": "-30.50", "reason": "charger fault, session 9", "key": key}
    assert adjust(client, wallet, **fields).status_code == 302
    assert adjust(client, wallet, **fields).status_code == 302  # a double submit

    txn = LedgerTransaction.objects.get(kind="adjustment")
    assert (txn.amount, txn.author, txn.reason) == (
        Decimal("-30.50"),
        superuser,
        "charger fault, session 9",
    )
    wallet.refresh_from_db()
    assert wallet.balance == Decimal("69.50")
    assert_ledger_consistent()


def test_adjust_without_a_reason_is_refused(client, superuser, wallet):
    response = adjust(client, wallet, adjust="1", amount="10", reason="   ", key="admin-adjust:x")
    assert response.status_code == 200
    assert "reason" in response.context["form"].errors
    assert not LedgerTransaction.objects.filter(kind="adjustment").exists()


def test_adjust_below_zero_is_refused_with_a_message(client, superuser, wallet):
    response = adjust(
        client, wallet, adjust="1", amount="-100.01", reason="x", key="admin-adjust:y"
    )
    assert response.status_code == 302
    wallet.refresh_from_db()
    assert wallet.balance == 100
    messages = [str(m) for m in response.wsgi_request._messages]
    assert any("INSUFFICIENT_BALANCE" in m for m in messages)


def test_staff_without_the_adjust_permission_cannot_adjust(client, wallet):
    user = get_user_model().objects.create_user("viewer", password="pw-0123456789", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_wallet"))
    client.force_login(user)
    assert client.get(URL).status_code == 200
    adjust(client, wallet, adjust="1", amount="10", reason="x", key="admin-adjust:z")
    assert not LedgerTransaction.objects.filter(kind="adjustment").exists()


def test_wallet_and_ledger_pages_are_read_only(client, superuser, wallet):
    txn = LedgerTransaction.objects.get()
    assert client.get(URL).status_code == 200
    assert client.get(f"{URL}{wallet.pk}/change/").status_code == 200
    assert client.get("/admin/payments/ledgertransaction/").status_code == 200
    page = client.get(f"/admin/payments/ledgertransaction/{txn.pk}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert client.get("/admin/payments/ledgertransaction/add/").status_code == 403
    assert client.post(f"{URL}{wallet.pk}/delete/").status_code == 403
    assert client.get("/admin/payments/hold/").status_code == 200
    assert client.get("/admin/payments/debt/").status_code == 200
