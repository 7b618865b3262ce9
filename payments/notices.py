"""The daily low-balance notices to drivers (CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.db.models import F
from django.utils import timezone

from accounts.notifications import messages
from accounts.notifications import tasks as notification_tasks
from accounts.notifications.service import notify_client
from evpower.batch import row_guard

from .models import Wallet

LOW_BALANCE_ACTIVE_HOURS = 24  # see low_balance_notices
LOW_BALANCE_ONCE_PER = timedelta(hours=20)  # the record: a cache key that lives this long


def low_balance_key(client_id: int) -> str:
    return f"{notification_tasks.CACHE_PREFIX}low-balance:{client_id}"


# the task keeps its first name: the beat schedule and its database rows know it by that
@shared_task(name="accounts.low_balance_notices")
def low_balance_notices() -> int:
    """Daily: tell drivers whose available balance is below LOW_BALANCE_THRESHOLD — those
    whose wallet moved in the last LOW_BALANCE_ACTIVE_HOURS (a driver who stopped using
    the service is not reminded every day forever) and who have a device. At most once
    per client per day: the record is a cache key (`low_balance_key`, kept
    LOW_BALANCE_ONCE_PER) claimed with cache.add, which also makes overlapping or re-run
    tasks send each notice once. Returns how many notices were queued."""
    threshold = Decimal(settings.LOW_BALANCE_THRESHOLD)
    since = timezone.now() - timedelta(hours=LOW_BALANCE_ACTIVE_HOURS)
    wallets = (
        Wallet.objects.annotate(available=F("balance") - F("held"))
        .filter(
            available__lt=threshold,
            updated_at__gte=since,
            client__status="active",
            client__devices__isnull=False,
        )
        .distinct()
        .order_by("pk")
        .values_list("client_id", "available", "currency")
    )
    sent = 0
    for client_id, available, currency in wallets.iterator(chunk_size=500):
        with row_guard("accounts.low_balance_notices", client_id):
            if not cache.add(
                low_balance_key(client_id), 1, int(LOW_BALANCE_ONCE_PER.total_seconds())
            ):
                continue
            if notify_client(
                client_id=client_id,
                event=messages.LOW_BALANCE,
                params={"balance": str(available), "currency": currency},
            ):
                sent += 1
            else:
                cache.delete(low_balance_key(client_id))  # not queued: may try again
    return sent
