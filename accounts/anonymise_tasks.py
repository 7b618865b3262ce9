"""Celery edge for GDPR anonymisation (scheduled daily in settings.CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from celery import shared_task

from .services import accounts_anonymise_due


@shared_task(name="accounts.anonymise_due", acks_late=True)
def anonymise_due_task() -> int:
    """Daily: wipe the personal data of clients past ACCOUNT_DELETION_GRACE_DAYS, the same
    service as `manage.py anonymise_clients`. Each client is re-checked under its row lock,
    so overlapping or redelivered runs anonymise nobody twice; returns how many."""
    return len(accounts_anonymise_due())
