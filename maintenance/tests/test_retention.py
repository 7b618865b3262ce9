"""The retention purge (maintenance/retention.py): its daily task, the `purge` command,
and the daily GDPR anonymisation task."""

from __future__ import annotations

import io
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from accounts.models import Client, OtpCode
from charging.models import MeterSample, OcppTransaction
from charging.parked_models import ParkedMessage
from charging.session.models import ChargingSession
from charging.session.sweeps import session_close_unreported
from charging.tests.support import charging_session, funded_client, online
from maintenance import retention
from ocpp_bridge.models import CommandRecord, OcppMessage
from payments.models import IdempotencyKey, LedgerTransaction, Payment, Wallet
from payments.tests.support import assert_ledger_consistent, new_client
from stations.models import ChargerReport, StationEvent
from stations.tests.factories import TariffPlanFactory, TariffRuleFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now()
DAYS = {
    "meter_samples": 400,
    "ocpp_messages": 90,
    "idempotency_keys": 7,
    "otp_codes": 30,
    "command_records": 180,
    "station_events": 60,
    "charger_reports": 120,
}


@pytest.fixture(autouse=True)
def retention_days(settings):
    settings.RETENTION_DAYS = dict(DAYS)
    return settings.RETENTION_DAYS


@pytest.fixture
def station(make_station):
    plan = TariffPlanFactory(name="City", is_default=True)
    TariffRuleFactory(
        plan=plan,
        price_per_kwh=Decimal("12.00"),
        price_per_minute=Decimal("0.50"),
        session_fee=Decimal("5.00"),
    )
    return online(make_station("CP-1", connectors=2))


# -- factories: one row of each kind, `days` old -------------------------------------------

_n = iter(range(1, 1_000_000))


def sample(station, days: float, tx: OcppTransaction | None = None) -> MeterSample:
    at = NOW - timedelta(days=days)
    row = MeterSample.objects.create(
        station=station,
        connector_number=1,
        transaction=tx,
        timestamp=at + timedelta(seconds=next(_n)),
        measurand="Energy.Active.Import.Register",
        context="Sample.Periodic",
        value="1000",
        unit="Wh",
    )
    MeterSample.objects.filter(pk=row.pk).update(received_at=at)
    return row


def ocpp_message(station, days: float) -> OcppMessage:
    return OcppMessage.objects.create(
        station=station,
        identity=station.identity,
        direction="in",
        raw='[2,"1","Heartbeat",{}]',
        created_at=NOW - timedelta(days=days),
    )


def idempotency_key(days: float) -> IdempotencyKey:
    at = NOW - timedelta(days=days)
    return IdempotencyKey.objects.create(
        client=new_client(),
        key=uuid.uuid4().hex,
        fingerprint="f" * 64,
        method="POST",
        path="/x",
        claim=uuid.uuid4(),
        created_at=at,
        locked_at=at,
    )


def otp_code(days: float) -> OtpCode:
    at = NOW - timedelta(days=days)
    return OtpCode.objects.create(
        phone="+996700000001",
        code_hash="h" * 64,
        created_at=at,
        expires_at=at + timedelta(minutes=5),
    )


def command_record(station, days: float) -> CommandRecord:
    row = CommandRecord.objects.create(station=station, action="Reset", payload={})
    CommandRecord.objects.filter(pk=row.pk).update(created_at=NOW - timedelta(days=days))
    return row


def station_event(station, days: float) -> StationEvent:
    at = NOW - timedelta(days=days)
    return StationEvent.objects.create(
        station=station,
        event_id=next(_n),
        occurred_at=NOW,  # the charger's clock: not what ages it
        trigger="Delta",
        notification_type="HardWiredNotification",
        component="EVSE",
        variable="Power",
        actual_value="7000",
        received_at=at,
    )


def charger_report(station, days: float) -> ChargerReport:
    return ChargerReport.objects.create(
        station=station,
        kind=ChargerReport.Kind.MONITORING,
        payload={"requestId": 1},
        received_at=NOW - timedelta(days=days),
    )


def stopped_transaction(station, days: float) -> OcppTransaction:
    at = NOW - timedelta(days=days)
    return OcppTransaction.objects.create(
        station=station,
        connector_number=2,
        id_tag=f"T{next(_n)}",
        id_tag_status="Accepted",
        meter_start=0,
        started_at=at,
        status=OcppTransaction.Status.STOPPED,
        meter_stop=10,
        stopped_at=at + timedelta(hours=1),
    )


def books() -> tuple:
    """What the purge must never touch."""
    return (
        sorted(LedgerTransaction.objects.values_list("pk", flat=True)),
        sorted(Payment.objects.values_list("pk", flat=True)),
        sorted(ChargingSession.objects.values_list("pk", "status", "settled")),
        sorted(OcppTransaction.objects.values_list("pk", flat=True)),
        sorted(Wallet.objects.values_list("client_id", "balance", "held")),
    )


def seed_each_kind(station) -> tuple[set, set]:
    """(ids due, ids to keep), as (model label, pk) pairs: one row just past each kind's
    retention and one just inside it."""
    due, keep = set(), set()
    for days, into in ((1, keep), (None, due)):

        def age(kind):
            return DAYS[kind] + 1 if days is None else DAYS[kind] - 1  # noqa: B023

        for row in (
            sample(station, age("meter_samples")),
            ocpp_message(station, age("ocpp_messages")),
            idempotency_key(age("idempotency_keys")),
            otp_code(age("otp_codes")),
            command_record(station, age("command_records")),
            station_event(station, age("station_events")),
            charger_report(station, age("charger_reports")),
        ):
            into.add((row._meta.label, row.pk))
    return due, keep


def present() -> set:
    rows = set()
    models = (
        MeterSample,
        OcppMessage,
        IdempotencyKey,
        OtpCode,
        CommandRecord,
        StationEvent,
        ChargerReport,
    )
    for model in models:
        rows |= {(model._meta.label, pk) for pk in model.objects.values_list("pk", flat=True)}
    return rows


# -- the purge -------------------------------------------------------------------------------


def test_purge_deletes_each_kind_past_its_retention_and_nothing_else(station):
    # given
    due, keep = seed_each_kind(station)
    before = books()

    # when: counted, then purged
    counted = retention.retention_counts(NOW)
    purged = retention.retention_purge(NOW)

    # then
    assert counted.counts == purged.counts == {kind: 1 for kind in retention.KINDS}
    assert present() == keep
    assert books() == before
    # and again: nothing left to delete
    assert retention.retention_purge(NOW).total == 0 and present() == keep
    assert not due & present()


def test_the_ages_come_from_settings(station, retention_days):
    row = ocpp_message(station, 10)
    retention_days["ocpp_messages"] = 11
    assert retention.retention_purge(NOW).counts["ocpp_messages"] == 0
    retention_days["ocpp_messages"] = 9
    assert retention.retention_purge(NOW).counts["ocpp_messages"] == 1
    assert not OcppMessage.objects.filter(pk=row.pk).exists()


def test_a_retention_below_one_day_is_refused(retention_days):
    retention_days["otp_codes"] = 0
    with pytest.raises(ValueError, match="otp_codes"):
        retention.retention_purge(NOW)


def test_meter_samples_of_a_transaction_that_may_still_be_billed_are_kept(station):
    # given samples 500 days old (retention 400) of:
    old = NOW - timedelta(days=500)
    running_session, running_tx_id = charging_session(funded_client("1000.00"), station, at=old)
    running = OcppTransaction.objects.get(pk=running_tx_id)  # charging: not settled
    assert not running_session.settled
    settled_session, settled_tx_id = charging_session(
        funded_client("1000.00"), station, at=old, connector=2
    )
    # billed from its last reading; the charger never reported the stop
    assert session_close_unreported(
        session_id=settled_session.pk, reason=ChargingSession.StopReason.MAX_DURATION
    )
    settled = OcppTransaction.objects.get(pk=settled_tx_id)
    assert settled.status == OcppTransaction.Status.ACTIVE
    under_review = stopped_transaction(station, 500)  # unbilled, the operator still decides
    ParkedMessage.objects.create(
        station=station,
        action="StopTransaction",
        reason="unbilled_transaction",
        payload={},
        transaction_id=under_review.pk,
    )
    decided = stopped_transaction(station, 500)
    ParkedMessage.objects.create(
        station=station,
        action="StopTransaction",
        reason="unbilled_transaction",
        payload={},
        transaction_id=decided.pk,
        resolved_at=NOW,
    )
    kept = {
        sample(station, 500, running).pk,
        sample(station, 500, under_review).pk,
        sample(station, 399, settled).pk,
    }
    gone = {
        sample(station, 500, settled).pk,
        sample(station, 500, decided).pk,
        sample(station, 500, None).pk,
    }
    before = books()

    # when
    counted = retention.retention_counts(NOW).counts["meter_samples"]
    deleted = retention.retention_purge(NOW).counts["meter_samples"]

    # then
    assert counted == deleted == len(gone)
    assert set(MeterSample.objects.values_list("pk", flat=True)) == kept
    assert books() == before
    assert_ledger_consistent()


def test_deletes_go_in_bounded_batches(station, monkeypatch):
    monkeypatch.setattr(retention, "BATCH", 2)
    for _ in range(5):
        command_record(station, 200)
    batches = []

    retention.retention_purge(
        NOW, kinds=("command_records",), progress=lambda kind, n: batches.append((kind, n))
    )

    assert batches == [("command_records", 2), ("command_records", 2), ("command_records", 1)]
    assert not CommandRecord.objects.exists()


def test_idempotency_keys_live_at_least_their_ttl(retention_days, settings):
    settings.IDEMPOTENCY_KEY_TTL = timedelta(days=7)
    retention_days["idempotency_keys"] = 1  # shorter than the replay promise
    young, old = idempotency_key(3), idempotency_key(8)
    assert retention.retention_purge(NOW).counts["idempotency_keys"] == 1
    assert list(IdempotencyKey.objects.values_list("pk", flat=True)) == [young.pk]
    retention_days["idempotency_keys"] = 30  # longer: kept longer
    idempotency_key(20)
    assert retention.retention_purge(NOW).counts["idempotency_keys"] == 0
    assert not IdempotencyKey.objects.filter(pk=old.pk).exists()


def test_otp_codes_live_at_least_two_days(retention_days):
    retention_days["otp_codes"] = 1  # the rate limits look back a day: two days at least
    young, old = otp_code(1.5), otp_code(2.5)
    assert retention.retention_purge(NOW).counts["otp_codes"] == 1
    assert list(OtpCode.objects.values_list("pk", flat=True)) == [young.pk]
    assert not OtpCode.objects.filter(pk=old.pk).exists()


def test_the_daily_task_purges_and_returns_the_counts(station, settings):
    from evpower.celery import app
    from maintenance.retention_tasks import retention_purge_task

    seed_each_kind(station)
    assert (
        settings.CELERY_BEAT_SCHEDULE["maintenance-purge"]["task"]
        == retention_purge_task.name
        == "maintenance.retention_purge"
    )
    assert "maintenance.retention_purge" in app.tasks
    assert retention_purge_task.apply().get() == {kind: 1 for kind in retention.KINDS}
    assert retention_purge_task.apply().get() == {kind: 0 for kind in retention.KINDS}


# -- the command -----------------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def purge(*args: str, stdin: io.StringIO | None = None) -> str:
    out = io.StringIO()
    call_command("purge", *args, stdout=out, stderr=io.StringIO(), stdin=stdin)
    return out.getvalue()


def test_dry_run_prints_the_counts_and_deletes_nothing(station):
    due, keep = seed_each_kind(station)
    printed = purge("--dry-run")
    for kind in retention.KINDS:
        assert f"{kind} " in printed
    kinds = len(retention.KINDS)
    assert [line.split()[:2] for line in printed.splitlines()[: kinds + 1]] == [
        *[[kind, "1"] for kind in retention.KINDS],
        ["total", str(kinds)],
    ]
    assert "dry run" in printed
    assert present() == due | keep


def test_without_yes_it_asks_and_a_refusal_changes_nothing(station):
    due, keep = seed_each_kind(station)
    with pytest.raises(CommandError) as refused:
        purge(stdin=io.StringIO("yes\n"))  # not a terminal (cron, a pipe): refused
    assert refused.value.returncode == 4
    with pytest.raises(CommandError):
        purge(stdin=Terminal("no\n"))
    assert present() == due | keep

    printed = purge(stdin=Terminal("yes\n"))

    rows = len(retention.KINDS)
    assert f"Delete these {rows} row(s)? [yes/no]" in printed
    assert f"deleted {rows} row(s)" in printed
    assert present() == keep


def test_yes_deletes_without_asking(station):
    due, keep = seed_each_kind(station)
    printed = purge("--yes")
    assert "[yes/no]" not in printed
    assert "meter_samples" in printed and f"deleted {len(retention.KINDS)} row(s)" in printed
    assert present() == keep
    assert "nothing to delete" in purge("--yes")


# -- GDPR anonymisation, daily ----------------------------------------------------------------


def test_the_daily_anonymisation_wipes_clients_past_their_grace_period(settings):
    from accounts.anonymise_tasks import anonymise_due_task

    settings.ACCOUNT_DELETION_GRACE_DAYS = 30
    due = new_client(
        name="Aida",
        email="aida@example.kg",
        status=Client.Status.PENDING_DELETION,
        deletion_requested_at=NOW - timedelta(days=31),
    )
    waiting = new_client(
        name="Bek",
        status=Client.Status.PENDING_DELETION,
        deletion_requested_at=NOW - timedelta(days=29),
    )
    assert (
        settings.CELERY_BEAT_SCHEDULE["accounts-anonymise"]["task"]
        == anonymise_due_task.name
        == "accounts.anonymise_due"
    )

    assert anonymise_due_task.apply().get() == 1
    assert anonymise_due_task.apply().get() == 0  # again: nobody twice

    due.refresh_from_db()
    assert (due.status, due.name, due.email, due.phone) == (
        Client.Status.DELETED,
        "",
        "",
        f"deleted:{due.pk}",
    )
    waiting.refresh_from_db()
    assert (waiting.status, waiting.name) == (Client.Status.PENDING_DELETION, "Bek")
