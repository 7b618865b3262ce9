"""python manage.py reconcile_day [--day YYYY-MM-DD] [--provider CODE]"""

from __future__ import annotations

import argparse
from datetime import date, timedelta

from django.utils import timezone

from evpower.management_support import Exit, SupportCommand, SupportError
from payments.models import ReconciliationIssue
from payments.providers.base import ProviderError
from payments.reconciliation import ProviderRun, reconcile, reconcile_all


def day_arg(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a day (YYYY-MM-DD): {text!r}") from None


class Command(SupportCommand):
    help = """Reconcile one UTC day against the providers' statements and print the issues found.

The same run as the daily job: every discrepancy is recorded as a reconciliation issue for
finance (admin → Reconciliation issues); nothing is credited or changed in any wallet, and
running a day again finds the same issues (no duplicates), so it asks no confirmation.
Exit code 0 when every provider was reconciled (issues or not), 5 when a provider's
statement could not be fetched."""
    examples = ("", "--day 2026-03-14", "--day 2026-03-14 --provider odengi")
    asks_confirmation = False

    def add_arguments(self, parser):
        parser.add_argument(
            "--day",
            type=day_arg,
            default=None,
            help="the UTC day (default: yesterday, as the daily job)",
        )
        parser.add_argument(
            "--provider", default=None, help="one provider code (default: every enabled provider)"
        )

    def handle(self, *args, day: date | str | None, provider: str | None, **options):
        if isinstance(day, str):  # call_command(day="...") skips the argparse type
            try:
                day = day_arg(day)
            except argparse.ArgumentTypeError as exc:
                raise SupportError(str(exc), code="USAGE", returncode=Exit.USAGE) from None
        day = day or (timezone.now() - timedelta(days=1)).date()
        if provider:
            try:
                runs = [ProviderRun(provider, reconcile(provider, day))]
            except ProviderError as exc:  # the statement could not be fetched
                runs = [ProviderRun(provider, [], error=f"{type(exc).__name__}: {exc}")]
        else:
            runs = reconcile_all(day)
            if not runs:
                raise SupportError(
                    "no payment provider is enabled (PAYMENT_PROVIDERS)", code="NO_PROVIDER"
                )
        for run in runs:
            if run.error:
                self.warn(f"{run.provider} {day}: FAILED — {run.error}")
                continue
            self.say(f"{run.provider} {day}: {len(run.issues)} issue(s)")
            for issue in run.issues:
                self.say("  " + issue_line(issue))
        failed = [run.provider for run in runs if run.error]
        if failed:
            raise SupportError(
                f"not reconciled: {', '.join(failed)}",
                code="PROVIDER_FAILED",
                returncode=Exit.UNAVAILABLE,
            )
        total = sum(len(run.issues) for run in runs)
        (self.done if not total else self.say)(
            f"{day}: {total} issue(s) across {len(runs)} provider(s)"
        )


def issue_line(issue: ReconciliationIssue) -> str:
    parts = [f"#{issue.pk}", issue.kind]
    if issue.payment_id:
        parts.append(f"payment {issue.payment_id}")
    if issue.provider_transaction_id:
        parts.append(f"provider tx {issue.provider_transaction_id}")
    if issue.our_amount is not None or issue.their_amount is not None:
        parts.append(f"ours {issue.our_amount} / theirs {issue.their_amount}")
    if issue.resolved_at:
        parts.append("resolved")
    if issue.detail:
        parts.append(f"— {issue.detail}")
    return " ".join(parts)
