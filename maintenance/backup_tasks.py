"""Celery edge for backups (scheduled daily in settings.CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from . import backups


@shared_task(
    name="maintenance.backup",
    acks_late=True,
    time_limit=settings.BACKUP_TIME_LIMIT,
    soft_time_limit=max(settings.BACKUP_TIME_LIMIT - 60, 60),
)
def backup_task(slot: str | None = None) -> dict:
    """Daily: today's (UTC) backup, taken once however often the task is delivered, then
    pruned and, when BACKUP_RESTORE_CHECK_DAILY, restore-checked. `slot` names another run
    (e.g. "daily:2026-11-22" again by hand)."""
    return backups.backup_scheduled(slot=slot)
