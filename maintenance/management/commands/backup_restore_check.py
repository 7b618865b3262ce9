"""python manage.py backup_restore_check [file]"""

from __future__ import annotations

from evpower.management_support import SupportCommand, SupportError, not_found
from maintenance.backups import backup_restore_check, newest_good_backup


class Command(SupportCommand):
    help = """Restore drill: restore a backup into a new scratch database, check the ledger
there (every wallet's balance, held and debt equal the sum of its postings and its open
holds; every ledger transaction sums to zero), print the result and drop the scratch
database again (always, also on failure). The production data is only read.

Without a file: the newest good backup recorded in the admin. Needs pg_restore of the
server's version and a database user allowed to CREATE DATABASE. The result is recorded on
the backup's row in the admin."""
    examples = ("", "/var/backups/evpower/evpower-20261122T010000Z.dump")
    asks_confirmation = False  # reads the backup; the scratch database is its own

    def add_arguments(self, parser):
        parser.add_argument(
            "file",
            nargs="?",
            help="a pg_dump custom-format archive (default: the newest good backup)",
        )

    def handle(self, *args, file: str | None, **options):
        if not file:
            newest = newest_good_backup()
            if newest is None:
                raise not_found("good backup recorded (take one with backup_now)")
            file = newest.file
        result = backup_restore_check(file, progress=self.say)
        if not result.ok:
            raise SupportError(result.error, code="RESTORE_CHECK_FAILED")
