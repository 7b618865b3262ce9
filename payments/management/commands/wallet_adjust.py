"""python manage.py wallet_adjust <phone|id> <amount> --reason TEXT --staff USER [--yes]
[--dry-run]"""

from __future__ import annotations

import uuid
from decimal import Decimal

from accounts.management.support import client_by_ref
from evpower.management_support import SupportCommand, staff_user_named
from payments.management.support import amount_arg
from payments.models import Wallet
from payments.money import ZERO
from payments.wallet import wallet_adjust


class Command(SupportCommand):
    help = """Correct a driver's wallet by hand: a positive amount credits, a negative one debits.

A reason and a staff user are required and kept on the ledger transaction (kind
"adjustment"). A debit never takes the available balance below zero (INSUFFICIENT_BALANCE);
a credit pays outstanding debt first. Each run is a new adjustment (a new key, printed)."""
    examples = (
        "+996700123456 150 --reason 'top-up lost by the provider, ticket 881' "
        "--staff aida --dry-run",
        "+996700123456 -20.50 --reason 'double credit, ticket 902' --staff aida",
        "42 100 --reason 'goodwill' --staff aida --yes",
    )
    supports_dry_run = True

    def add_arguments(self, parser):
        parser.add_argument("client", help="the client's phone (+996...) or id")
        parser.add_argument("amount", type=amount_arg, help="signed: 150 credits, -150 debits")
        parser.add_argument("--reason", required=True, help="why (kept on the ledger)")
        parser.add_argument(
            "--staff", required=True, help="username of the staff user authorising it"
        )

    def handle(self, *args, client: str, amount: Decimal, reason: str, staff: str, **options):
        target = client_by_ref(client)
        author = staff_user_named(staff)
        wallet = Wallet.objects.filter(client=target).first() or Wallet(client=target)
        balance, available, debt = wallet.balance, wallet.available, wallet.debt
        self.say(
            f"client {target.pk} ({target.phone}): balance {balance} {wallet.currency}, "
            f"available {available}, debt {debt}"
        )
        if amount < 0 and available < -amount:
            outcome = f"refused: INSUFFICIENT_BALANCE (available {available}, debit {-amount})"
        else:
            to_debt = min(debt, amount) if amount > 0 else ZERO
            outcome = f"balance {balance} → {balance + amount - to_debt}" + (
                f", debt {debt} → {debt - to_debt}" if to_debt else ""
            )
        self.say(
            f"{'would adjust' if self.dry_run else 'adjust'} by {amount:+} "
            f"{wallet.currency} (by {author.get_username()}: {reason.strip()}): {outcome}"
        )
        if self.dry_run:
            self.dry_run_note()
            return
        self.confirm(f"Adjust the wallet of client {target.pk} by {amount:+} {wallet.currency}?")
        key = f"support:wallet:{target.pk}:adjust:{uuid.uuid4().hex}"
        txn = wallet_adjust(client=target, amount=amount, reason=reason, author=author, key=key)
        wallet = Wallet.objects.get(client=target)
        self.done(
            f"client {target.pk}: adjusted by {txn.amount:+} {txn.currency}; balance now "
            f"{wallet.balance}, debt {wallet.debt} (ledger transaction {txn.pk}, "
            f"key {key})"
        )
