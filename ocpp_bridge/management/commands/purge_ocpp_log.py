"""python manage.py purge_ocpp_log [--days N] [--dry-run]"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from ocpp_bridge.selectors import message_log_purge_count
from ocpp_bridge.services import message_log_purge


class Command(BaseCommand):
    help = "Delete OCPP message log rows older than the retention period."

    def add_arguments(self, parser):
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help="keep this many days (default: OCPP_MESSAGE_LOG_RETENTION_DAYS)",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="only print how many rows would be deleted"
        )

    def handle(self, *args, **opts):
        # read at run time, not import time, so the setting (and tests) decide
        days = settings.OCPP_MESSAGE_LOG_RETENTION_DAYS if opts["days"] is None else opts["days"]
        if days < 1:
            raise CommandError("--days must be at least 1")
        now = timezone.now()
        if opts["dry_run"]:
            count = message_log_purge_count(older_than_days=days, now=now)
            self.stdout.write(
                f"{count} OCPP log row(s) older than {days} day(s) would be "
                f"deleted (dry run, nothing deleted)."
            )
            return
        count = message_log_purge(older_than_days=days, now=now)
        self.stdout.write(
            self.style.SUCCESS(f"Deleted {count} OCPP log row(s) older than {days} day(s).")
        )
