"""Races on PostgreSQL: charging sessions and wallets under real concurrency.

Real threads, each with its own connection, play drivers, chargers, operators and the
clock on a few shared wallets and stations, all at once: app starts (open + the charger's
answer, sometimes with its StartTransaction first), StartTransactions of app tags and of
RFID cards (owned or not), MeterValues batches (limit stops answered, duplicates, replays
across transactions), StopTransactions (and their replays, identical or not), driver stops,
operator closes, the clockwork, top-ups, staff adjustments and refunds of sessions.

After every round (the leftovers are closed first): no negative balance; the ledger is
consistent and every wallet's history chains without a gap; every session ended and was
billed at most once — exactly one capture/charge when it cost something, holds released,
its receipt adding up — and the wallets equal what the successful calls and the receipts
add up to; every stopped charger transaction was billed or parked. Any other exception
(a deadlock, a constraint, a bug) fails the round; its seed is printed."""

from __future__ import annotations

import itertools
import random
import threading
import time
import traceback
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count, Max
from django.utils import timezone

from charging import errors
from charging.parked_models import ParkedMessage
from charging.session.limits import Limit
from charging.session.models import ChargingSession
from charging.session.start import (
    client_app_id_tag,
    session_apply_start_answer,
    session_open,
    session_start,
)
from charging.session.stop import session_stop, session_stop_answered
from charging.session.sweeps import (
    session_close_unreported,
    sessions_cancel_unplugged,
    sessions_close_unreported,
    sessions_stop_overlong,
)
from charging.transaction_models import OcppTransaction
from charging.transactions import (
    MeterValuesInput,
    Reading,
    meter_values_record_many,
    transaction_start,
    transaction_stop,
)
from evpower.tests.support.races import connect, run_in_threads
from payments.errors import InsufficientBalance, RefundExceedsCharge
from payments.models import Account, Debt, Hold, LedgerTransaction, Wallet
from payments.selectors import ledger_history
from payments.tests.support import assert_ledger_consistent, new_client
from payments.wallet import wallet_adjust, wallet_credit_topup, wallet_refund
from stations.charger_port import CommandResult
from stations.models import Connector, IdTag, Station
from stations.pricing import Quote
from stations.services import station_create
from stations.tests.factories import IdTagFactory, TariffPlanFactory, TariffRuleFactory

ROUNDS = 4
THREADS = 12
D = Decimal
ENERGY = "Energy.Active.Import.Register"
Status = ChargingSession.Status
# business answers a caller handles; anything else fails the round
EXPECTED = (
    errors.ConnectorOccupied,
    errors.SessionAlreadyActive,
    errors.StartRejected,
    errors.StationTimeout,
    errors.StationOffline,
    errors.StopFailed,
    InsufficientBalance,
    RefundExceedsCharge,
)
ANSWERS = ["accepted"] * 6 + ["rejected", "timeout", "offline"]


@pytest.fixture
def postgres(transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (scripts/test.sh)")


def answer(status: str, command_id: int = 0) -> CommandResult:
    response = {"accepted": {"status": "Accepted"}, "rejected": {"status": "Rejected"}}.get(status)
    return CommandResult(
        command_id=command_id,
        status=status,
        response=response,
        error_description="" if response else f"charger {status}",
    )


class Charger:
    """`send_command` for every thread: answers what the calling thread was told to (a
    thread-local), after running its hook (the charger acting before it answers)."""

    def __init__(self):
        self.local = threading.local()
        self.ids = itertools.count(1)

    def __call__(self, *, station, action, payload=None, timeout=None, requested_by=""):
        hook = getattr(self.local, "hook", None)
        if hook is not None:
            hook(action, payload)
        time.sleep(0.001)  # the charger thinks; nothing is locked meanwhile
        return answer(getattr(self.local, "answer", "accepted"), next(self.ids))

    def told(self, status: str, hook=None):
        self.local.answer, self.local.hook = status, hook


@dataclass
class World:
    clients: list
    stations: list
    cards: dict  # id tag -> owner (None: nobody)
    staff: object


@dataclass
class Flow:
    """One charge as a driver and a charger play it, in one thread."""

    n: int
    station: Station
    connector: int
    t0: datetime
    meter_start: int
    steps: list  # (Wh added, power W, sent twice)
    ending: str  # charger | driver | close | abandon
    replay_stop: bool
    client: object = None  # app flows
    limit: Limit | None = None
    start_answer: str = "accepted"
    early_start: bool = False  # StartTransaction before the answer to RemoteStart
    via_start: bool = False  # session_start (the command service) instead of open + answer
    stop_answer: str = "accepted"
    card: str = ""  # card flows: the RFID tag
    limit_stop_answers: list = field(default_factory=list)


class Round:
    def __init__(self, number: int, world: World, rng: random.Random, charger: Charger):
        self.number, self.world, self.rng, self.charger = number, world, rng, charger
        self.now = timezone.now().replace(microsecond=0)
        self.lock = threading.Lock()
        self.errors: list[str] = []
        self.calls = 0
        self.refused: dict[str, int] = defaultdict(int)  # business errors, by code
        self.sessions: dict[int, int] = {}  # flow -> session id
        self.live: dict[int, tuple] = {}  # flow -> (station id, connector, tx, Wh, at)
        self.stops: dict[int, tuple] = {}  # flow -> the StopTransaction it sent
        self.results: dict[str, list] = defaultdict(list)
        self.first = {
            model: model.objects.aggregate(m=Max("pk"))["m"] or 0
            for model in (LedgerTransaction, ChargingSession, OcppTransaction)
        }
        self.start_wallets = {w.client_id: (w.balance, w.debt) for w in Wallet.objects.all()}

    def key(self, *parts) -> str:
        return ":".join(map(str, ("race", self.number, *parts)))

    def call(self, fn, **kwargs):
        with self.lock:
            self.calls += 1
        time.sleep(random.random() / 400)  # jitter: another interleaving every time
        try:
            return fn(**kwargs)
        except EXPECTED as exc:
            with self.lock:
                self.refused[exc.code] += 1
            return None
        except BaseException:  # a deadlock, a constraint, a bug: all fail the round
            with self.lock:
                self.errors.append(f"{fn.__name__}({kwargs}):\n{traceback.format_exc()}")
            return None

    # -- the charger's messages ----------------------------------------------------------
    def start(self, f: Flow, id_tag: str):
        return self.call(
            transaction_start,
            station_id=f.station.pk,
            connector_id=f.connector,
            id_tag=id_tag,
            meter_start=f.meter_start,
            timestamp=f.t0,
            reservation_id=None,
            now=timezone.now(),
            raw={"idTag": id_tag},
        )

    def stop(self, station_id: int, tx: int, meter_stop: int, at: datetime):
        return self.call(
            transaction_stop,
            station_id=station_id,
            transaction_id=tx,
            meter_stop=meter_stop,
            timestamp=at,
            id_tag=None,
            reason="Local",
            readings=[],
            now=timezone.now(),
            raw={"transactionId": tx, "meterStop": meter_stop},
        )

    def meter(self, f: Flow, tx: int, wh: int, at: datetime, power: int, twice: bool):
        report = meter_report(f.station.pk, f.connector, tx, wh, at, power)
        out = self.call(meter_values_record_many, reports=[report] * (2 if twice else 1))
        for news in itertools.chain.from_iterable(out or []):
            if news.stop is not None:  # what the domain port does: RemoteStop, then its answer
                status = f.limit_stop_answers.pop() if f.limit_stop_answers else "accepted"
                self.call(session_stop_answered, session_id=news.stop[0], result=answer(status))

    # -- tasks ---------------------------------------------------------------------------
    def app_flow(self, f: Flow):
        tag = client_tag(f.client)
        started = None
        if f.via_start:

            def early(action, payload):
                nonlocal started
                if f.early_start:
                    started = self.start(f, payload["idTag"])

            self.charger.told(f.start_answer, early)
            session = self.call(
                session_start,
                client=f.client,
                station_id=f.station.pk,
                connector_number=f.connector,
                limit=f.limit,
            )
            self.charger.told("accepted")
            if session is None and started is None:
                return
        else:
            session = self.call(
                session_open,
                client=f.client,
                station_id=f.station.pk,
                connector_number=f.connector,
                limit=f.limit,
            )
            if session is None:
                return
            self.sessions[f.n] = session.pk
            if f.early_start:
                started = self.start(f, tag)
            self.call(
                session_apply_start_answer, session_id=session.pk, result=answer(f.start_answer)
            )
        if session is not None:
            self.sessions[f.n] = session.pk
        if started is None:
            if f.start_answer != "accepted" and f.n % 3:
                return  # the charger did not start (a third start anyway, late)
            started = self.start(f, tag)
        if started is not None:
            self.charge(f, started.transaction_id)

    def card_flow(self, f: Flow):
        started = self.start(f, f.card)
        if started is not None:
            self.charge(f, started.transaction_id)

    def charge(self, f: Flow, tx: int):
        wh, at = f.meter_start, f.t0
        self.live[f.n] = (f.station.pk, f.connector, tx, wh, at)
        for added, power, twice in f.steps:
            wh, at = wh + added, at + timedelta(minutes=5)
            self.meter(f, tx, wh, at, power, twice)
            self.live[f.n] = (f.station.pk, f.connector, tx, wh, at)
        session_id = (
            self.sessions.get(f.n)
            or ChargingSession.objects.filter(transaction_id=tx)
            .values_list("pk", flat=True)
            .first()
        )
        if f.ending == "driver" and session_id:
            self.charger.told(f.stop_answer)
            self.call(session_stop, session_id=session_id, requested_by="driver", reason="driver")
            self.charger.told("accepted")
        elif f.ending == "close" and session_id:
            self.call(
                session_close_unreported,
                session_id=session_id,
                reason="operator",
                requested_by="staff:race",
            )
            wh += f.n % 2 * 700  # the charger's own stop, later, sometimes disagreeing
        if f.ending == "abandon":
            return
        stop = (f.station.pk, tx, wh + 10, at + timedelta(minutes=1))
        self.stops[f.n] = stop
        self.stop(*stop)
        if f.replay_stop:
            self.stop(*stop)

    def topup(self, client, n, amount):
        txn = self.call(
            wallet_credit_topup,
            client=client,
            amount=amount,
            payment_ref=f"{self.number}-{n}",
            key=self.key("topup", n),
        )
        if txn is not None:
            self.results["topup"].append(txn)

    def adjust(self, client, n, amount):
        txn = self.call(
            wallet_adjust,
            client=client,
            amount=amount,
            reason="race test",
            author=self.world.staff,
            key=self.key("adjust", n),
        )
        if txn is not None:
            self.results["adjust"].append(txn)

    def opened(self, pick: int) -> int | None:
        """One of the sessions the flows opened so far (`pick` chosen by the plan)."""
        with self.lock:
            ids = sorted(self.sessions.values())
        return ids[pick % len(ids)] if ids else None

    def refund(self, pick, n, amount):
        session = ChargingSession.objects.filter(pk=self.opened(pick)).first()
        if session is None:
            return
        txn = self.call(
            wallet_refund,
            client=session.client,
            amount=amount,
            ref=("session", session.pk),
            key=self.key("refund", n),
        )
        if txn is not None:
            self.results["refund"].append(txn)

    def driver_stop(self, pick, status):
        session_id = self.opened(pick)
        if session_id is not None:
            self.charger.told(status)
            self.call(session_stop, session_id=session_id, requested_by="driver", reason="driver")
            self.charger.told("accepted")

    def clockwork(self, which, status):
        now = timezone.now()
        if which == "unplugged":
            self.call(sessions_cancel_unplugged, now=now + timedelta(minutes=11))
        elif which == "overlong":  # the 13-hour flows; their stop answered `status`
            self.charger.told(status)
            self.call(sessions_stop_overlong, now=now)
            self.charger.told("accepted")
        else:
            self.call(sessions_close_unreported, now=now + timedelta(minutes=31))

    def meter_replay(self, flows, nudge):
        """One batch across several transactions: their latest readings again, some a
        second later and a little higher (the coalescer batches reports like this)."""
        reports = []
        for flow in flows:
            if flow in self.live:
                station_id, connector, tx, wh, at = self.live[flow]
                if nudge:
                    wh, at = wh + 5, at + timedelta(seconds=1)
                reports.append(meter_report(station_id, connector, tx, wh, at, 7_000))
        if reports:
            self.call(meter_values_record_many, reports=reports)

    def stop_replay(self, flow, disagree):
        if flow in self.stops:
            station_id, tx, meter_stop, at = self.stops[flow]
            self.stop(station_id, tx, meter_stop + (300 if disagree else 0), at)


def meter_report(station_id, connector, tx, wh, at, power) -> MeterValuesInput:
    return MeterValuesInput(
        station_id,
        connector,
        tx,
        [
            Reading(timestamp=at, value=str(wh), measurand=ENERGY, unit="Wh"),
            Reading(timestamp=at, value=str(power), measurand="Power.Active.Import", unit="W"),
        ],
        timezone.now(),
        {"tx": tx},
    )


_tags: dict[int, str] = {}


def client_tag(client) -> str:
    return _tags[client.pk]


def som(rng: random.Random, low: int, high: int) -> Decimal:
    return Decimal(rng.randint(low * 100, high * 100)) / 100


def a_limit(rng: random.Random) -> Limit:
    kind = rng.choice(["energy", "amount", "both", "none", "none"])
    return Limit(
        kind,
        energy_wh=rng.randint(3, 40) * 1_000 if kind in ("energy", "both") else None,
        amount=som(rng, 15, 150) if kind in ("amount", "both") else None,
    )


def plan(r: Round) -> list:
    rng, w, tasks = r.rng, r.world, []
    flows = []
    for n in range(64):
        card = n % 4 == 3  # a quarter are RFID cards
        long = rng.random() < 0.15  # running for 13 h: the overlong clockwork stops them
        hours = 13 if long else 2
        f = Flow(
            n=n,
            station=rng.choice(w.stations),
            connector=rng.randint(1, 2),
            t0=r.now - timedelta(hours=hours) + timedelta(seconds=r.number * 600 + n * 7),
            meter_start=rng.randint(0, 1_000_000),
            steps=[
                (
                    rng.randint(500, 9_000),
                    rng.choice([0, 7_000, 22_000, 50_000]),
                    rng.random() < 0.2,
                )
                for _ in range(rng.randint(0, 4))
            ],
            ending=rng.choice(["charger"] * 4 + ["driver"] * 3 + ["close", "abandon"]),
            replay_stop=rng.random() < 0.3,
            stop_answer=rng.choice(ANSWERS),
            limit_stop_answers=[rng.choice(ANSWERS) for _ in range(3)],
        )
        if card:
            f.card = rng.choice(list(w.cards))
            tasks.append((r.card_flow, f))
        else:
            f.client, f.limit = rng.choice(w.clients), a_limit(rng)
            f.start_answer, f.early_start = rng.choice(ANSWERS), rng.random() < 0.25
            f.via_start = rng.random() < 0.4
            tasks.append((r.app_flow, f))
        flows.append(f)
    for n in range(40):
        tasks.append((r.topup, rng.choice(w.clients), n, som(rng, 5, 120)))
    for n in range(16):
        tasks.append((r.adjust, rng.choice(w.clients), n, rng.choice([1, -1]) * som(rng, 1, 40)))
    for n in range(30):
        tasks.append((r.refund, rng.randrange(1000), n, som(rng, 1, 30)))
    for _ in range(20):
        tasks.append((r.driver_stop, rng.randrange(1000), rng.choice(ANSWERS)))
    for which in ["unplugged", "overlong", "overlong", "unreported", "unreported"]:
        tasks.append((r.clockwork, which, rng.choice(ANSWERS)))
    for _ in range(20):
        tasks.append((r.meter_replay, rng.sample(range(len(flows)), 4), rng.random() < 0.5))
    for _ in range(20):
        tasks.append((r.stop_replay, rng.randrange(len(flows)), rng.random() < 0.5))
    rng.shuffle(tasks)
    # follow-up tasks (refunds, replays, stops) act on what the flows did: start with half
    # of the flows and top-ups, then everything else mixed
    first = [t for t in tasks if t[0] in (r.app_flow, r.card_flow, r.topup)]
    head, rest = (
        first[: len(first) // 2],
        [t for t in tasks if t[0] not in (r.app_flow, r.card_flow, r.topup)]
        + first[len(first) // 2 :],
    )
    rng.shuffle(rest)
    return head + rest


def drain() -> None:
    """Close what the round left open (the clock and an operator would)."""
    now = timezone.now()
    sessions_cancel_unplugged(now + timedelta(hours=1))
    for session_id in ChargingSession.objects.filter(
        status__in=ChargingSession.ACTIVE_STATUSES
    ).values_list("pk", flat=True):
        session_close_unreported(session_id=session_id, reason="operator", now=now)


def amounts(receipt: dict) -> tuple[Decimal, Decimal, Decimal]:
    return (D(receipt["paid_from_hold"]), D(receipt["paid_from_balance"]), D(receipt["debt"]))


def summary(r: Round) -> str:
    sessions = ChargingSession.objects.filter(pk__gt=r.first[ChargingSession])
    ended = sorted(sessions.values_list("status", "stop_reason").annotate(n=Count("pk")))
    parked = sorted(ParkedMessage.objects.values_list("reason").annotate(n=Count("pk")))
    return (
        f"round {r.number}: {r.calls} calls, refused {dict(r.refused)}, "
        f"refunds {len(r.results['refund'])}, "
        f"sessions {ended}, debts {Debt.objects.count()}, parked (all rounds) {parked}"
    )


def check(r: Round) -> None:
    print(summary(r))  # shown when a round fails
    assert r.errors == [], "\n".join(r.errors)
    assert r.calls >= 200, r.calls
    assert not Wallet.objects.filter(balance__lt=0).exists()
    assert not Wallet.objects.filter(held__gt=0).exists(), "a hold outlived its session"
    assert_ledger_consistent()

    sessions = list(
        ChargingSession.objects.filter(pk__gt=r.first[ChargingSession]).select_related(
            "hold", "transaction"
        )
    )
    assert sessions, "no session started at all: the race tested nothing"
    assert any(s.status == Status.COMPLETED and s.final_cost for s in sessions)
    paid = defaultdict(lambda: D(0))  # client -> taken from their balance by sessions
    owed = defaultdict(lambda: D(0))  # client -> debt sessions left
    for s in sessions:
        bills = list(
            LedgerTransaction.objects.filter(
                ref_type="session", ref_id=str(s.pk), kind__in=["capture", "charge"]
            )
        )
        assert s.settled and not s.is_active, s
        assert len(bills) <= 1, (s, bills)
        if s.status != Status.COMPLETED:
            assert bills == [] and s.final_cost == 0, s
        else:
            assert len(bills) == (1 if s.final_cost > 0 or s.hold_id else 0), (s, bills)
            if bills:
                assert bills[0].amount == s.final_cost, s
                assert bills[0].kind == ("capture" if s.hold_id else "charge"), s
            from_hold, from_balance, debt = amounts(s.receipt)
            assert from_hold + from_balance + debt == s.final_cost == D(s.receipt["total"]), s
            assert (
                s.final_cost
                == Quote.from_snapshot(s.tariff)
                .cost(
                    energy_wh=s.receipt["energy_wh"],
                    charging_seconds=s.receipt["charging_seconds"],
                    idle_seconds=s.receipt["idle_seconds"],
                )
                .total
            ), s
            assert s.energy_wh == max(s.meter_stop_wh - s.meter_start_wh, 0), s
            assert (
                sum(
                    Debt.objects.filter(ref_type="session", ref_id=str(s.pk)).values_list(
                        "amount", flat=True
                    ),
                    D(0),
                )
                == debt
            ), s
            paid[s.client_id] += from_hold + from_balance
            owed[s.client_id] += debt
            tx = s.transaction
            if tx.status == OcppTransaction.Status.STOPPED and tx.meter_stop != s.meter_stop_wh:
                assert ParkedMessage.objects.filter(
                    transaction_id=tx.pk, reason="stop_after_settlement"
                ).exists(), s
        if s.hold_id is not None:
            hold = s.hold
            assert hold.status == Hold.Status.RELEASED, s
            assert hold.captured == (
                amounts(s.receipt)[0] if s.status == Status.COMPLETED else 0
            ), s
            assert LedgerTransaction.objects.filter(key=f"session:{s.pk}:release").count() == 1
        else:
            assert s.origin == ChargingSession.Origin.ID_TAG, s

    # every charger transaction that stopped was billed or parked for an operator
    for tx in OcppTransaction.objects.filter(
        pk__gt=r.first[OcppTransaction], status=OcppTransaction.Status.STOPPED
    ):
        billed = ChargingSession.objects.filter(transaction=tx, settled=True).exists()
        parked = ParkedMessage.objects.filter(
            transaction_id=tx.pk, reason="unbilled_transaction"
        ).exists()
        assert billed or parked, tx

    # the wallets are what the successful calls and the sessions' receipts add up to
    new_txns = LedgerTransaction.objects.filter(pk__gt=r.first[LedgerTransaction])
    settled = defaultdict(lambda: D(0))
    for txn in new_txns.filter(kind="debt_settlement"):
        settled[txn.wallet.client_id] += txn.amount
    credited = defaultdict(lambda: D(0))
    forgiven = defaultdict(lambda: D(0))
    for kind in ("topup", "adjust", "refund"):
        for txn in r.results[kind]:
            debt_part = sum(
                txn.postings.filter(account=Account.CLIENT_DEBT).values_list("amount", flat=True),
                D(0),
            )
            credited[txn.wallet.client_id] += txn.amount - debt_part
            forgiven[txn.wallet.client_id] += debt_part
    assert new_txns.filter(kind__in=["topup", "adjustment", "refund"]).count() == sum(
        len(r.results[kind]) for kind in ("topup", "adjust", "refund")
    )
    for client in r.world.clients:
        wallet = Wallet.objects.get(client=client)
        balance, debt = r.start_wallets.get(client.pk, (D(0), D(0)))
        assert wallet.balance == (
            balance + credited[client.pk] - paid[client.pk] - settled[client.pk]
        ), client
        assert wallet.debt == debt + owed[client.pk] - settled[client.pk] - forgiven[client.pk]
        running = D(0)  # no lost update: each transaction starts where the last one ended
        for txn in ledger_history(client=client).order_by("id"):
            running += txn.balance_change
            assert txn.balance_after == running, txn
        assert wallet.balance == running


def make_world() -> World:
    plan_ = TariffPlanFactory(name="Race", is_default=True)
    TariffRuleFactory(
        plan=plan_,
        price_per_kwh=D("12.00"),
        price_per_minute=D("0.50"),
        session_fee=D("5.00"),
        idle_fee_per_minute=D("1.00"),
        idle_grace_minutes=2,
    )
    stations = [
        station_create(identity=f"RACE-{i}", location_name="Race site", connectors=2).station
        for i in range(3)
    ]
    clients = [new_client() for _ in range(5)]
    for i, client in enumerate(clients):
        _tags[client.pk] = client_app_id_tag(client)
        wallet_credit_topup(
            client=client, amount=D(300), payment_ref=f"init-{i}", key=f"race:init:{i}"
        )
    cards = {"CARD-A": clients[0], "CARD-B": clients[1], "CARD-X": None}
    for tag, owner in cards.items():
        IdTagFactory(id_tag=tag, client=owner, kind=IdTag.Kind.RFID)
    staff = get_user_model().objects.create_user("race-staff", is_staff=True)
    return World(clients=clients, stations=stations, cards=cards, staff=staff)


def online(stations) -> None:
    Station.objects.filter(pk__in=[s.pk for s in stations]).update(
        connected=True, last_seen_at=timezone.now()
    )
    Connector.objects.filter(station__in=stations).update(status="Available")


def test_concurrent_charging_keeps_every_session_and_wallet_right(postgres, monkeypatch, settings):
    """Slow (about 15 s loaded): threads with their own PostgreSQL connections race through
    many rounds; fewer rounds would try fewer interleavings."""
    settings.CHARGING_MAX_ACTIVE_SESSIONS = 2
    charger = Charger()
    monkeypatch.setattr("charging.session.charger.send_command", charger)
    world = make_world()
    for number in range(ROUNDS):
        online(world.stations)
        seed = random.randrange(2**32)
        r = Round(number, world, random.Random(seed), charger)
        try:
            run_in_threads(plan(r), THREADS)
            drain()
            check(r)
        except AssertionError as exc:
            raise AssertionError(f"round {number} (seed {seed}) failed") from exc


def test_simultaneous_opens_on_one_connector_hold_once(postgres):
    """Twelve drivers start on one connector at the same moment: one session, one hold."""
    world = make_world()
    online(world.stations)
    clients = [new_client() for _ in range(12)]
    for i, client in enumerate(clients):
        wallet_credit_topup(client=client, amount=D(100), payment_ref=f"o{i}", key=f"open:{i}")
    barrier, outcomes, lock = threading.Barrier(12), [], threading.Lock()

    def open_one(client):
        try:
            connect()
            barrier.wait()
            try:
                session = session_open(
                    client=client,
                    station_id=world.stations[0].pk,
                    connector_number=1,
                    limit=Limit("none"),
                )
                outcome = session.pk
            except errors.ConnectorOccupied as exc:
                outcome = exc.code
            with lock:
                outcomes.append(outcome)
        finally:
            connection.close()

    threads = [threading.Thread(target=open_one, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("CONNECTOR_OCCUPIED") == 11 and len(outcomes) == 12
    assert Hold.objects.count() == 1 and ChargingSession.objects.count() == 1
    assert_ledger_consistent()


def test_simultaneous_stop_paths_bill_once(postgres, monkeypatch):
    """The charger's StopTransaction (sent three times), the operator's close and the
    clockwork (auto-stop and unreported close) all at the same moment: one bill. Every
    other time the driver asked to stop first (finishing), else it is still charging."""
    world = make_world()
    online(world.stations)
    charger = Charger()
    monkeypatch.setattr("charging.session.charger.send_command", charger)
    client, station = world.clients[2], world.stations[0]
    t0 = timezone.now().replace(microsecond=0) - timedelta(hours=1)
    for round_ in range(5):
        session = session_open(
            client=client,
            station_id=station.pk,
            connector_number=1,
            limit=Limit("amount", amount=D("50")),
        )
        session_apply_start_answer(session_id=session.pk, result=answer("accepted"))
        start = t0 + timedelta(minutes=round_)
        tx = transaction_start(
            station_id=station.pk,
            connector_id=1,
            id_tag=client_tag(client),
            meter_start=1_000,
            timestamp=start,
            reservation_id=None,
            now=timezone.now(),
            raw={},
        ).transaction_id
        meter_values_record_many(
            [meter_report(station.pk, 1, tx, 4_000, start + timedelta(minutes=5), 7_000)]
        )
        if round_ % 2 == 0:
            session_stop(session_id=session.pk, requested_by="driver", reason="driver")
        barrier, problems = threading.Barrier(6), []

        def race(fn, kwargs, barrier=barrier, problems=problems):
            try:
                connect()
                barrier.wait()
                fn(**kwargs)
            except BaseException:
                problems.append(traceback.format_exc())
            finally:
                connection.close()

        stop = {
            "station_id": station.pk,
            "transaction_id": tx,
            "meter_stop": 4_500,
            "timestamp": start + timedelta(minutes=6),
            "id_tag": None,
            "reason": "Remote",
            "readings": [],
            "now": timezone.now(),
            "raw": {},
        }
        jobs = [(transaction_stop, stop)] * 3 + [
            (session_close_unreported, {"session_id": session.pk, "reason": "operator"}),
            (sessions_close_unreported, {"now": timezone.now() + timedelta(hours=1)}),
            (sessions_stop_overlong, {"now": timezone.now() + timedelta(hours=13)}),
        ]
        threads = [threading.Thread(target=race, args=job) for job in jobs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert problems == [], problems
        session.refresh_from_db()
        assert session.status == Status.COMPLETED and session.settled
        bills = LedgerTransaction.objects.filter(
            ref_type="session", ref_id=str(session.pk), kind="capture"
        )
        assert [b.amount for b in bills] == [session.final_cost]
        assert Hold.objects.get(pk=session.hold_id).status == Hold.Status.RELEASED
        # the charger's figure, or the last reading (then the StopTransaction is parked)
        assert session.meter_stop_wh in (4_000, 4_500)
        if session.meter_stop_wh == 4_000:
            assert ParkedMessage.objects.filter(
                transaction_id=tx, reason="stop_after_settlement"
            ).exists()
        assert_ledger_consistent()
