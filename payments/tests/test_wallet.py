"""Wallet services, one rule per test; every test ends with the ledger consistent."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from payments.errors import (
    AdjustmentNotAllowed,
    HoldClosed,
    IdempotencyConflict,
    InsufficientBalance,
    InvalidAmount,
    RefundExceedsCharge,
)
from payments.models import Account, Debt, Hold, LedgerPosting, LedgerTransaction, Wallet
from payments.selectors import (
    ledger_invariant_violations,
    trial_balance,
    wallet_summary,
)
from payments.tests.support import assert_ledger_consistent
from payments.wallet import (
    wallet_adjust,
    wallet_capture,
    wallet_credit_topup,
    wallet_hold,
    wallet_refund,
    wallet_release,
)

D = Decimal
pytestmark = pytest.mark.django_db


@pytest.fixture
def client(make_client):
    return make_client()


def topup(client, amount, key="t1"):
    return wallet_credit_topup(client=client, amount=D(amount), payment_ref=1, key=key)


def summary(client):
    s = wallet_summary(client=client)
    return s.balance, s.held, s.available, s.debt


def postings(txn):
    return sorted((p.account, p.amount) for p in txn.postings.all())


# -- top-up --------------------------------------------------------------------------------


def test_topup_credits_available_from_provider_clearing(client):
    txn = topup(client, "150.50")

    assert summary(client) == (D("150.50"), 0, D("150.50"), 0)
    assert txn.kind == "topup" and (txn.ref_type, txn.ref_id) == ("payment", "1")
    assert postings(txn) == [
        (Account.CLIENT_AVAILABLE, D("150.50")),
        (Account.PROVIDER_CLEARING, D("-150.50")),
    ]
    assert txn.balance_after == D("150.50")
    assert_ledger_consistent()


def test_topup_twice_with_same_key_posts_once(client):
    first = topup(client, 100, key="payment:1")
    second = topup(client, 100, key="payment:1")

    assert second.pk == first.pk
    assert LedgerTransaction.objects.count() == 1
    assert wallet_summary(client=client).balance == 100


def test_same_key_for_a_different_operation_is_a_conflict(client, make_client):
    topup(client, 100, key="k")
    with pytest.raises(IdempotencyConflict):
        topup(client, 101, key="k")
    with pytest.raises(IdempotencyConflict):
        wallet_hold(client=client, amount=10, ref=("session", 1), key="k")
    with pytest.raises(IdempotencyConflict):  # another wallet: caught by the unique key
        topup(make_client(), 100, key="k")
    assert LedgerTransaction.objects.count() == 1
    assert Wallet.objects.get(client=client).balance == 100
    assert_ledger_consistent()


@pytest.mark.parametrize("amount", [0, -1, "1.005", "abc", "NaN"])
def test_topup_rejects_invalid_amounts(client, amount):
    with pytest.raises(InvalidAmount):
        wallet_credit_topup(client=client, amount=amount, payment_ref=1, key="x")
    assert not LedgerTransaction.objects.exists()


def test_money_is_never_a_float(client):
    with pytest.raises(InvalidAmount):
        wallet_credit_topup(client=client, amount=1.5, payment_ref=1, key="x")


# -- hold / capture / release ---------------------------------------------------------------


def test_hold_moves_available_to_held(client):
    topup(client, 100)
    hold = wallet_hold(client=client, amount=D("60"), ref=("session", 7), key="s7:hold")

    assert summary(client) == (100, 60, 40, 0)
    assert (hold.status, hold.amount, hold.ref_type, hold.ref_id) == ("active", 60, "session", "7")
    assert_ledger_consistent()


def test_hold_twice_returns_the_same_hold(client):
    topup(client, 100)
    first = wallet_hold(client=client, amount=60, ref=("session", 7), key="s7:hold")
    second = wallet_hold(client=client, amount=60, ref=("session", 7), key="s7:hold")

    assert second.pk == first.pk
    assert Hold.objects.count() == 1
    assert wallet_summary(client=client).held == 60


def test_hold_beyond_available_is_insufficient_balance_and_posts_nothing(client):
    topup(client, 100)
    wallet_hold(client=client, amount=70, ref=("session", 1), key="h1")

    with pytest.raises(InsufficientBalance) as exc:
        wallet_hold(client=client, amount=D("30.01"), ref=("session", 2), key="h2")

    assert exc.value.code == "INSUFFICIENT_BALANCE"
    assert exc.value.details == {"required": "30.01", "available": "30.00", "currency": "KGS"}
    assert Hold.objects.count() == 1
    # not recorded: the same key succeeds once there is money
    topup(client, 1, key="t2")
    assert wallet_hold(client=client, amount=D("30.01"), ref=("session", 2), key="h2").amount


def test_hold_without_a_wallet_is_insufficient_balance(client):
    with pytest.raises(InsufficientBalance):
        wallet_hold(client=client, amount=1, ref=("session", 1), key="h")


def test_capture_within_the_hold_then_release_the_rest(client):
    topup(client, 100)
    hold = wallet_hold(client=client, amount=60, ref=("session", 1), key="h")

    capture = wallet_capture(hold=hold, amount=D("45.50"), key="c")
    assert (capture.from_hold, capture.from_balance, capture.debt) == (D("45.50"), 0, 0)
    assert summary(client) == (D("54.50"), D("14.50"), 40, 0)
    assert postings(capture.transaction) == [
        (Account.CLIENT_HELD, D("-45.50")),
        (Account.PLATFORM_REVENUE, D("45.50")),
    ]
    assert (capture.transaction.ref_type, capture.transaction.ref_id) == ("session", "1")

    release = wallet_release(hold=hold, key="r")
    assert release.amount == D("14.50")
    assert summary(client) == (D("54.50"), 0, D("54.50"), 0)
    hold.refresh_from_db()
    assert (hold.status, hold.captured, hold.released) == ("released", D("45.50"), D("14.50"))
    assert_ledger_consistent()


def test_capture_twice_bills_once(client):
    topup(client, 100)
    hold = wallet_hold(client=client, amount=60, ref=("session", 1), key="h")
    first = wallet_capture(hold=hold, amount=50, key="c")
    second = wallet_capture(hold=hold, amount=50, key="c")

    assert second.transaction.pk == first.transaction.pk
    assert (second.from_hold, second.from_balance, second.debt) == (50, 0, 0)
    assert wallet_summary(client=client).balance == 50
    with pytest.raises(HoldClosed):  # another key: a hold is captured once
        wallet_capture(hold=hold, amount=50, key="c2")
    with pytest.raises(IdempotencyConflict):
        wallet_capture(hold=hold, amount=51, key="c")
    assert wallet_summary(client=client).balance == 50


def test_overrun_beyond_the_hold_comes_from_the_balance(client):
    topup(client, 100)
    hold = wallet_hold(client=client, amount=60, ref=("session", 1), key="h")
    capture = wallet_capture(hold=hold, amount=75, key="c")

    assert (capture.from_hold, capture.from_balance, capture.debt) == (60, 15, 0)
    assert summary(client) == (25, 0, 25, 0)
    assert_ledger_consistent()


def test_overrun_beyond_the_balance_becomes_debt_never_a_negative_balance(client):
    topup(client, 100)
    hold = wallet_hold(client=client, amount=60, ref=("session", 1), key="h")
    capture = wallet_capture(hold=hold, amount=130, key="c")

    assert (capture.from_hold, capture.from_balance, capture.debt) == (60, 40, 30)
    assert summary(client) == (0, 0, 0, 30)
    debt = Debt.objects.get()
    assert (debt.amount, debt.outstanding, debt.ref_id) == (30, 30, "1")
    assert postings(capture.transaction) == [
        (Account.CLIENT_AVAILABLE, D("-40")),
        (Account.CLIENT_DEBT, D("-30")),
        (Account.CLIENT_HELD, D("-60")),
        (Account.PLATFORM_REVENUE, D("130")),
    ]
    assert_ledger_consistent()


def test_next_topup_settles_the_debt_first(client):
    topup(client, 100)
    hold = wallet_hold(client=client, amount=60, ref=("session", 1), key="h")
    wallet_capture(hold=hold, amount=130, key="c")

    topup(client, 50, key="t2")

    assert summary(client) == (20, 0, 20, 0)
    debt = Debt.objects.get()
    assert debt.outstanding == 0 and debt.settled_at is not None
    settlement = LedgerTransaction.objects.get(kind="debt_settlement")
    assert settlement.key == "t2:debt-settlement" and settlement.amount == 30
    assert_ledger_consistent()


def test_a_small_topup_settles_part_of_the_debt(client):
    topup(client, 10)
    hold = wallet_hold(client=client, amount=10, ref=("session", 1), key="h")
    wallet_capture(hold=hold, amount=50, key="c")
    topup(client, 15, key="t2")

    assert summary(client) == (0, 0, 0, 25)
    assert Debt.objects.get().settled == 15
    assert_ledger_consistent()


def test_release_of_an_uncaptured_hold_returns_everything(client):
    topup(client, 100)
    hold = wallet_hold(client=client, amount=60, ref=("session", 1), key="h")
    wallet_release(hold=hold, key="r")

    assert summary(client) == (100, 0, 100, 0)
    with pytest.raises(HoldClosed):
        wallet_capture(hold=hold, amount=10, key="c")
    assert_ledger_consistent()


def test_release_twice_posts_once_whatever_the_key(client):
    topup(client, 100)
    hold = wallet_hold(client=client, amount=60, ref=("session", 1), key="h")
    first = wallet_release(hold=hold, key="r")
    assert wallet_release(hold=hold, key="r").pk == first.pk
    assert wallet_release(hold=hold, key="r-again").pk == first.pk

    assert LedgerTransaction.objects.filter(kind="release").count() == 1
    assert summary(client) == (100, 0, 100, 0)


def test_capture_of_the_whole_hold_then_release_posts_nothing(client):
    topup(client, 100)
    hold = wallet_hold(client=client, amount=60, ref=("session", 1), key="h")
    wallet_capture(hold=hold, amount=60, key="c")
    release = wallet_release(hold=hold, key="r")

    assert release.amount == 0 and not release.postings.exists()
    assert summary(client) == (40, 0, 40, 0)
    assert_ledger_consistent()


def test_zero_capture_is_allowed(client):
    topup(client, 100)
    hold = wallet_hold(client=client, amount=60, ref=("session", 1), key="h")
    capture = wallet_capture(hold=hold, amount=0, key="c")
    wallet_release(hold=hold, key="r")

    assert capture.amount == 0
    assert summary(client) == (100, 0, 100, 0)


# -- refund --------------------------------------------------------------------------------


def charged(client, amount, session=1, hold=60):
    h = wallet_hold(client=client, amount=hold, ref=("session", session), key=f"h{session}")
    wallet_capture(hold=h, amount=amount, key=f"c{session}")
    wallet_release(hold=h, key=f"r{session}")


def test_refund_credits_back_up_to_what_was_charged(client, staff_user):
    topup(client, 100)
    charged(client, 50)

    txn = wallet_refund(client=client, amount=20, ref=("session", 1), key="rf1", author=staff_user)
    assert summary(client) == (70, 0, 70, 0)
    assert postings(txn) == [(Account.CLIENT_AVAILABLE, D("20")), (Account.REFUNDS, D("-20"))]
    assert txn.author == staff_user

    with pytest.raises(RefundExceedsCharge) as exc:
        wallet_refund(client=client, amount="30.01", ref=("session", 1), key="rf2")
    assert exc.value.details["refundable"] == "30.00"
    with pytest.raises(RefundExceedsCharge):
        wallet_refund(client=client, amount=1, ref=("session", 99), key="rf3")
    assert_ledger_consistent()


def test_refund_twice_posts_once(client):
    topup(client, 100)
    charged(client, 50)
    first = wallet_refund(client=client, amount=20, ref=("session", 1), key="rf")
    second = wallet_refund(client=client, amount=20, ref=("session", 1), key="rf")

    assert second.pk == first.pk
    assert wallet_summary(client=client).balance == 70


def test_refund_forgives_the_unpaid_debt_of_that_charge_first(client):
    topup(client, 10)
    charged(client, 50, hold=10)  # 10 paid, 40 debt
    assert summary(client) == (0, 0, 0, 40)

    txn = wallet_refund(client=client, amount=45, ref=("session", 1), key="rf")

    assert postings(txn) == [
        (Account.CLIENT_AVAILABLE, D("5")),
        (Account.CLIENT_DEBT, D("40")),
        (Account.REFUNDS, D("-45")),
    ]
    assert summary(client) == (5, 0, 5, 0)
    assert Debt.objects.get().outstanding == 0
    assert_ledger_consistent()


# -- adjustments ---------------------------------------------------------------------------


def test_adjustment_credits_and_debits_with_reason_and_author(client, staff_user):
    credit = wallet_adjust(
        client=client, amount=D("25"), reason="goodwill", author=staff_user, key="a1"
    )
    debit = wallet_adjust(client=client, amount=D("-5"), reason="typo", author=staff_user, key="a2")

    assert summary(client) == (20, 0, 20, 0)
    assert (credit.reason, credit.author, debit.amount) == ("goodwill", staff_user, -5)
    assert postings(debit) == [(Account.ADJUSTMENTS, D("5")), (Account.CLIENT_AVAILABLE, D("-5"))]
    assert (
        wallet_adjust(client=client, amount=D("-5"), reason="typo", author=staff_user, key="a2").pk
        == debit.pk
    )
    assert wallet_summary(client=client).balance == 20
    assert_ledger_consistent()


def test_adjustment_needs_a_reason_and_a_staff_author(client, staff_user, make_client):
    with pytest.raises(AdjustmentNotAllowed):
        wallet_adjust(client=client, amount=5, reason="  ", author=staff_user, key="a")
    with pytest.raises(AdjustmentNotAllowed):
        wallet_adjust(client=client, amount=5, reason="x", author=None, key="a")
    staff_user.is_staff = False
    with pytest.raises(AdjustmentNotAllowed):
        wallet_adjust(client=client, amount=5, reason="x", author=staff_user, key="a")
    with pytest.raises(InvalidAmount):
        staff_user.is_staff = True
        wallet_adjust(client=client, amount=0, reason="x", author=staff_user, key="a")
    assert not LedgerTransaction.objects.exists()


def test_negative_adjustment_cannot_take_held_or_missing_money(client, staff_user):
    topup(client, 100)
    wallet_hold(client=client, amount=60, ref=("session", 1), key="h")
    with pytest.raises(InsufficientBalance):
        wallet_adjust(client=client, amount=D("-40.01"), reason="x", author=staff_user, key="a")
    wallet_adjust(client=client, amount=D("-40"), reason="x", author=staff_user, key="a")
    assert summary(client) == (60, 60, 0, 0)


# -- guarantees of the database -------------------------------------------------------------


def test_a_failed_service_inside_a_caller_transaction_leaves_nothing(client, make_client):
    topup(client, 100, key="k")
    other = make_client()
    with transaction.atomic():
        with pytest.raises(IdempotencyConflict):
            topup(other, 100, key="k")  # fails at the key, after touching the wallet
        assert not Wallet.objects.filter(client=other).exists()
    assert_ledger_consistent()


def test_database_refuses_a_negative_balance_or_held_above_balance(client):
    topup(client, 10)
    with pytest.raises(IntegrityError), transaction.atomic():
        Wallet.objects.filter(client=client).update(balance=D("-0.01"))
    with pytest.raises(IntegrityError), transaction.atomic():
        Wallet.objects.filter(client=client).update(held=D("10.01"))
    with pytest.raises(IntegrityError), transaction.atomic():
        Wallet.objects.filter(client=client).update(debt=D("1"))  # with money available


def test_invariant_check_finds_a_wallet_that_disagrees_with_its_postings(client, make_client):
    topup(client, 10)
    topup(make_client(), 20, key="t2")
    assert not ledger_invariant_violations().exists()

    Wallet.objects.filter(client=client).update(balance=D("11"))

    assert [(w.client_id, w.balance, w.posted_balance) for w in ledger_invariant_violations()] == [
        (client.pk, 11, 10)
    ]


def test_the_ledger_is_append_only(client):
    if connection.vendor != "postgresql":
        pytest.skip("the trigger is PostgreSQL's")
    txn = topup(client, 10)
    with pytest.raises(Exception, match="append-only"), transaction.atomic():
        LedgerTransaction.objects.filter(pk=txn.pk).update(amount=D("1000"))
    with pytest.raises(Exception, match="append-only"), transaction.atomic():
        LedgerPosting.objects.filter(transaction=txn).delete()


def test_trial_balance_sums_to_zero(client, staff_user):
    topup(client, 100)
    charged(client, 130)
    wallet_refund(client=client, amount=10, ref=("session", 1), key="rf")
    wallet_adjust(client=client, amount=5, reason="x", author=staff_user, key="a")

    accounts = trial_balance()
    assert sum(accounts.values()) == 0
    assert accounts[Account.PLATFORM_REVENUE] == 130
    assert accounts[Account.PROVIDER_CLEARING] == -100
    assert_ledger_consistent()


def test_a_key_of_200_characters_is_enough_for_its_debt_settlement(client):
    topup(client, 10)
    hold = wallet_hold(client=client, amount=10, ref=("session", 1), key="h")
    wallet_capture(hold=hold, amount=20, key="c")
    long_key = "k" * 200
    topup(client, 30, key=long_key)
    assert LedgerTransaction.objects.filter(key=f"{long_key}:debt-settlement").exists()
    with pytest.raises(ValueError):
        topup(client, 30, key="k" * 201)
    assert_ledger_consistent()
