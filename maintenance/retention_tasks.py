"""Celery edge for the retention purge (scheduled daily in settings.CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from celery import shared_task

from . import retention


@shared_task(
    name="maintenance.retention_purge", acks_late=True, soft_time_limit=1500, time_limit=1800
)
def retention_purge_task() -> dict:
    """Daily: delete what is past settings.RETENTION_DAYS (maintenance/retention.py).
    Batches commit as they go, so a run cut short (time limit, lost worker) keeps its work
    and the next run (or the redelivery) carries on; returns the counts deleted."""
    return retention.retention_purge().counts
