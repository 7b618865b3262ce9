"""Retention: what the daily purge deletes, and after how long (settings.RETENTION_DAYS).

| kind              | rows                                   | age from          |
|-------------------|----------------------------------------|-------------------|
| meter_samples     | charging.MeterSample                   | received_at       |
| ocpp_messages     | ocpp_bridge.OcppMessage (frame log)    | created_at        |
| idempotency_keys  | payments.IdempotencyKey                | created_at        |
| otp_codes         | accounts.OtpCode                       | created_at        |
| command_records   | ocpp_bridge.CommandRecord              | created_at        |
| station_events    | stations.StationEvent (NotifyEvent)    | received_at       |
| charger_reports   | stations.ChargerReport                 | received_at       |

Never the ledger, payments, sessions or charger transactions: those are the books.

- Meter samples are aged by when we received them (a charger's clock can be years off).
  Samples of a transaction that may still be billed are kept whatever their age: its
  session is not settled (running, or stopping), or an operator has not yet decided a
  parked message about it (the billing review queue may bill it). A transaction whose
  session is settled is done with, even if the charger never reported its stop.
- Idempotency keys go through `payments.idempotency.idempotency_keys_purge`, never
  before IDEMPOTENCY_KEY_TTL (a retried request must get its first answer back while the
  key lives); a longer RETENTION_DAYS keeps them longer.
- OTP codes are kept at least two days: they double as the 24-hour rate-limit ledger
  (accounts/otp.py).
- Deletes go in batches of BATCH ids, each its own short statement and transaction, so a
  large backlog never holds long locks and an interrupted run keeps what it did; running
  twice (or two at once) deletes nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from accounts.models import OtpCode
from accounts.otp import DAY
from charging.models import MeterSample, OcppTransaction
from charging.parked_models import ParkedMessage
from charging.session.models import ChargingSession
from ocpp_bridge.models import CommandRecord, OcppMessage
from payments.idempotency import idempotency_keys_purge, key_ttl
from payments.models import IdempotencyKey
from stations.models import ChargerReport, StationEvent

log = logging.getLogger("maintenance")

BATCH = 5000  # ids per DELETE statement
KINDS = (
    "meter_samples",
    "ocpp_messages",
    "idempotency_keys",
    "otp_codes",
    "command_records",
    "station_events",
    "charger_reports",
)
OTP_MIN_AGE = 2 * DAY  # the OTP rate limits look back one day

Progress = Callable[[str, int], None]  # (kind, rows deleted by the last batch)


def retention_days(kind: str) -> int:
    days = settings.RETENTION_DAYS[kind]
    if days < 1:
        raise ValueError(f"RETENTION_DAYS[{kind!r}] must be at least 1 (is {days})")
    return days


def cutoff(kind: str, now: datetime) -> datetime:
    """Rows of `kind` older than this are deleted."""
    age = timedelta(days=retention_days(kind))
    if kind == "idempotency_keys":
        age = max(age, key_ttl())
    elif kind == "otp_codes":
        age = max(age, OTP_MIN_AGE)
    return now - age


def purgeable(kind: str, now: datetime) -> models.QuerySet:
    """The rows the purge would delete now."""
    before = cutoff(kind, now)
    if kind == "meter_samples":
        return MeterSample.objects.filter(received_at__lt=before).exclude(
            transaction_id__in=_transactions_still_billable()
        )
    if kind == "ocpp_messages":
        return OcppMessage.objects.filter(created_at__lt=before)
    if kind == "idempotency_keys":
        return IdempotencyKey.objects.filter(created_at__lte=before)  # as idempotency_keys_purge
    if kind == "otp_codes":
        return OtpCode.objects.filter(created_at__lt=before)
    if kind == "command_records":
        return CommandRecord.objects.filter(created_at__lt=before)
    if kind == "station_events":  # received: a charger's clock can be years off
        return StationEvent.objects.filter(received_at__lt=before)
    if kind == "charger_reports":
        return ChargerReport.objects.filter(received_at__lt=before)
    raise ValueError(f"unknown retention kind {kind!r}")


def _transactions_still_billable() -> models.QuerySet:
    """Ids of charger transactions whose samples must stay (see the module docstring)."""
    unsettled = ChargingSession.objects.filter(settled=False, transaction__isnull=False)
    under_review = ParkedMessage.objects.filter(
        resolved_at__isnull=True, transaction_id__isnull=False
    )
    return OcppTransaction.objects.filter(
        models.Q(pk__in=unsettled.values("transaction_id"))
        | models.Q(pk__in=under_review.values("transaction_id"))
    ).values("pk")


@dataclass(frozen=True)
class PurgeResult:
    counts: dict[str, int]  # kind -> rows (deleted, or that would be deleted on a dry run)
    dry_run: bool = False

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def retention_counts(now: datetime | None = None) -> PurgeResult:
    """What a purge would delete now (a dry run)."""
    now = now or timezone.now()
    return PurgeResult({kind: purgeable(kind, now).count() for kind in KINDS}, dry_run=True)


def retention_purge(
    now: datetime | None = None, *, kinds: tuple[str, ...] = KINDS, progress: Progress | None = None
) -> PurgeResult:
    """Delete every kind's rows past retention; returns the counts deleted."""
    now = now or timezone.now()
    counts = {}
    for kind in kinds:
        if kind == "idempotency_keys":
            counts[kind] = _purge_idempotency_keys(now)
            if progress:
                progress(kind, counts[kind])
        else:
            counts[kind] = _delete_in_batches(kind, purgeable(kind, now), progress)
    result = PurgeResult(counts)
    log.info("retention purge: %s", ", ".join(f"{k} {n}" for k, n in counts.items()))
    return result


def _purge_idempotency_keys(now: datetime) -> int:
    """Through the idempotency module's own purge (one definition of an expired key): its
    cutoff is `now - IDEMPOTENCY_KEY_TTL`, so it is handed the moment that makes that
    cutoff ours."""
    return idempotency_keys_purge(now=cutoff("idempotency_keys", now) + key_ttl())


def _delete_in_batches(kind: str, queryset: models.QuerySet, progress: Progress | None) -> int:
    model = queryset.model
    label = model._meta.label
    total, after = 0, None
    while True:
        batch = queryset if after is None else queryset.filter(pk__gt=after)
        ids = list(batch.order_by("pk").values_list("pk", flat=True)[:BATCH])
        if not ids:
            return total
        after = ids[-1]  # never read the same rows twice, whatever the delete found
        with transaction.atomic():
            # the ids are re-checked against the same conditions: a row that stopped
            # qualifying since the read (a sample whose transaction was just parked) stays
            _, by_model = queryset.filter(pk__in=ids).delete()
        deleted = by_model.get(label, 0)
        total += deleted
        if progress:
            progress(kind, deleted)
