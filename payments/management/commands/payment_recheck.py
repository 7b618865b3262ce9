"""python manage.py payment_recheck (<payment_id|order_id> | --all-open) [--yes] [--dry-run]"""

from __future__ import annotations

from evpower.api.errors import ApiError
from evpower.management_support import (
    Exit,
    SupportCommand,
    SupportError,
    from_api_error,
    not_found,
)
from payments.models import Payment
from payments.providers import provider_for
from payments.providers.base import NotSupported, ProviderError, ProviderRefused
from payments.topups import payment_sync

Status = Payment.Status
CLOSED = (Status.PAID, Status.REFUNDED)


class Command(SupportCommand):
    help = """Ask the payment provider about a top-up and apply its answer, as the status poll does.

Paid at the provider → credited once (also when we had expired or cancelled it: a late
payment is credited, never lost); failed there → cancelled; still pending → left open.
A payment already paid or refunded is not asked again. --all-open re-checks every open
(created / pending) payment, with a progress bar. --dry-run asks the provider and shows
its answer without applying it."""
    examples = ("EVP3F2A9C01D4E5B6A7 --dry-run", "1234", "--all-open --yes")
    supports_dry_run = True

    def add_arguments(self, parser):
        parser.add_argument("payment", nargs="?", help="our payment id or order id (EVP...)")
        parser.add_argument(
            "--all-open", action="store_true", help="every open payment instead of one"
        )

    def handle(self, *args, payment: str | None, all_open: bool, **options):
        if bool(payment) == all_open:
            raise SupportError(
                "give one payment id / order id, or --all-open", code="USAGE", returncode=Exit.USAGE
            )
        if all_open:
            payments = list(Payment.objects.filter(status__in=Payment.OPEN_STATUSES).order_by("id"))
            self.say(f"{len(payments)} open payment(s)")
            if not payments:
                return
        else:
            payments = [payment_by_ref(payment)]
            self.say(describe(payments[0]))
            if payments[0].status in CLOSED:
                self.say(f"already {payments[0].status}: nothing to re-check")
                return
        if self.dry_run:
            for item in self.progress(payments, total=len(payments), desc="asking"):
                self.say(f"payment {item.pk} ({item.order_id}): {self._provider_says(item)}")
            self.dry_run_note()
            return
        self.confirm(
            f"Re-check {len(payments)} payment(s) with the provider and apply its "
            "answer (a paid one is credited)?"
        )
        failures: list[SupportError] = []
        for item in self.progress(payments, total=len(payments), desc="re-checking"):
            try:
                after = payment_sync(payment_id=item.pk)
            except (ApiError, ProviderError) as exc:
                failure = error_of(exc, item)
                if not all_open:
                    raise failure from exc
                failures.append(failure)
                self.warn(f"payment {item.pk} ({item.order_id}): {failure}")
                continue
            self.say(
                f"payment {after.pk} ({after.order_id}): {item.status} → {after.status}"
                + (
                    f", credited {after.amount} {after.currency}"
                    if after.status == Status.PAID and item.status != Status.PAID
                    else ""
                )
            )
        if failures:
            worst = max(failure.returncode for failure in failures)
            raise SupportError(
                f"{len(failures)} of {len(payments)} payment(s) could not be "
                "re-checked (see above)",
                code="PARTIAL",
                returncode=worst,
            )
        self.done(f"{len(payments)} payment(s) re-checked")

    def _provider_says(self, payment: Payment) -> str:
        if payment.status in CLOSED:
            return f"{payment.status}: nothing to ask"
        try:
            remote = provider_for(payment.provider).status(payment)
        except (ApiError, ProviderError) as exc:
            return f"could not ask: {error_of(exc, payment)}"
        effect = {"paid": "would credit it", "failed": "would cancel it"}.get(
            remote.state, "would leave it open"
        )
        amount = f" {remote.amount}" if remote.amount is not None else ""
        return f"{payment.status}; provider says {remote.state}{amount}: {effect}"


def payment_by_ref(ref: str) -> Payment:
    ref = ref.strip()
    payment = Payment.objects.filter(pk=int(ref)).first() if ref.isdigit() else None
    payment = payment or Payment.objects.filter(order_id=ref).first()
    if payment is None:
        raise not_found(f"payment {ref}")
    return payment


def describe(payment: Payment) -> str:
    return (
        f"payment {payment.pk} ({payment.order_id}): {payment.provider}, {payment.amount} "
        f"{payment.currency}, {payment.status}, client {payment.client_id}, created "
        f"{payment.created_at:%Y-%m-%d %H:%M} UTC, expires "
        f"{payment.expires_at:%Y-%m-%d %H:%M} UTC"
    )


def error_of(exc: Exception, payment: Payment) -> SupportError:
    if isinstance(exc, ApiError):
        return from_api_error(exc)
    if isinstance(exc, ProviderRefused):
        return SupportError(f"{payment.provider}: {exc}", code="PROVIDER_REFUSED")
    if isinstance(exc, NotSupported):
        return SupportError(f"{payment.provider}: {exc}", code="PROVIDER_NOT_SUPPORTED")
    return SupportError(
        f"{payment.provider}: {exc}", code="PROVIDER_UNAVAILABLE", returncode=Exit.UNAVAILABLE
    )
