"""Reads of the charger side's own records."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from .models import OcppMessage


def message_log_purge_count(*, older_than_days: int, now: datetime | None = None) -> int:
    """How many log rows `services.message_log_purge` would delete (same cutoff)."""
    cutoff = (now or timezone.now()) - timedelta(days=older_than_days)
    return OcppMessage.objects.filter(created_at__lt=cutoff).count()
