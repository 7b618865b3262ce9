"""python manage.py backup_now [--restore-check] [--yes]"""

from __future__ import annotations

from django.conf import settings
from django.db import connections

from evpower.management_support import SupportCommand, SupportError
from maintenance.backups import backup_restore_check, backup_run
from maintenance.models import Backup


class Command(SupportCommand):
    help = """Back the database up now: pg_dump (custom format, compressed) into BACKUP_DIR,
verified with pg_restore --list, recorded in the admin (Maintenance > Backups), then old
backups pruned (BACKUP_RETENTION_DAYS; the newest good one is always kept). A failure is
recorded and alerted to the operators like the daily job's. This does not replace the daily
backup (its own slot, "daily:<UTC date>")."""
    examples = ("", "--yes", "--restore-check --yes")

    def add_arguments(self, parser):
        parser.add_argument(
            "--restore-check",
            action="store_true",
            help="then restore it into a scratch database and check the "
            "ledger (as backup_restore_check)",
        )

    def handle(self, *args, restore_check: bool, **options):
        db = connections["default"].settings_dict
        self.say(
            f"database {db.get('NAME')} on {db.get('HOST') or 'localhost'} -> {settings.BACKUP_DIR}"
        )
        self.confirm("Take a backup now?")
        outcome = backup_run(trigger=Backup.Trigger.MANUAL, progress=self.say)
        row = outcome.backup
        if not outcome.ok:
            raise SupportError(row.error or outcome.skipped or row.status, code="BACKUP_FAILED")
        self.done(
            f"backup {row.slot}: {row.file} ({row.size_bytes} bytes, sha256 {row.sha256},"
            f" {row.tables_verified} tables verified)"
        )
        if outcome.pruned:
            self.say(f"pruned {outcome.pruned} old backup(s)")
        if restore_check:
            result = backup_restore_check(row.file, progress=self.say)
            if not result.ok:
                raise SupportError(result.error, code="RESTORE_CHECK_FAILED")
