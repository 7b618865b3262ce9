"""Database backups that restore: `pg_dump` archives, verified, recorded, pruned, and drilled.

- `backup_run()` dumps the default database (custom format, compressed) into BACKUP_DIR under a
  temporary name, checks the archive with `pg_restore --list` (it must list the data of the
  critical tables), renames it into place and records a `Backup` row. Claimed per slot: the
  row for the slot is locked for the whole run, so a task delivered twice makes one file; a
  run whose worker died leaves the row unlocked and "running" for the next delivery, which
  removes the dead run's temporary file and writes the same file name again.
- `backups_prune()` removes archives and rows older than BACKUP_RETENTION_DAYS, never the
  newest good one.
- `backup_restore_check(file)` restores an archive into a scratch database, checks the ledger
  there (balances equal postings: `payments.selectors.ledger_invariant_violations`, and every
  transaction sums to zero) and always drops the scratch database.

Connection settings go to the PostgreSQL tools through PG* environment variables: the password
never appears on a command line.
"""

from __future__ import annotations

import glob
import hashlib
import logging
import os
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.db import DatabaseError, OperationalError, connections, transaction
from django.utils import timezone

from evpower import alerts
from payments.models import LedgerTransaction, Wallet
from payments.selectors import ledger_invariant_violations, unbalanced_transactions

from .models import Backup

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]

# Without the data of these a backup is useless: the money, who owns it, what it paid for.
CRITICAL_MODELS = (
    "payments.Wallet",
    "payments.LedgerTransaction",
    "payments.LedgerPosting",
    "payments.Hold",
    "payments.Debt",
    "payments.Payment",
    "charging.ChargingSession",
    "charging.OcppTransaction",
    "stations.Station",
    "stations.Connector",
    "accounts.Client",
)
FILE_PREFIX = "evpower-"
SCRATCH_PREFIX = "evpower_restorecheck_"
_TABLE_DATA = re.compile(r"^\d+; \d+ \d+ TABLE DATA (\S+) (\S+) ")
_VERSION = re.compile(r"\(PostgreSQL\) (\d+)")


class BackupError(Exception):
    """A backup or restore check that cannot be done; the message says why, for an operator."""


def critical_tables() -> list[str]:
    return sorted(apps.get_model(label)._meta.db_table for label in CRITICAL_MODELS)


# -- the PostgreSQL client tools ---------------------------------------------------------


@dataclass(frozen=True)
class PgTools:
    pg_dump: str
    pg_restore: str
    version: int  # major version of the tools


def _default_db() -> dict:
    db = connections["default"].settings_dict
    if connections["default"].vendor != "postgresql":
        raise BackupError(
            f"backups need PostgreSQL; the default database is {connections['default'].vendor}"
        )
    return db


def _server_major() -> int:
    return connections["default"].pg_version // 10000


def pg_tools() -> PgTools:
    """pg_dump and pg_restore of the server's major version (or, failing that, the oldest newer
    one: a newer pg_dump reads an older server, an older one refuses). BACKUP_PG_BIN_DIR, when
    set, is the only place looked at; otherwise the usual install directories and PATH."""
    _default_db()
    return _find_tools(_server_major(), settings.BACKUP_PG_BIN_DIR)


@lru_cache(maxsize=8)
def _find_tools(server: int, configured: str) -> PgTools:
    if configured:
        dirs = [configured]
    else:
        dirs = sorted(
            {
                *glob.glob("/usr/lib/postgresql/*/bin"),
                *glob.glob("/usr/pgsql-*/bin"),
                *glob.glob("/opt/homebrew/opt/postgresql@*/bin"),
                *glob.glob("/usr/local/opt/postgresql@*/bin"),
            }
        )
        if found := shutil.which("pg_dump"):
            dirs.append(str(Path(found).parent))
    found: dict[int, PgTools] = {}
    for directory in dirs:
        dump, restore = Path(directory, "pg_dump"), Path(directory, "pg_restore")
        if not (os.access(dump, os.X_OK) and os.access(restore, os.X_OK)):
            continue
        try:
            out = subprocess.run(  # noqa: S603
                [str(dump), "--version"],
                capture_output=True,
                text=True,  # noqa: S603
                timeout=10,
                check=True,
            ).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        if match := _VERSION.search(out):
            found.setdefault(
                int(match.group(1)), PgTools(str(dump), str(restore), int(match.group(1)))
            )
    where = f"in {configured}" if configured else "(looked in /usr/lib/postgresql/*/bin and PATH)"
    if not found:
        raise BackupError(
            f"pg_dump/pg_restore not found {where}: install the PostgreSQL "
            f"{server} client tools (e.g. postgresql-client-{server}) or set "
            f"BACKUP_PG_BIN_DIR"
        )
    if server in found:
        return found[server]
    newer = [v for v in found if v > server]
    if newer:
        return found[min(newer)]
    raise BackupError(
        f"pg_dump {max(found)} is older than the server (PostgreSQL {server}) "
        f"and cannot dump it: install postgresql-client-{server} or set "
        f"BACKUP_PG_BIN_DIR"
    )


def _pg_env(db: dict, *, dbname: str | None = None) -> dict[str, str]:
    """The environment for a PostgreSQL tool: the connection in PG* variables, password
    included (never on a command line, where `ps` shows it)."""
    env = dict(os.environ)
    options = db.get("OPTIONS") or {}
    values = {
        "PGHOST": db.get("HOST"),
        "PGPORT": db.get("PORT"),
        "PGUSER": db.get("USER"),
        "PGPASSWORD": db.get("PASSWORD"),
        "PGDATABASE": dbname or db.get("NAME"),
        "PGSSLMODE": options.get("sslmode"),
        "PGSSLROOTCERT": options.get("sslrootcert"),
        "PGSSLCERT": options.get("sslcert"),
        "PGSSLKEY": options.get("sslkey"),
        "PGPASSFILE": options.get("passfile"),
        "PGSERVICE": options.get("service"),
        "PGAPPNAME": "evpower-backup",
    }
    env.update({key: str(value) for key, value in values.items() if value not in (None, "")})
    return env


def _run(argv: list[str], *, env: dict[str, str], what: str) -> subprocess.CompletedProcess:
    try:
        result = subprocess.run(  # noqa: S603
            argv,
            env=env,
            capture_output=True,
            text=True,  # noqa: S603
            timeout=settings.BACKUP_TIME_LIMIT,
            check=False,
        )
    except FileNotFoundError as exc:
        raise BackupError(f"{what}: {argv[0]} not found") from exc
    except subprocess.TimeoutExpired as exc:
        raise BackupError(f"{what}: timed out after {settings.BACKUP_TIME_LIMIT} s") from exc
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-5:]) or "(no message)"
        raise BackupError(f"{what} failed (exit {result.returncode}): {tail}")
    return result


def archive_tables(path: Path | str, tools: PgTools | None = None) -> list[str]:
    """Tables whose data the archive holds, per `pg_restore --list` (BackupError if it cannot
    read it: missing, truncated, not an archive)."""
    tools = tools or pg_tools()
    out = _run(
        [tools.pg_restore, "--list", str(path)], env=dict(os.environ), what="pg_restore --list"
    ).stdout
    return sorted({m.group(2) for line in out.splitlines() if (m := _TABLE_DATA.match(line))})


# -- taking a backup ---------------------------------------------------------------------


@dataclass(frozen=True)
class BackupOutcome:
    backup: Backup
    ran: bool  # False: skipped, `skipped` says why
    skipped: str = ""
    pruned: int = 0

    @property
    def ok(self) -> bool:
        return self.backup.status == Backup.Status.OK


def daily_slot(now: datetime | None = None) -> str:
    return f"daily:{(now or timezone.now()).astimezone(UTC):%Y-%m-%d}"


def backup_run(
    *,
    slot: str | None = None,
    trigger: str = Backup.Trigger.MANUAL,
    progress: Progress | None = None,
) -> BackupOutcome:
    """Take the backup of `slot` (a fresh manual slot when None) unless it is done or being
    done. Failures are recorded (status failed, error) and alerted (key "backup-failed")."""
    say = progress or (lambda _msg: None)
    if connections["default"].in_atomic_block:
        raise RuntimeError(
            "backup_run() needs autocommit: pg_dump sees committed data only "
            "and the run's claim must be visible to other workers"
        )
    slot = slot or f"manual:{timezone.now():%Y%m%dT%H%M%S.%fZ}"
    row, _ = Backup.objects.get_or_create(slot=slot, defaults={"trigger": trigger})
    with transaction.atomic():
        try:
            with transaction.atomic():
                row = Backup.objects.select_for_update(nowait=True).get(pk=row.pk)
        except OperationalError as exc:
            if not _lock_not_available(exc):
                raise
            return BackupOutcome(
                row, ran=False, skipped=f"{slot} is being backed up by another worker"
            )
        if row.status == Backup.Status.OK:
            return BackupOutcome(row, ran=False, skipped=f"{slot} is already backed up")
        # the row stays locked until this transaction ends: the whole run
        _take(row, say)
    if row.status == Backup.Status.FAILED:
        _alert(
            "backup-failed",
            f"Database backup failed ({slot})",
            f"Backup {slot}, attempt {row.attempts}, failed:\n{row.error}",
        )
    pruned = backups_prune()
    return BackupOutcome(row, ran=True, pruned=pruned)


def _lock_not_available(exc: Exception) -> bool:
    return getattr(exc.__cause__, "sqlstate", None) == "55P03"  # lock_not_available


def _take(row: Backup, say: Progress) -> None:
    """Dump, verify, rename into place and write the result on the (locked) row."""
    row.attempts += 1
    row.started_at, row.finished_at, row.error = timezone.now(), None, ""
    directory = backup_dir()
    final = directory / _file_name(row)
    temp = directory / f".{final.name}.{row.attempts}-{secrets.token_hex(4)}.partial"
    try:
        with transaction.atomic():  # a database error inside must not spoil the result's save
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            for leftover in directory.glob(f".{final.name}.*.partial"):  # a dead run's
                leftover.unlink(missing_ok=True)
            # created private before pg_dump writes personal data into it (it keeps the mode)
            os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            tools = pg_tools()
            db = _default_db()
            say(f"dumping {db['NAME']} with {tools.pg_dump} ...")
            level = settings.BACKUP_COMPRESS_LEVEL
            _run(
                [
                    tools.pg_dump,
                    "--format=custom",
                    f"--compress={level}",
                    "--no-password",
                    "--lock-wait-timeout=120000",
                    f"--file={temp}",
                ],
                env=_pg_env(db),
                what="pg_dump",
            )
            say("verifying with pg_restore --list ...")
            tables = archive_tables(temp, tools)
            missing = sorted(set(critical_tables()) - set(tables))
            if missing:
                raise BackupError(f"the archive lacks the data of {', '.join(missing)}")
            size, digest = _size_and_sha256(temp)
            os.replace(temp, final)
            _fsync_dir(directory)
            row.status, row.file, row.size_bytes, row.sha256 = (
                Backup.Status.OK,
                str(final),
                size,
                digest,
            )
            row.tables_verified = len(tables)
    except Exception as exc:  # noqa: BLE001 - every failure is recorded and alerted
        logger.exception("backup %s failed", row.slot)
        row.status, row.error = Backup.Status.FAILED, str(exc) or exc.__class__.__name__
    finally:
        temp.unlink(missing_ok=True)
    row.finished_at = timezone.now()
    row.save()
    say(f"{row.status}: {row.file or row.error}")


def backup_dir() -> Path:
    return Path(settings.BACKUP_DIR).resolve()


def _file_name(row: Backup) -> str:
    """Named by the UTC time the slot was first claimed, so every attempt of a slot writes the
    same file; a row id is added only when another backup already has the name."""
    name = f"{FILE_PREFIX}{row.created_at.astimezone(UTC):%Y%m%dT%H%M%SZ}.dump"
    taken = Backup.objects.exclude(pk=row.pk).filter(file=str(backup_dir() / name))
    return name.replace(".dump", f"-{row.pk}.dump") if taken.exists() else name


def _size_and_sha256(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
        os.fsync(f.fileno())
    return path.stat().st_size, digest.hexdigest()


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _alert(key: str, subject: str, text: str) -> None:

    try:
        alerts.operator_alert(key=key, subject=subject, text=text, severity="high")
    except Exception:  # an alert must never turn a recorded failure into a crash
        logger.exception("operator alert %s could not be sent", key)


# -- retention -------------------------------------------------------------------------------


def backups_prune(*, now: datetime | None = None) -> int:
    """Delete archives and rows older than BACKUP_RETENTION_DAYS except the newest good one;
    mark runs abandoned by a dead worker (unlocked, running past BACKUP_TIME_LIMIT) failed;
    remove stray temporary files. Returns the number of backups deleted."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.BACKUP_RETENTION_DAYS)
    stale = now - timedelta(seconds=settings.BACKUP_TIME_LIMIT)
    with transaction.atomic():
        for row in Backup.objects.select_for_update(skip_locked=True).filter(
            status=Backup.Status.RUNNING, created_at__lt=stale
        ):
            row.status, row.finished_at = Backup.Status.FAILED, now
            row.error = row.error or "abandoned: the worker running it died"
            row.save(update_fields=["status", "finished_at", "error"])
    newest = newest_good_backup()
    keep = {newest.file} if newest else set()
    deleted = 0
    for pk in (
        Backup.objects.filter(created_at__lt=cutoff)
        .exclude(status=Backup.Status.RUNNING)
        .exclude(pk=newest.pk if newest else None)
        .values_list("pk", flat=True)
    ):
        with transaction.atomic():
            row = Backup.objects.select_for_update(skip_locked=True).filter(pk=pk).first()
            if row is None or row.status == Backup.Status.RUNNING:
                continue
            if row.file and row.file not in keep:
                Path(row.file).unlink(missing_ok=True)
            row.delete()
            deleted += 1
    directory = backup_dir()
    if directory.is_dir():
        known = set(Backup.objects.exclude(file="").values_list("file", flat=True))
        for path in directory.iterdir():
            mtime = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            stray_temp = (
                path.name.startswith(f".{FILE_PREFIX}")
                and path.suffix == ".partial"
                and mtime < stale
            )
            old_unknown = (
                path.name.startswith(FILE_PREFIX)
                and path.suffix == ".dump"
                and str(path) not in known
                and mtime < cutoff
            )
            if stray_temp or old_unknown:
                path.unlink(missing_ok=True)
    return deleted


def newest_good_backup() -> Backup | None:
    return Backup.objects.filter(status=Backup.Status.OK).order_by("-finished_at", "-pk").first()


# -- the restore drill -------------------------------------------------------------------


@dataclass
class RestoreCheckResult:
    file: str
    database: str = ""  # the scratch database (dropped again)
    ok: bool = False
    error: str = ""
    tables: int = 0
    wallets: int = 0
    transactions: int = 0
    violations: list[dict] = field(default_factory=list)  # wallets off their postings
    unbalanced: list[dict] = field(default_factory=list)  # transactions not summing to zero
    dropped: bool = False
    seconds: float = 0.0

    def summary(self) -> str:
        lines = [f"restore check of {self.file}: {'OK' if self.ok else 'FAILED'}"]
        if self.error:
            lines.append(f"  error: {self.error}")
        if self.database:
            lines.append(
                f"  scratch database {self.database} "
                f"{'dropped' if self.dropped else 'NOT DROPPED - drop it by hand'}"
            )
        if self.tables:
            lines.append(
                f"  restored {self.tables} tables; checked {self.wallets} wallets, "
                f"{self.transactions} ledger transactions"
            )
            lines.append(
                f"  wallets whose balance/held/debt differ from their postings: "
                f"{len(self.violations)}"
            )
            lines.extend(f"    {v}" for v in self.violations[:20])
            lines.append(f"  unbalanced transactions: {len(self.unbalanced)}")
            lines.extend(f"    {t}" for t in self.unbalanced[:20])
        lines.append(f"  took {self.seconds:.1f} s")
        return "\n".join(lines)


def backup_restore_check(
    file: Path | str, *, progress: Progress | None = None
) -> RestoreCheckResult:
    """Restore `file` into a new scratch database, run the ledger invariants there, drop the
    scratch database (always). Never raises for a bad archive: the result says what failed.
    The Backup row of the file, if any, records the outcome."""

    say = progress or (lambda _msg: None)
    started = time.monotonic()
    file = Path(file).resolve()
    result = RestoreCheckResult(file=str(file))
    try:
        tools, db = pg_tools(), _default_db()
        if not file.is_file():
            raise BackupError(f"no such file: {file}")
        _drop_abandoned_scratch_databases()
        result.database = (
            f"{SCRATCH_PREFIX}{timezone.now().astimezone(UTC):%Y%m%d%H%M%S}_{secrets.token_hex(4)}"
        )
        say(f"creating scratch database {result.database} ...")
        _create_database(result.database)
        try:
            say("restoring ...")
            _run(
                [
                    tools.pg_restore,
                    "--no-owner",
                    "--no-privileges",
                    "--single-transaction",
                    "--exit-on-error",
                    "--no-password",
                    f"--dbname={result.database}",
                    str(file),
                ],
                env=_pg_env(db, dbname=result.database),
                what="pg_restore",
            )
            say("checking the ledger ...")
            alias = f"restore_check_{secrets.token_hex(4)}"
            scratch = connections["default"].__class__({**db, "NAME": result.database}, alias=alias)
            connections[alias] = scratch  # this thread only; settings.DATABASES is untouched
            try:
                with scratch.cursor() as cursor:
                    cursor.execute(
                        "SELECT count(*) FROM information_schema.tables "
                        "WHERE table_schema = 'public'"
                    )
                    result.tables = cursor.fetchone()[0]
                result.wallets = Wallet.objects.using(alias).count()
                result.transactions = LedgerTransaction.objects.using(alias).count()
                result.violations = [
                    _plain(v)
                    for v in ledger_invariant_violations()
                    .using(alias)
                    .values(
                        "pk",
                        "client_id",
                        "balance",
                        "posted_balance",
                        "held",
                        "posted_held",
                        "open_holds",
                        "debt",
                        "posted_debt",
                    )
                ]
                result.unbalanced = [
                    _plain(t)
                    for t in unbalanced_transactions().using(alias).values("pk", "kind", "total")
                ]
            finally:
                scratch.close()
                del connections[alias]
            result.ok = not result.violations and not result.unbalanced
            if not result.ok:
                result.error = "the ledger invariants do not hold in the backup"
        finally:
            result.dropped = _drop_database(result.database)
    except (BackupError, DatabaseError) as exc:
        result.ok, result.error = False, str(exc).strip() or exc.__class__.__name__
    result.seconds = time.monotonic() - started
    if result.ok and not result.dropped:
        result.ok, result.error = False, f"the scratch database {result.database} was not dropped"
    Backup.objects.filter(file=str(file)).update(
        restore_checked_at=timezone.now(),
        restore_ok=result.ok,
        restore_detail=result.summary()[:4000],
    )
    say(result.summary())
    return result


def _plain(row: dict) -> dict:
    return {
        key: (str(value) if not isinstance(value, int | str) else value)
        for key, value in row.items()
    }


def _create_database(name: str) -> None:
    """An empty database like the live one (encoding and locale), from template0."""
    connection = connections["default"]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_encoding_to_char(encoding), datcollate, datctype "
            "FROM pg_database WHERE datname = current_database()"
        )
        encoding, collate, ctype = cursor.fetchone()
    try:
        with connection._nodb_cursor() as cursor:
            cursor.execute(
                f"CREATE DATABASE {connection.ops.quote_name(name)} "
                f"TEMPLATE template0 ENCODING %s LC_COLLATE %s LC_CTYPE %s",
                [encoding, collate, ctype],
            )
    except DatabaseError as exc:
        raise BackupError(
            f"could not create the scratch database {name} (the database user "
            f"needs CREATEDB): {exc}"
        ) from exc


def _drop_database(name: str) -> bool:
    connection = connections["default"]
    try:
        with connection._nodb_cursor() as cursor:
            cursor.execute(
                f"DROP DATABASE IF EXISTS {connection.ops.quote_name(name)} WITH (FORCE)"
            )
    except DatabaseError:
        logger.exception("could not drop the scratch database %s", name)
        return False
    return True


def _drop_abandoned_scratch_databases() -> None:
    """Scratch databases of checks killed before their `finally` (named by UTC time), once
    older than two BACKUP_TIME_LIMITs: a check still running is never that old."""
    limit = timezone.now().astimezone(UTC) - timedelta(seconds=2 * settings.BACKUP_TIME_LIMIT)
    with connections["default"]._nodb_cursor() as cursor:
        cursor.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s",
            [SCRATCH_PREFIX.replace("_", r"\_") + "%"],
        )
        names = [row[0] for row in cursor.fetchall()]
    for name in names:
        stamp = name[len(SCRATCH_PREFIX) :].split("_")[0]
        try:
            created = datetime.strptime(stamp, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
        except ValueError:
            continue
        if created < limit:
            _drop_database(name)


# -- the daily job -----------------------------------------------------------------------


def backup_scheduled(*, slot: str | None = None) -> dict:
    """The daily task: today's (UTC) slot backed up once, pruned, and - when
    BACKUP_RESTORE_CHECK_DAILY - restore-checked once (alert "backup-restore-check-failed")."""
    outcome = backup_run(slot=slot or daily_slot(), trigger=Backup.Trigger.SCHEDULED)
    row = outcome.backup
    summary = {
        "slot": row.slot,
        "status": row.status,
        "ran": outcome.ran,
        "skipped": outcome.skipped,
        "file": row.file,
        "pruned": outcome.pruned,
    }
    if settings.BACKUP_RESTORE_CHECK_DAILY and outcome.ok and row.restore_checked_at is None:
        check = backup_restore_check(row.file)
        summary["restore_ok"] = check.ok
        if not check.ok:
            _alert(
                "backup-restore-check-failed",
                f"Backup restore check failed ({row.slot})",
                check.summary(),
            )
    return summary
