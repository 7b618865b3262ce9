"""Backups that restore: real pg_dump / pg_restore against the test database (PostgreSQL)."""

from __future__ import annotations

import hashlib
import io
import os
import re
import signal
import stat
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections
from django.urls import reverse
from django.utils import timezone

from accounts.models import Client
from accounts.tests.factories import ClientFactory
from evpower.tests.support.processes import ROOT, database_url
from maintenance import backups
from maintenance.backup_tasks import backup_task
from maintenance.backups import (
    backup_restore_check,
    backup_run,
    backups_prune,
    critical_tables,
    daily_slot,
)
from maintenance.models import Backup
from payments.models import Wallet
from payments.wallet import wallet_credit_topup, wallet_hold

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="backups need PostgreSQL (run scripts/test.sh)"
)
transactional = pytest.mark.django_db(transaction=True)  # pg_dump sees committed data only


@pytest.fixture(autouse=True)
def backup_dir(settings, tmp_path) -> Path:
    settings.BACKUP_DIR = str(tmp_path / "backups")
    settings.BACKUP_RETENTION_DAYS = 30
    settings.BACKUP_RESTORE_CHECK_DAILY = False
    return tmp_path / "backups"


@pytest.fixture(autouse=True)
def alerts(monkeypatch) -> list[dict]:
    sent: list[dict] = []

    def operator_alert(*, key: str, subject: str, text: str, severity: str = "high") -> bool:
        assert severity == "high"  # a failed backup: act within the hour
        sent.append({"key": key, "subject": subject, "text": text})
        return True

    monkeypatch.setattr("evpower.alerts.operator_alert", operator_alert)
    return sent


def some_money(count: int = 3) -> list[Client]:
    clients = []
    for i in range(count):
        client = ClientFactory(phone=f"+99670555{i:04d}")
        wallet_credit_topup(client=client, amount="150.00", payment_ref=f"p-{i}", key=f"top-{i}")
        wallet_hold(client=client, amount="40.00", ref=("session", i), key=f"hold-{i}")
        clients.append(client)
    return clients


def dump_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def scratch_databases() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT datname FROM pg_database WHERE datname LIKE 'evpower\\_restore%%'")
        return [row[0] for row in cursor.fetchall()]


def fake_tools(directory: Path, *, pg_dump: str, pg_restore: str | None = None) -> Path:
    """A bin directory whose pg_dump/pg_restore are shell scripts ("REAL" = the real tool)."""
    real = backups.pg_tools()
    directory.mkdir(parents=True, exist_ok=True)
    for name, body in (("pg_dump", pg_dump), ("pg_restore", pg_restore or 'exec REAL "$@"')):
        script = directory / name
        real_tool = real.pg_dump if name == "pg_dump" else real.pg_restore
        script.write_text("#!/bin/sh\n" + body.replace("REAL", real_tool) + "\n")
        script.chmod(0o755)
    return directory


# -- a backup taken and restored ---------------------------------------------------------


@transactional
@pytest.mark.timeout(300)  # above the suite's 120 s: it took 100 s on a heavily loaded box
def test_backup_is_verified_recorded_and_restores_with_the_ledger_intact(backup_dir, alerts):
    """Slow (10-100 s on a loaded CI box): a real pg_dump of the test database, pg_restore
    --list, and a restore into a scratch database whose ledger is checked."""
    clients = some_money(3)

    outcome = backup_run(progress=lambda _msg: None)

    row = outcome.backup
    assert outcome.ran and row.status == Backup.Status.OK, row.error
    path = Path(row.file)
    assert path.parent == backup_dir.resolve()
    assert re.fullmatch(r"evpower-\d{8}T\d{6}Z\.dump", path.name)
    assert dump_files(backup_dir) == [path.name]  # the temporary file is gone
    assert path.read_bytes()[:5] == b"PGDMP"  # custom format
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert row.size_bytes == path.stat().st_size
    assert row.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert set(critical_tables()) <= set(backups.archive_tables(path))
    assert row.tables_verified >= len(critical_tables())
    assert row.started_at <= row.finished_at and row.attempts == 1
    assert alerts == []

    result = backup_restore_check(row.file)

    assert result.ok, result.summary()
    assert result.wallets == len(clients)
    assert result.transactions == 2 * len(clients)  # a top-up and a hold each
    assert result.violations == [] and result.unbalanced == []
    assert result.dropped and result.database not in scratch_databases()
    row.refresh_from_db()
    assert row.restore_ok is True and "OK" in row.restore_detail


@transactional
def test_restore_check_reports_a_ledger_that_does_not_add_up(settings, alerts):
    """Slow (about 10 s loaded): a real dump restored into a scratch database."""
    settings.BACKUP_RESTORE_CHECK_DAILY = True
    client = some_money(1)[0]
    # a balance changed behind the ledger's back (constraints still hold: 140 >= 40 held)
    Wallet.objects.filter(client=client).update(balance="140.00")

    daily = backup_task.apply().get()

    assert daily["status"] == "ok" and daily["restore_ok"] is False
    assert [a["key"] for a in alerts] == ["backup-restore-check-failed"]
    assert "wallets whose balance/held/debt differ from their postings: 1" in alerts[0]["text"]
    row = Backup.objects.get()

    result = backup_restore_check(row.file)

    assert not result.ok
    assert [(v["client_id"], v["balance"], v["posted_balance"]) for v in result.violations] == [
        (client.pk, "140.00", "150.00")
    ]
    assert "do not hold" in result.error
    assert result.dropped and result.database not in scratch_databases()
    row.refresh_from_db()
    assert row.restore_ok is False


@transactional
def test_a_corrupted_or_missing_file_fails_the_check_cleanly_and_drops_the_scratch_db(backup_dir):
    some_money(1)
    good = Path(backup_run().backup.file)
    truncated = backup_dir / "evpower-truncated.dump"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    garbage = backup_dir / "evpower-garbage.dump"
    garbage.write_bytes(b"this is not an archive\n" * 100)

    for bad in (truncated, garbage):
        result = backup_restore_check(bad)

        assert not result.ok
        assert "pg_restore failed" in result.error, result.error
        assert result.database and result.dropped
        assert result.database not in scratch_databases()
        assert "FAILED" in result.summary()

    missing = backup_restore_check(backup_dir / "nope.dump")
    assert not missing.ok and "no such file" in missing.error and missing.database == ""


# -- claimed per slot: one file however often the task comes -----------------------------


@transactional
def test_the_daily_task_delivered_twice_makes_one_backup(settings, backup_dir):
    settings.BACKUP_RESTORE_CHECK_DAILY = True
    some_money(1)

    first = backup_task.apply().get()
    second = backup_task.apply().get()

    assert first["status"] == "ok" and first["ran"] and first["restore_ok"] is True
    assert second["status"] == "ok" and not second["ran"] and "already" in second["skipped"]
    assert "restore_ok" not in second  # checked once
    assert Backup.objects.get().slot == daily_slot()
    assert dump_files(backup_dir) == [Path(first["file"]).name]


@transactional
def test_a_run_in_progress_elsewhere_is_not_doubled(backup_dir):
    slot = daily_slot()
    row = Backup.objects.create(slot=slot, trigger=Backup.Trigger.SCHEDULED)
    other = connections["default"].__class__(
        connections["default"].settings_dict, alias="other_worker"
    )
    try:
        with other.cursor() as cursor:  # another worker holds the slot's claim
            cursor.execute("BEGIN")
            cursor.execute("SELECT id FROM maintenance_backup WHERE id = %s FOR UPDATE", [row.pk])

            outcome = backup_run(slot=slot)

            cursor.execute("ROLLBACK")
    finally:
        other.close()

    assert not outcome.ran and "another worker" in outcome.skipped
    assert dump_files(backup_dir) == []


@transactional
def test_a_worker_killed_mid_backup_leaves_one_file_after_redelivery(
    settings, tmp_path, backup_dir
):
    some_money(1)
    marker = tmp_path / "dumping"
    slow = fake_tools(
        tmp_path / "slow-bin",
        pg_dump=f"""
case "$1" in --version) exec REAL "$@";; esac
for a in "$@"; do case "$a" in --file=*) echo half-written > "${{a#--file=}}";; esac; done
touch {marker}
sleep 60
exec REAL "$@"
""",
    )
    slot = daily_slot()
    script = (
        f"import django; django.setup()\n"
        f"from django.conf import settings\n"
        f"settings.BACKUP_DIR = {str(backup_dir)!r}\n"
        f"settings.BACKUP_PG_BIN_DIR = {str(slow)!r}\n"
        f"from maintenance.backups import backup_run\n"
        f"backup_run(slot={slot!r}, trigger='scheduled')\n"
    )
    worker = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=ROOT,
        start_new_session=True,
        env={
            **os.environ,
            "DATABASE_URL": database_url(),
            "DJANGO_SETTINGS_MODULE": "evpower.settings",
        },
    )
    try:
        deadline = time.monotonic() + 30
        while not marker.exists():
            assert worker.poll() is None, "the worker exited before dumping"
            assert time.monotonic() < deadline, "the worker never started dumping"
            time.sleep(0.05)
        os.killpg(worker.pid, signal.SIGKILL)  # the worker and its pg_dump, mid-backup
        worker.wait(10)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
    leftovers = dump_files(backup_dir)
    assert len(leftovers) == 1 and leftovers[0].endswith(".partial")
    row = Backup.objects.get(slot=slot)
    assert row.status == Backup.Status.RUNNING and row.attempts == 0  # its work rolled back

    redelivered = backup_task.apply(kwargs={"slot": slot}).get()
    again = backup_task.apply(kwargs={"slot": slot}).get()

    assert redelivered["ran"] and redelivered["status"] == "ok"
    assert not again["ran"]
    assert dump_files(backup_dir) == [Path(redelivered["file"]).name]
    assert Backup.objects.get().attempts == 1


# -- retention -------------------------------------------------------------------------------


def make_backup(
    directory: Path, name: str, *, days_old: float, status=Backup.Status.OK, file: bool = True
) -> Backup:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory.resolve() / name
    if file:
        path.write_bytes(b"PGDMP...")
    row = Backup.objects.create(
        slot=f"manual:{name}", status=status, file=str(path) if file else ""
    )
    when = timezone.now() - timedelta(days=days_old)
    Backup.objects.filter(pk=row.pk).update(created_at=when, finished_at=when)
    return row


def test_retention_prunes_old_backups_but_keeps_the_newest_good_one(db, settings, backup_dir):
    settings.BACKUP_TIME_LIMIT = 3600
    oldest = make_backup(backup_dir, "evpower-a.dump", days_old=40)
    newest_good = make_backup(backup_dir, "evpower-b.dump", days_old=35)
    old_failed = make_backup(backup_dir, "x", days_old=50, status=Backup.Status.FAILED, file=False)
    recent_failed = make_backup(
        backup_dir, "y", days_old=1, status=Backup.Status.FAILED, file=False
    )
    abandoned = make_backup(backup_dir, "z", days_old=0.5, status=Backup.Status.RUNNING, file=False)
    long_ago = time.time() - 40 * 86400
    stray_temp = backup_dir / ".evpower-c.dump.1-abcd.partial"
    unknown_old = backup_dir / "evpower-unknown.dump"
    unrelated = backup_dir / "notes.txt"
    for path in (stray_temp, unknown_old, unrelated):
        path.write_text("x")
        os.utime(path, (long_ago, long_ago))

    deleted = backups_prune()

    assert deleted == 2
    assert set(Backup.objects.values_list("pk", flat=True)) == {
        newest_good.pk,
        recent_failed.pk,
        abandoned.pk,
    }
    assert not Backup.objects.filter(pk__in=[oldest.pk, old_failed.pk]).exists()
    assert dump_files(backup_dir) == ["evpower-b.dump", "notes.txt"]
    abandoned.refresh_from_db()
    assert abandoned.status == Backup.Status.FAILED and "abandoned" in abandoned.error

    # a newer good backup: now the 35-day-old one goes too
    make_backup(backup_dir, "evpower-d.dump", days_old=0)
    assert backups_prune() == 1
    assert dump_files(backup_dir) == ["evpower-d.dump", "notes.txt"]


# -- failures --------------------------------------------------------------------------------


@transactional
@pytest.mark.parametrize("case", ["no tools", "pg_dump fails", "ledger data missing"])
def test_a_failed_backup_is_recorded_and_alerted(case, tmp_path, settings, backup_dir, alerts):
    if case == "no tools":
        settings.BACKUP_PG_BIN_DIR = str(tmp_path / "empty")
        expected = "pg_dump/pg_restore not found"
    elif case == "ledger data missing":
        settings.BACKUP_PG_BIN_DIR = str(
            fake_tools(
                tmp_path / "bin",
                pg_dump=(
                    'case "$1" in --version) exec REAL "$@";; esac\n'
                    'exec REAL --exclude-table-data=payments_ledgerposting "$@"'
                ),
            )
        )
        expected = "the archive lacks the data of payments_ledgerposting"
    else:
        settings.BACKUP_PG_BIN_DIR = str(
            fake_tools(
                tmp_path / "bin",
                pg_dump="""
case "$1" in --version) exec REAL "$@";; esac
for a in "$@"; do case "$a" in --file=*) echo junk > "${a#--file=}";; esac; done
echo 'pg_dump: error: connection to server failed: FATAL: too many clients' >&2
exit 1""",
            )
        )
        expected = "pg_dump failed (exit 1): pg_dump: error: connection to server failed"

    outcome = backup_task.apply(kwargs={"slot": "daily:test"}).get()

    row = Backup.objects.get()
    assert outcome["status"] == "failed" and row.status == Backup.Status.FAILED
    assert expected in row.error and row.finished_at and not row.file
    assert "Traceback" not in row.error
    assert [a["key"] for a in alerts] == ["backup-failed"]
    assert expected in alerts[0]["text"]
    assert dump_files(backup_dir) == []  # nothing half-written left behind
    check = backup_restore_check(tmp_path / "any.dump")
    assert not check.ok and check.error

    # the next delivery of the slot, with the fault gone, takes the backup
    settings.BACKUP_PG_BIN_DIR = ""
    retried = backup_task.apply(kwargs={"slot": "daily:test"}).get()
    row.refresh_from_db()
    assert retried["ran"] and row.status == Backup.Status.OK and row.attempts == 2
    assert row.error == "" and dump_files(backup_dir) == [Path(row.file).name]


def test_tools_matching_the_server_version_are_chosen(tmp_path):
    server = connection.pg_version // 10000

    def install(version: int) -> str:
        directory = tmp_path / str(version)
        directory.mkdir()
        for name in ("pg_dump", "pg_restore"):
            (directory / name).write_text(f"#!/bin/sh\necho '{name} (PostgreSQL) {version}.3'\n")
            (directory / name).chmod(0o755)
        return str(directory)

    older, same, newer = install(server - 1), install(server), install(server + 1)

    assert backups._find_tools(server, same).version == server
    assert backups._find_tools(server, newer).version == server + 1
    with pytest.raises(backups.BackupError, match=f"older than the server.*{server}"):
        backups._find_tools(server, older)
    assert backups.pg_tools().version == server  # this machine's real ones


# -- the commands and the admin ---------------------------------------------------------------


@transactional
def test_backup_now_asks_first_then_backs_up(backup_dir):
    with pytest.raises(CommandError) as refused:
        call_command("backup_now", stdin=io.StringIO("yes\n"), stdout=io.StringIO())
    assert refused.value.returncode == 4 and not Backup.objects.exists()

    out = io.StringIO()
    call_command("backup_now", "--yes", "--restore-check", stdout=out)

    row = Backup.objects.get()
    assert row.status == Backup.Status.OK and row.trigger == Backup.Trigger.MANUAL
    assert row.file in out.getvalue() and "restore check of" in out.getvalue()
    assert row.restore_ok is True


@transactional
def test_backup_restore_check_defaults_to_the_newest_good_backup(backup_dir):
    with pytest.raises(CommandError) as none:
        call_command("backup_restore_check", stdout=io.StringIO())
    assert none.value.returncode == 3

    some_money(2)
    row = backup_run().backup
    out = io.StringIO()
    call_command("backup_restore_check", stdout=out)
    assert f"restore check of {row.file}: OK" in out.getvalue()
    assert "checked 2 wallets" in out.getvalue()

    with pytest.raises(CommandError, match="RESTORE_CHECK_FAILED"):
        call_command("backup_restore_check", str(backup_dir / "missing.dump"), stdout=io.StringIO())


@pytest.mark.parametrize("command", ["backup_now", "backup_restore_check"])
def test_commands_explain_themselves(command):
    out = subprocess.run(
        [sys.executable, "manage.py", command, "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "scratch database" in out
    assert ("--yes" in out) == (command == "backup_now")


def test_admin_lists_backups_read_only(admin_client, db, backup_dir):
    make_backup(backup_dir, "evpower-20261122T010000Z.dump", days_old=0)

    page = admin_client.get(reverse("admin:maintenance_backup_changelist"))

    assert page.status_code == 200
    assert b"evpower-20261122T010000Z.dump" in page.content
    assert admin_client.get(reverse("admin:maintenance_backup_add")).status_code == 403
    row = Backup.objects.get()
    assert (
        admin_client.post(
            reverse("admin:maintenance_backup_delete", args=[row.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    assert Backup.objects.exists()
