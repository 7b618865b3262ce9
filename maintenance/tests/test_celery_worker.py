"""The clockwork for real: the beat schedule synced into django-celery-beat's tables, and
Celery worker and beat PROCESSES (`celery -A evpower worker|beat`) against Redis and the
test database, including a worker killed (SIGKILL) in the middle of a task.

The worker and beat run with maintenance/tests/celery_settings.py (the project's settings
plus a short Redis visibility timeout, and one short beat entry for the beat test), on a
Redis database of their own (BROKER_DB plus REDIS_URL's, flushed per test) and a queue of
their own per test.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import queue
import threading
import time
import uuid
from datetime import UTC, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from charging.session.models import ChargingSession
from charging.tests.support import charging_session, funded_client, meter, online, open_session
from evpower.celery import app
from evpower.tests.support.celery_worker import (
    TASK_WAIT,
    VISIBILITY_TIMEOUT,
    CeleryProcess,
    broker_url,
)
from evpower.tests.support.processes import database_url
from maintenance.beat import FROM_CODE, LEFT_CODE, beat_schedule_sync, sync_on_beat_start
from ocpp_bridge.models import CommandRecord
from payments.models import LedgerTransaction, Payment, ReconciliationIssue
from payments.payment_records import payment_mark_paid
from payments.providers.odengi.client import LOCAL_TZ
from payments.tests.support import PASSWORD, SID, FakeODengi, assert_ledger_consistent, new_client
from payments.topups import new_order_id
from stations.models import Station
from stations.tariff_models import TariffPlan
from stations.tests.factories import TariffPlanFactory, TariffRuleFactory

# -- the beat schedule in the database ------------------------------------------------------


def _row(name: str) -> PeriodicTask:
    return PeriodicTask.objects.select_related("interval", "crontab").get(name=name)


@pytest.mark.django_db
def test_migrate_puts_every_code_entry_in_the_beat_tables():
    # the test database was migrated: post_migrate synced the code's schedule
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        row = _row(name)
        assert (row.task, row.enabled) == (entry["task"], True)
        assert row.description.startswith(FROM_CODE)
        if isinstance(entry["schedule"], float):
            assert (row.interval.every, row.interval.period, row.crontab) == (
                int(entry["schedule"]),
                IntervalSchedule.SECONDS,
                None,
            )
        else:
            cron = entry["schedule"]
            assert row.interval is None
            assert (row.crontab.minute, row.crontab.hour, str(row.crontab.timezone)) == (
                cron._orig_minute,
                cron._orig_hour,
                "UTC",
            )
    liveness = _row("stations-liveness")
    assert (liveness.task, liveness.interval.every) == ("stations.liveness_sweep", 120)


@pytest.mark.django_db
def test_a_sync_keeps_an_operators_pause_and_retime():
    # given: an operator paused one job and retimed another in the admin
    PeriodicTask.objects.filter(name="stations-liveness").update(enabled=False)
    retimed = _row("payments-expire")
    retimed.interval = IntervalSchedule.objects.create(every=7, period=IntervalSchedule.SECONDS)
    retimed.save()

    # when: the next migrate (or beat start)
    call_command("migrate", verbosity=0, interactive=False)

    # then
    paused = _row("stations-liveness")
    assert (paused.enabled, paused.interval.every) == (False, 120)
    assert _row("payments-expire").interval.every == 7  # the operator's timing stands
    # even when the code's timing changes meanwhile
    changed = {
        **settings.CELERY_BEAT_SCHEDULE,
        "payments-expire": {"task": "payments.expire", "schedule": 1800.0},
    }
    assert beat_schedule_sync(changed).updated == []
    assert _row("payments-expire").interval.every == 7
    assert beat_schedule_sync().updated == []  # settled: nothing more to write


@pytest.mark.django_db
def test_a_sync_creates_updates_and_retires_code_entries_only(settings):
    from celery.schedules import crontab

    operator_made = PeriodicTask.objects.create(
        name="operator-job",
        task="payments.expire",
        interval=IntervalSchedule.objects.create(every=99, period=IntervalSchedule.SECONDS),
    )
    schedule = {
        k: v for k, v in settings.CELERY_BEAT_SCHEDULE.items() if k != "accounts-low-balance"
    }
    schedule["new-job"] = {
        "task": "payments.reconcile",
        "schedule": crontab(minute="5"),
        "args": ["2026-01-01"],
        "options": {"queue": "slow"},
    }
    schedule["payments-expire"] = {"task": "payments.expire", "schedule": timedelta(minutes=30)}

    result = beat_schedule_sync(schedule)

    assert (result.created, result.updated, result.disabled) == (
        ["new-job"],
        ["payments-expire"],
        ["accounts-low-balance"],
    )
    new = _row("new-job")
    assert (new.crontab.minute, new.crontab.hour, json.loads(new.args), new.queue) == (
        "5",
        "*",
        ["2026-01-01"],
        "slow",
    )
    assert _row("payments-expire").interval.every == 1800
    retired = _row("accounts-low-balance")
    assert (retired.enabled, retired.description) == (False, LEFT_CODE)
    operator_made.refresh_from_db()
    assert operator_made.enabled and operator_made.interval.every == 99
    # back in the code: the sync paused it, not an operator, so it runs again
    assert "accounts-low-balance" in beat_schedule_sync(settings.CELERY_BEAT_SCHEDULE).updated
    back = _row("accounts-low-balance")
    assert back.enabled and back.description.startswith(FROM_CODE)


@pytest.mark.django_db
def test_crontab_rows_are_shared_and_intervals_are_whole_seconds():
    assert beat_schedule_sync().created == []
    assert CrontabSchedule.objects.filter(minute="30", hour="2").count() == 1
    with pytest.raises(ValueError, match="whole seconds"):
        beat_schedule_sync({"x": {"task": "payments.expire", "schedule": 0.5}})


@pytest.mark.django_db
def test_the_beat_start_hook_keeps_an_operators_pause():
    # (the real beat process does the same in test_beat_sends_a_due_entry_...)
    from celery.signals import beat_init

    PeriodicTask.objects.filter(name="stations-liveness").update(enabled=False)
    PeriodicTask.objects.filter(name="payments-expire").delete()
    beat_init.send(sender=None)
    assert not _row("stations-liveness").enabled
    assert _row("payments-expire").enabled
    sync_on_beat_start()  # and again: nothing changes
    assert not _row("stations-liveness").enabled


def test_every_scheduled_task_exists_and_ends_before_redis_would_hand_it_out_again():

    app.loader.import_default_modules()  # what a worker registers when it starts
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert entry["task"] in app.tasks, name
        task = app.tasks[entry["task"]]
        limit = task.time_limit or app.conf.task_time_limit
        assert limit and limit < visibility, (name, limit, visibility)
        assert task.acks_late or app.conf.task_acks_late, name


# -- real worker and beat processes ------------------------------------------------------------


class Clockwork:
    """A broker of its own, a queue of its own; workers and beat started on demand."""

    def __init__(self, tmp_path: Path):
        import redis

        self.broker = broker_url()
        self.redis = redis.Redis.from_url(self.broker)
        try:
            self.redis.ping()
        except redis.RedisError:
            pytest.skip("needs Redis (run scripts/test.sh)")
        self.redis.flushdb()
        self.queue = f"test-clockwork-{uuid.uuid4().hex[:12]}"
        self.tmp_path = tmp_path
        self.processes: list[CeleryProcess] = []
        self.env = {
            k: v
            for k, v in os.environ.items()
            if k
            not in ("ALERT_EMAILS", "TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID", "PAYMENT_PROVIDERS")
        }
        self.env.update(
            {
                "DATABASE_URL": database_url(),
                "CELERY_BROKER_URL": self.broker,
                "DJANGO_SETTINGS_MODULE": "maintenance.tests.celery_settings",
                "TEST_CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
            }
        )

    def worker(self, pool: str = "solo", **env: str) -> CeleryProcess:
        """`pool="prefork"`: one child process runs the tasks, as in production (acks are
        then sent by the main process while the child works)."""
        n = len(self.processes)
        concurrency = ["--concurrency=1"] if pool == "prefork" else []
        worker = CeleryProcess(
            "worker",
            [
                f"--pool={pool}",
                *concurrency,
                "-Q",
                self.queue,
                "-n",
                f"w{n}-{self.queue}@%h",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
            ],
            {**self.env, **env},
            self.tmp_path / f"worker-{n}.log",
        )
        self.processes.append(worker)
        worker.wait_for(" ready.")
        return worker

    def beat(self, **env: str) -> CeleryProcess:
        beat = CeleryProcess(
            "beat",
            ["--max-interval", "1"],
            {**self.env, **env},
            self.tmp_path / f"beat-{len(self.processes)}.log",
        )
        self.processes.append(beat)
        return beat

    def send(self, task: str, *args) -> str:
        """By name, as beat does, to this test's queue; returns the task id."""

        with app.connection_for_write(self.broker) as connection:
            return app.send_task(task, args=list(args), queue=self.queue, connection=connection).id

    def unacked(self) -> int:
        """Tasks a worker took and has not acknowledged (kombu's Redis `unacked` hash)."""
        return self.redis.hlen("unacked")

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.redis.flushdb()


@pytest.fixture
def clockwork(transactional_db, tmp_path):
    database_url()  # skips unless PostgreSQL
    harness = Clockwork(tmp_path)
    yield harness
    harness.stop()


def wait_until(check, what: str, timeout: float = TASK_WAIT, processes=()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    logs = "\n".join(p.output()[-3000:] for p in processes)
    raise AssertionError(f"timed out waiting for {what}\n{logs}")


# -- data --------------------------------------------------------------------------------------


def priced_station(make_station, identity="CP-1", *, channel: str = "") -> object:

    if not TariffPlan.objects.filter(is_default=True).exists():
        plan = TariffPlanFactory(name="City", is_default=True)
        TariffRuleFactory(
            plan=plan,
            price_per_kwh=Decimal("12.00"),
            price_per_minute=Decimal("0.50"),
            session_fee=Decimal("5.00"),
        )
    station = online(make_station(identity, connectors=2))
    if channel:
        Station.objects.filter(pk=station.pk).update(connection_channel=channel)
        station.refresh_from_db()
    return station


def bills(session_id: int) -> int:

    return LedgerTransaction.objects.filter(
        ref_type="session", ref_id=str(session_id), kind__in=["capture", "charge"]
    ).count()


# -- (a) tasks by name, run by a real worker ----------------------------------------------------


def test_a_worker_runs_the_clockwork_tasks_sent_by_name(clockwork, make_station):

    # given: a start never plugged in (11 minutes ago), and a station whose process died
    station = priced_station(make_station)
    unplugged = open_session(funded_client(), station)
    ChargingSession.objects.filter(pk=unplugged.pk).update(
        created_at=timezone.now() - timedelta(minutes=11)
    )
    vanished = make_station("CP-GONE")
    Station.objects.filter(pk=vanished.pk).update(
        connected=True, connection_channel="gone", last_seen_at=timezone.now() - timedelta(hours=1)
    )
    worker = clockwork.worker()

    # when
    cancel_id = clockwork.send("charging.sessions_cancel_unplugged")
    sweep_id = clockwork.send("stations.liveness_sweep")

    # then
    worker.wait_for(f"charging.sessions_cancel_unplugged[{cancel_id}] succeeded")
    worker.wait_for(f"stations.liveness_sweep[{sweep_id}] succeeded")
    session = ChargingSession.objects.get(pk=unplugged.pk)
    assert (session.status, session.stop_reason, session.settled) == (
        ChargingSession.Status.CANCELLED,
        ChargingSession.StopReason.NO_PLUG_IN,
        True,
    )
    assert bills(session.pk) == 0
    gone = Station.objects.get(pk=vanished.pk)
    assert (gone.connected, gone.connection_channel) == (False, "")
    assert Station.objects.get(pk=station.pk).connected  # heard from: left alone
    wait_until(lambda: clockwork.unacked() == 0, "the acknowledgements", processes=(worker,))


# -- (b) a beat tick, end to end -----------------------------------------------------------------


def test_beat_sends_a_due_entry_and_the_worker_runs_it(clockwork, make_station):

    # given: a start never plugged in; an operator paused the liveness sweep
    station = priced_station(make_station)
    unplugged = open_session(funded_client(), station)
    ChargingSession.objects.filter(pk=unplugged.pk).update(
        created_at=timezone.now() - timedelta(minutes=11)
    )
    PeriodicTask.objects.filter(name="stations-liveness").update(enabled=False)
    worker = clockwork.worker()

    # when: beat runs with one more entry, every second, routed to the worker's queue
    beat = clockwork.beat(
        TEST_CELERY_TICK_TASK="charging.sessions_cancel_unplugged",
        TEST_CELERY_TICK_SECONDS="1",
        TEST_CELERY_TICK_QUEUE=clockwork.queue,
    )

    # then: beat synced the entry into the tables, sent it, the worker ran it
    wait_until(
        lambda: (
            ChargingSession.objects.get(pk=unplugged.pk).status == ChargingSession.Status.CANCELLED
        ),
        "the beat-sent task's effect",
        processes=(beat, worker),
    )
    beat.wait_for("Scheduler: Sending due task test-tick (charging.sessions_cancel_unplugged)")
    worker.wait_for("charging.sessions_cancel_unplugged[")
    tick = _row("test-tick")
    assert (tick.task, tick.interval.every, tick.queue, tick.enabled) == (
        "charging.sessions_cancel_unplugged",
        1,
        clockwork.queue,
        True,
    )
    assert tick.description.startswith(FROM_CODE)  # our beat_init sync ran in beat
    assert not _row("stations-liveness").enabled  # the operator's pause survived beat's start


# -- (c) a worker killed in the middle of a task ----------------------------------------------


class SocketProcess:
    """Stands in for the ASGI process holding a charger's socket: takes the commands sent
    to the station's channel (`ocpp.command` events, as `ocpp_bridge.commands` sends them)
    and answers each one as told: "offline" (what the consumer answers when it has no
    charger session any more) or "silent" (never answers: the worker waits)."""

    def __init__(self, answers: list[str]):
        self.channel = f"test-socket-{uuid.uuid4().hex}"
        self.answers = answers
        self.commands: queue.Queue = queue.Queue()
        self._loop = asyncio.new_event_loop()
        self._task = None
        self._thread = threading.Thread(
            target=self._loop.run_until_complete, args=(self._run(),), daemon=True
        )
        self._thread.start()

    async def _run(self) -> None:
        from channels import DEFAULT_CHANNEL_LAYER
        from channels.layers import channel_layers

        self._task = asyncio.current_task()
        layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
        try:
            while True:
                # never time a receive out: a cancelled receive can lose the message it
                # was popping from Redis
                event = await layer.receive(self.channel)
                answer = self.answers.pop(0) if self.answers else "offline"
                if answer == "offline":
                    await layer.send(
                        event["reply_to"], {"type": "ocpp.reply", "outcome": "offline"}
                    )
                self.commands.put((event, answer))
        except asyncio.CancelledError:
            pass

    def next_command(self, *processes: CeleryProcess) -> tuple[dict, str]:
        try:
            return self.commands.get(timeout=TASK_WAIT)
        except queue.Empty:
            logs = "\n".join(p.output()[-3000:] for p in processes)
            raise AssertionError(f"no command reached the socket's process\n{logs}") from None

    def stop(self) -> None:
        if self._task is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(5)


def test_a_worker_killed_during_the_stuck_session_job_stops_and_bills_each_once(
    clockwork, make_station
):

    # given: two sessions charging for 13 hours on a station whose socket's process
    # answers A's stop at once ("offline": closed from its last reading and billed), and
    # takes B's stop without ever answering
    socket = SocketProcess(answers=["offline", "silent", "offline"])
    station = priced_station(make_station, channel=socket.channel)
    t0 = timezone.now().replace(microsecond=0) - timedelta(hours=13)
    sessions = []
    for connector in (1, 2):
        session, tx = charging_session(funded_client(), station, at=t0, connector=connector)
        meter(station, tx, wh=11_000, at=t0 + timedelta(hours=1), connector=connector)
        sessions.append(session)
    a, b = sessions
    first = clockwork.worker("prefork")

    try:
        # when: the stuck-session job runs...
        task_id = clockwork.send("charging.sessions_stop_overlong")
        event, _ = socket.next_command(first)
        assert (event["action"], event["payload"]) == (
            "RemoteStopTransaction",
            {"transactionId": a.transaction_id},
        )
        event, _ = socket.next_command(first)
        assert event["payload"] == {"transactionId": b.transaction_id}
        # ... and is killed while it waits for B's charger; A is billed already
        a_now, b_now = (ChargingSession.objects.get(pk=s.pk) for s in (a, b))
        assert (a_now.status, a_now.settled, bills(a.pk)) == (
            ChargingSession.Status.COMPLETED,
            True,
            1,
        )
        assert (b_now.status, b_now.settled, bills(b.pk)) == (
            ChargingSession.Status.CHARGING,
            False,
            0,
        )
        first.kill()
        assert clockwork.unacked() == 1  # taken, never acknowledged: Redis keeps it

        # then: a worker started again gets the same task again and finishes the job
        second = clockwork.worker("prefork")
        event, _ = socket.next_command(second)
        assert event["payload"] == {"transactionId": b.transaction_id}
        second.wait_for(f"charging.sessions_stop_overlong[{task_id}] succeeded")
    finally:
        socket.stop()

    assert f"charging.sessions_stop_overlong[{task_id}] received" in second.output()
    for session in (a, b):
        done = ChargingSession.objects.get(pk=session.pk)
        assert (done.status, done.stop_reason, done.settled) == (
            ChargingSession.Status.COMPLETED,
            ChargingSession.StopReason.MAX_DURATION,
            True,
        )
        assert bills(session.pk) == 1  # one stop, one bill each
        assert done.final_cost == Decimal("155.00")  # 10 kWh x 12 + 60 min x 0.50 + 5
    stops = CommandRecord.objects.filter(action="RemoteStopTransaction").order_by("pk")
    assert [(r.payload["transactionId"], r.status) for r in stops] == [
        (a.transaction_id, "offline"),
        (b.transaction_id, "pending"),  # the killed worker's wait: never finished
        (b.transaction_id, "offline"),
    ]
    wait_until(lambda: clockwork.unacked() == 0, "the acknowledgement", processes=(second,))
    assert socket.commands.empty()
    assert_ledger_consistent()


ODENGI_HISTORY = "trans_id;invoice_id;order_id;amount;status;date\n"


def test_a_worker_killed_during_reconciliation_records_each_discrepancy_once(clockwork):

    Kind = ReconciliationIssue.Kind
    today = timezone.now().astimezone(UTC).date()
    # given: a Payme payment we credited today that Payme's statement does not list, and
    # an O!Dengi statement line paid for an order we do not know
    payme = Payment.objects.create(
        client=new_client(),
        provider="payme",
        order_id=new_order_id(),
        amount=Decimal("100.00"),
        expires_at=timezone.now() + timedelta(minutes=30),
    )
    payment_mark_paid(
        payment_id=payme.pk,
        amount=Decimal("100.00"),
        source="test",
        provider_transaction_id="PAYME-1",
    )
    paid_at = max(
        timezone.now() - timedelta(minutes=5),
        timezone.now().astimezone(UTC).replace(hour=0, minute=1),
    )
    fake = FakeODengi()
    out = io.StringIO()
    csv.writer(out, delimiter=";").writerow(
        [
            "T-9",
            "INV-9",
            "EVPUNKNOWN",
            "25000",
            "approved",
            paid_at.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M:%S"),
        ]
    )
    fake.history_csv = ODENGI_HISTORY + out.getvalue()
    # the first getHistoryCsv hangs: the worker is killed while it waits for O!Dengi
    arrived, release, calls = threading.Event(), threading.Event(), []
    answer = fake.handle

    def handle(raw: str):
        if '"getHistoryCsv"' in raw:
            calls.append(raw)
            if len(calls) == 1:
                arrived.set()
                release.wait(TASK_WAIT)
        return answer(raw)

    fake.handle = handle
    env = {
        "PAYMENT_PROVIDERS": "payme,odengi",
        "ODENGI_URL": fake.url,
        "ODENGI_SID": SID,
        "ODENGI_PASSWORD": PASSWORD,
        "ODENGI_RESULT_URL": "https://evpower.example/cb",
        "PAYMENT_HTTP_ATTEMPTS": "1",
        "PAYMENT_HTTP_TIMEOUT_SECONDS": "20",
    }
    ledger = sorted(LedgerTransaction.objects.values_list("pk", flat=True))
    worker = clockwork.worker("prefork", **env)

    try:
        # when: reconciliation of today runs: Payme's issues are recorded, then O!Dengi is
        # asked for its statement, and the pool process running the task is killed while
        # it waits
        task_id = clockwork.send("payments.reconcile", today.isoformat())
        assert arrived.wait(TASK_WAIT), worker.output()
        assert list(ReconciliationIssue.objects.values_list("provider", "kind")) == [
            ("payme", Kind.UNKNOWN_AT_PROVIDER)
        ]
        worker.kill_pool_child()
        release.set()

        # then: the worker sees its child lost, puts the task back (reject_on_worker_lost)
        # and runs it again in a new child, to the end
        worker.wait_for(f"payments.reconcile[{task_id}] succeeded")
    finally:
        release.set()
        fake.stop()

    log = worker.output()
    assert "WorkerLostError" in log
    assert log.count(f"payments.reconcile[{task_id}] received") == 2
    assert len(calls) == 2
    issues = sorted(
        ReconciliationIssue.objects.values_list(
            "provider", "day", "kind", "payment_id", "provider_transaction_id"
        )
    )
    assert issues == [
        ("odengi", today, Kind.MISSING_CREDIT, None, "INV-9"),
        ("payme", today, Kind.UNKNOWN_AT_PROVIDER, payme.pk, ""),
    ]
    assert sorted(LedgerTransaction.objects.values_list("pk", flat=True)) == ledger
    wait_until(lambda: clockwork.unacked() == 0, "the acknowledgement", processes=(worker,))
