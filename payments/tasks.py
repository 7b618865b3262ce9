"""Celery edge for top-ups (scheduled in settings.CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from datetime import date, timedelta

from celery import shared_task
from django.utils import timezone

from . import notices, reconciliation, topups  # noqa: F401 - notices: registers its task


@shared_task(name="payments.expire")
def payments_expire_task() -> int:
    """Hourly: open payments past expiry are re-checked, then closed."""
    return topups.payments_expire()


@shared_task(name="payments.reconcile")
def reconcile_task(day: str | None = None) -> dict:
    """Daily: yesterday (UTC) for every enabled provider, or `day` (YYYY-MM-DD) to run one
    again by hand. Returns, per provider, the number of issues or the error."""
    when = (timezone.now() - timedelta(days=1)).date() if day is None else date.fromisoformat(day)
    runs = reconciliation.reconcile_all(when)
    return {
        "day": when.isoformat(),
        "providers": {
            run.provider: ({"error": run.error} if run.error else {"issues": len(run.issues)})
            for run in runs
        },
    }
