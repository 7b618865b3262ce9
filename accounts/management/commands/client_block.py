"""python manage.py client_block <phone|id> [--unblock] --reason TEXT [--yes] [--dry-run]"""

from __future__ import annotations

from accounts.management.support import client_by_ref
from accounts.models import Client, LoginSession
from accounts.services import client_block, client_unblock
from evpower.management_support import SupportCommand, support_actor


class Command(SupportCommand):
    help = """Block a driver, or unblock them (--unblock), like the admin's Block / Unblock.

Blocking logs the client out everywhere at once (every login session and its tokens is
revoked) and refuses new charging and top-ups. Unblocking sets the account active again and
also cancels a pending deletion. A deleted (anonymised) client cannot be either."""
    examples = (
        "+996700123456 --reason 'chargeback fraud' --dry-run",
        "+996700123456 --reason 'chargeback fraud'",
        "42 --unblock --reason 'resolved with the bank' --yes",
    )
    supports_dry_run = True

    def add_arguments(self, parser):
        parser.add_argument("client", help="the client's phone (+996...) or id")
        parser.add_argument("--unblock", action="store_true", help="unblock instead")
        parser.add_argument(
            "--reason",
            required=True,
            help="why (kept on the client's status history with who did it)",
        )

    def handle(self, *args, client: str, unblock: bool, reason: str, **options):
        target = client_by_ref(client)
        verb = "unblock" if unblock else "block"
        logins = LoginSession.objects.filter(client=target, revoked_at__isnull=True).count()
        self.say(
            f"client {target.pk} ({target.phone}, {target.name or 'no name'}): "
            f"{target.status}, {logins} active login session(s)"
        )
        if target.status == Client.Status.DELETED:
            plan = f"nothing: a deleted client cannot be {verb}ed (CLIENT_DELETED)"
        elif unblock:
            plan = f"set {target.status} → active"
        else:
            plan = f"set {target.status} → blocked and revoke {logins} login session(s)"
        self.say(("would: " if self.dry_run else "plan: ") + plan)
        if self.dry_run:
            self.dry_run_note()
            return
        self.confirm(f"{verb.capitalize()} client {target.pk} ({target.phone})?")
        service = client_unblock if unblock else client_block
        done = service(client_id=target.pk, reason=reason, by=support_actor())
        self.done(
            f"client {done.pk}: {done.status}"
            + ("" if unblock else f"; {logins} login session(s) revoked")
        )
