"""Races on PostgreSQL: real threads, each with its own connection, hammering a few wallets
with mixed operations (top-ups, charging-like hold → capture → release chains, refunds,
adjustments, and the same calls replayed — one after the other and at the same moment).

After every round: no negative balance, every wallet equals the sum of its postings, every
transaction balances, the balance_after chain of each wallet has no gap (no lost update),
the balances equal what the successful calls add up to, and each key posted once. Each
service locks exactly one wallet first, so there is no lock cycle: a deadlock (or any other
unexpected error) fails the test."""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from evpower.tests.support.races import connect, run_in_threads
from payments.errors import HoldClosed, InsufficientBalance, RefundExceedsCharge
from payments.models import Account, LedgerTransaction, Wallet
from payments.selectors import ledger_history
from payments.tests.support import assert_ledger_consistent, new_client
from payments.wallet import (
    wallet_adjust,
    wallet_capture,
    wallet_credit_topup,
    wallet_hold,
    wallet_refund,
    wallet_release,
)

ROUNDS = 5
THREADS = 10
EXPECTED = (InsufficientBalance, HoldClosed, RefundExceedsCharge)


@pytest.fixture
def postgres(transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (scripts/test.sh)")


def som(rng: random.Random, low: int, high: int) -> Decimal:
    return Decimal(rng.randint(low * 100, high * 100)) / 100


class Round:
    """One round's plan and what its calls returned (shared by the worker threads)."""

    def __init__(self, number: int, clients, staff, rng: random.Random):
        self.number, self.clients, self.staff, self.rng = number, clients, staff, rng
        self.start_balances = {w.client_id: w.balance for w in Wallet.objects.all()}
        self.lock = threading.Lock()
        self.results: list[tuple[str, object]] = []
        self.errors: list[BaseException] = []
        self.calls = 0

    def key(self, *parts) -> str:
        return ":".join(map(str, ("r", self.number, *parts)))

    def call(self, name: str, fn, **kwargs):
        with self.lock:
            self.calls += 1
        time.sleep(self.rng.random() / 500)  # jitter: a different interleaving each time
        try:
            result = fn(**kwargs)
        except EXPECTED:
            return None
        except BaseException as exc:  # a deadlock, a constraint, a bug: all fail the test
            with self.lock:
                self.errors.append(exc)
            return None
        with self.lock:
            self.results.append((name, result))
        return result

    # -- tasks (each runs in one worker; a task can be queued twice = concurrent replay) --
    def topup(self, client, n, amount):
        self.call(
            "topup",
            wallet_credit_topup,
            client=client,
            amount=amount,
            payment_ref=n,
            key=self.key("topup", n),
        )

    def adjust(self, client, n, amount):
        self.call(
            "adjust",
            wallet_adjust,
            client=client,
            amount=amount,
            reason="race test",
            author=self.staff,
            key=self.key("adjust", n),
        )

    def refund(self, client, session, n, amount):
        self.call(
            "refund",
            wallet_refund,
            client=client,
            amount=amount,
            ref=("session", f"{self.number}-{session}"),
            key=self.key("refund", n),
        )

    def session(self, client, n, hold_amount, cost, replay: bool):
        ref = ("session", f"{self.number}-{n}")
        hold = self.call(
            "hold", wallet_hold, client=client, amount=hold_amount, ref=ref, key=self.key("hold", n)
        )
        if hold is None:
            return
        steps = [
            (
                "capture",
                wallet_capture,
                {"hold": hold, "amount": cost, "key": self.key("capture", n)},
            ),
            ("release", wallet_release, {"hold": hold, "key": self.key("release", n)}),
        ]
        for name, fn, kwargs in steps:
            self.call(name, fn, **kwargs)
            if replay:  # the same call again, right away: must change nothing
                self.call(name, fn, **kwargs)


def plan(r: Round) -> list:
    rng, tasks = r.rng, []
    for n in range(70):
        tasks.append((r.topup, rng.choice(r.clients), n, som(rng, 1, 15)))
    sessions = {}
    for n in range(40):
        client = sessions[n] = rng.choice(r.clients)
        hold = som(rng, 5, 40)
        cost = min(som(rng, 0, 90), hold * 3)  # often beyond the hold, even the balance
        task = (r.session, client, n, hold, cost, rng.random() < 0.3)
        tasks.append(task)
        if rng.random() < 0.25:
            tasks.append(task)  # the same chain, same keys, from another thread
    for n in range(30):
        sign = rng.choice([1, -1])
        tasks.append((r.adjust, rng.choice(r.clients), n, sign * som(rng, 1, 25)))
    for n in range(25):
        session = rng.randrange(40)
        tasks.append((r.refund, sessions[session], session, n, som(rng, 1, 8)))
    for _ in range(25):  # replays of top-ups at the same time as the first call
        tasks.append(rng.choice(tasks[:70]))
    rng.shuffle(tasks)
    return tasks


def check(r: Round) -> None:
    assert r.errors == [], r.errors
    assert r.calls >= 200
    assert not Wallet.objects.filter(balance__lt=0).exists()
    assert_ledger_consistent()

    # each key posted once; every successful call is in the ledger
    txns = {}
    for name, result in r.results:
        txn = (
            result.transaction
            if name == "capture"
            else (result.transactions.get(kind="hold") if name == "hold" else result)
        )
        txns[txn.pk] = (name, result, txn)
    posted = LedgerTransaction.objects.filter(key__startswith=f"r:{r.number}:").exclude(
        kind="debt_settlement"
    )
    assert sorted(posted.values_list("pk", flat=True)) == sorted(txns)

    # what the successful calls add up to, per wallet (settlements are their side effect)
    expected = defaultdict(Decimal)
    for name, result, txn in txns.values():
        if name in ("topup", "adjust"):
            expected[txn.wallet_id] += txn.amount
        elif name == "refund":  # the part that forgave this session's debt is not balance
            forgiven = sum(p.amount for p in txn.postings.filter(account=Account.CLIENT_DEBT))
            expected[txn.wallet_id] += txn.amount - forgiven
        elif name == "capture":
            expected[txn.wallet_id] -= result.from_hold + result.from_balance
    settled = LedgerTransaction.objects.filter(
        key__startswith=f"r:{r.number}:", kind="debt_settlement"
    )
    for txn in settled:
        expected[txn.wallet_id] -= txn.amount

    for client in r.clients:
        wallet = Wallet.objects.get(client=client)
        # no lost update: each transaction starts where the previous one ended
        history = list(ledger_history(client=client).order_by("id"))
        balance = Decimal(0)
        for txn in history:
            balance += txn.balance_change
            assert txn.balance_after == balance, txn
        assert wallet.balance == balance
        start = r.start_balances.get(client.pk, Decimal(0))
        assert wallet.balance == start + expected[wallet.pk]


def test_concurrent_mixed_operations_keep_every_wallet_right(postgres):
    """Slow (about 12 s loaded): seeded rounds of threads racing on PostgreSQL; fewer
    rounds would try fewer interleavings."""
    clients = [new_client() for _ in range(3)]
    staff = get_user_model().objects.create_user("race", is_staff=True)
    for number in range(ROUNDS):
        seed = random.randrange(2**32)
        r = Round(number, clients, staff, random.Random(seed))
        run_in_threads(plan(r), THREADS)
        try:
            check(r)
        except AssertionError as exc:
            raise AssertionError(f"round {number} (seed {seed}) failed") from exc


def test_simultaneous_holds_never_overdraw(postgres):
    """50 holds of 10 at once on a balance of 100: exactly 10 succeed."""
    client = new_client()
    wallet_credit_topup(client=client, amount=Decimal(100), payment_ref=1, key="t")
    results: list = []
    lock = threading.Lock()
    barrier = threading.Barrier(25)

    def hold(i):
        try:
            connect()
            barrier.wait()
            for j in (2 * i, 2 * i + 1):
                try:
                    h = wallet_hold(
                        client=client, amount=Decimal(10), ref=("session", j), key=f"h{j}"
                    )
                except InsufficientBalance:
                    h = None
                with lock:
                    results.append(h)
        finally:
            connection.close()

    threads = [threading.Thread(target=hold, args=(i,)) for i in range(25)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(1 for h in results if h is not None) == 10
    wallet = Wallet.objects.get(client=client)
    assert (wallet.balance, wallet.held) == (100, 100)
    assert_ledger_consistent()


def test_simultaneous_replays_of_one_capture_post_once(postgres):
    client = new_client()
    wallet_credit_topup(client=client, amount=Decimal(100), payment_ref=1, key="t")
    hold = wallet_hold(client=client, amount=Decimal(50), ref=("session", 1), key="h")
    barrier, results, lock = threading.Barrier(12), [], threading.Lock()

    def capture():
        try:
            connect()
            barrier.wait()
            result = wallet_capture(hold=hold, amount=Decimal(70), key="c")
            with lock:
                results.append(result.transaction.pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=capture) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 12 and len(set(results)) == 1
    assert Wallet.objects.get(client=client).balance == 30
    assert_ledger_consistent()
