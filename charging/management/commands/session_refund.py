"""python manage.py session_refund <session_id> <amount> --reason TEXT --staff USER [--yes]
[--dry-run]"""

from __future__ import annotations

import logging
import uuid
from decimal import Decimal

from charging.session.models import ChargingSession
from evpower.management_support import SupportCommand, not_found, staff_user_named, support_actor
from payments.management.support import amount_arg
from payments.models import Wallet
from payments.money import money_text as shown
from payments.selectors import refundable_for
from payments.wallet import wallet_refund

log = logging.getLogger("charging")


class Command(SupportCommand):
    help = """Refund (part of) what a charging session cost to the driver's wallet.

At most what the session was charged less earlier refunds. Unpaid debt of the session is
forgiven first; the rest is credited to the available balance. The reason and the staff user
are kept on the ledger transaction. Each run is a new refund (a new idempotency key, printed)."""
    examples = (
        "1234 50 --reason 'charger stopped early' --staff aida --dry-run",
        "1234 50.00 --reason 'charger stopped early' --staff aida",
    )
    supports_dry_run = True

    def add_arguments(self, parser):
        parser.add_argument("session_id", type=int, help="the charging session's id")
        parser.add_argument(
            "amount",
            type=amount_arg,
            help="to refund, in the session's currency (e.g. 50 or 50.00)",
        )
        parser.add_argument("--reason", required=True, help="why (kept on the ledger)")
        parser.add_argument(
            "--staff", required=True, help="username of the staff user authorising it"
        )

    def handle(self, *args, session_id: int, amount: Decimal, reason: str, staff: str, **options):
        session = ChargingSession.objects.select_related("client").filter(pk=session_id).first()
        if session is None:
            raise not_found(f"session {session_id}")
        author = staff_user_named(staff)
        ref = ("session", session.pk)
        refundable = refundable_for(client=session.client, ref=ref)
        wallet = Wallet.objects.filter(client=session.client).first()
        balance = wallet.balance if wallet else Decimal("0")
        self.say(
            f"session {session.pk}: {session.status}, client {session.client_id} "
            f"({session.client.phone}), cost {shown(session.final_cost)} "
            f"{session.currency}, refundable {shown(refundable)}; wallet balance "
            f"{shown(balance)}"
        )
        self.say(
            f"{'would refund' if self.dry_run else 'refund'} {shown(amount)} "
            f"{session.currency} "
            f"(by {author.get_username()}: {reason.strip()})"
        )
        if self.dry_run:
            if amount > refundable:
                self.say(
                    f"it would be refused: REFUND_EXCEEDS_CHARGE (refundable {shown(refundable)})"
                )
            self.dry_run_note()
            return
        self.confirm(f"Refund {shown(amount)} {session.currency} for session {session.pk}?")
        key = f"support:session:{session.pk}:refund:{uuid.uuid4().hex}"
        txn = wallet_refund(
            client=session.client, amount=amount, ref=ref, key=key, author=author, reason=reason
        )
        log.info(
            "session %s: %s (%s) refunded %s %s to client %s (ledger %s, key %s): %s",
            session.pk,
            author.get_username(),
            support_actor(),
            txn.amount,
            txn.currency,
            session.client_id,
            txn.pk,
            key,
            reason,
        )
        wallet = Wallet.objects.get(client=session.client)
        self.done(
            f"session {session.pk}: refunded {shown(txn.amount)} {txn.currency}; "
            f"balance now {shown(wallet.balance)}, debt {shown(wallet.debt)} "
            f"(ledger transaction {txn.pk}, "
            f"key {key})"
        )
