"""Anonymise clients whose deletion grace period is over (a daily job later)."""

from django.core.management.base import BaseCommand
from django.utils import timezone

from accounts.services import accounts_anonymise_due, clients_due_for_anonymisation


class Command(BaseCommand):
    help = "Wipe personal data of clients past ACCOUNT_DELETION_GRACE_DAYS."

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="only list the clients that would be anonymised"
        )

    def handle(self, *args, dry_run: bool = False, **options):
        now = timezone.now()
        if dry_run:
            due = clients_due_for_anonymisation(now=now)
            self.stdout.write(f"{len(due)} client(s) due: {', '.join(map(str, due)) or '-'}")
            return
        done = accounts_anonymise_due(now=now)
        self.stdout.write(f"{len(done)} client(s) anonymised: {', '.join(map(str, done)) or '-'}")
