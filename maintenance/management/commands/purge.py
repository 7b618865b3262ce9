"""python manage.py purge [--dry-run] [--yes]"""

from __future__ import annotations

import sys

from django.utils import timezone
from tqdm import tqdm

from evpower.management_support import SupportCommand
from maintenance.retention import KINDS, cutoff, retention_counts, retention_purge


class Command(SupportCommand):
    help = """Delete what is past retention (settings.RETENTION_DAYS), as the daily job does:
meter samples, the OCPP message log, HTTP idempotency keys, OTP codes and old command
records. Never the ledger, payments or sessions; meter samples of a transaction that may
still be billed are kept whatever their age. Prints what is due per kind, asks, then
deletes in batches (a progress bar on a terminal) and prints what was deleted."""
    examples = ("--dry-run", "", "--yes")
    supports_dry_run = True

    def handle(self, *args, **options):
        now = timezone.now()
        due = retention_counts(now).counts
        width = max(map(len, KINDS))
        for kind in KINDS:
            self.say(
                f"{kind:<{width}}  {due[kind]:>10}  older than "
                f"{cutoff(kind, now):%Y-%m-%d %H:%M} UTC"
            )
        self.say(f"{'total':<{width}}  {sum(due.values()):>10}")
        if self.dry_run:
            self.dry_run_note()
            return
        if not any(due.values()):
            self.done("nothing to delete")
            return
        self.confirm(f"Delete these {sum(due.values())} row(s)?")
        with self._bar(total=sum(due.values())) as bar:
            deleted = retention_purge(now, progress=lambda kind, n: bar.update(n)).counts
        for kind in KINDS:
            self.say(f"{kind:<{width}}  {deleted[kind]:>10} deleted")
        self.done(f"deleted {sum(deleted.values())} row(s)")

    def _bar(self, *, total: int) -> tqdm:
        """Rows deleted, on stderr when it is a terminal (as SupportCommand.progress)."""
        out = getattr(self.stderr, "_out", sys.stderr)
        isatty = getattr(out, "isatty", None)
        return tqdm(
            total=total,
            desc="deleting",
            unit="row",
            file=out,
            leave=False,
            disable=not (isatty and isatty()),
        )
