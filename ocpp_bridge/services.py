"""Writes of the charger side's own records."""

from __future__ import annotations

import json
from dataclasses import asdict, is_dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import connection, transaction
from django.utils import timezone

from evpower.alerts import alert_parked_message
from evpower.metrics.registry import payment_auth_failure_observed
from stations.models import Station

from .models import CommandRecord, OcppMessage, ParkedMessage, SecurityEvent
from .protocol.secrets import SECRET_CONFIGURATION_KEYS

PAYMENT_AUTH_FAILED = "PaymentAuthFailed"  # the kind payment callbacks record

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser


def _jsonable(payload: Any) -> dict:
    """Park payloads are parsed messages (dicts or protocol dataclasses holding datetimes);
    stored as JSON with those values as text."""
    if is_dataclass(payload) and not isinstance(payload, type):
        payload = asdict(payload)
    return json.loads(json.dumps(payload, default=str))


def parked(
    *,
    station_id: int | None,
    action: str,
    reason: str,
    payload: Any,
    detail: str = "",
    transaction_id: int | None = None,
) -> ParkedMessage:
    """An unsaved parked message (batch writers save many at once)."""
    if transaction_id is not None and not -(2**31) <= transaction_id < 2**31:
        # a charger's id beyond our column's range is none of ours: kept in the detail
        detail, transaction_id = f"transactionId {transaction_id}: {detail}", None
    return ParkedMessage(
        station_id=station_id,
        action=action,
        reason=reason,
        detail=detail[:300],
        transaction_id=transaction_id,
        payload=_jsonable(payload),
    )


def park_message(**kwargs) -> ParkedMessage:
    message = parked(**kwargs)
    message.save()
    alert_parked_message(message)  # operators, after the commit, rate limited
    return message


def security_event_record(
    *,
    station_id: int | None,
    identity: str,
    kind: str,
    source: str = SecurityEvent.Source.PLATFORM,
    tech_info: str = "",
    occurred_at: datetime | None = None,
    remote_addr: str = "",
) -> SecurityEvent:
    if kind == PAYMENT_AUTH_FAILED:  # every provider's refused callback comes through here
        payment_auth_failure_observed(provider=identity[:20])
    return SecurityEvent.objects.create(
        station_id=station_id,
        identity=identity[:48],
        kind=kind[:50],
        source=source,
        tech_info=tech_info,
        remote_addr=remote_addr[:64],
        occurred_at=occurred_at or timezone.now(),
    )


LOG_COLUMNS = (
    "station_id",
    "identity",
    "direction",
    "message_type",
    "message_id",
    "action",
    "error_code",
    "raw",
    "created_at",
)


def message_log_write(rows: list[tuple]) -> None:
    """Append log rows (tuples in LOG_COLUMNS order) with one batched INSERT; building a
    model instance per frame cost more than writing it."""
    table = connection.ops.quote_name(OcppMessage._meta.db_table)
    placeholders = ", ".join(["%s"] * len(LOG_COLUMNS))
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {table} ({', '.join(LOG_COLUMNS)}) VALUES ({placeholders})",  # noqa: S608 - names from the model
            rows,
        )


def message_log_purge(*, older_than_days: int, now: datetime | None = None) -> int:
    """Delete log rows past retention, in chunks so a big backlog never holds long locks."""
    cutoff = (now or timezone.now()) - timedelta(days=older_than_days)
    total = 0
    while True:
        ids = list(
            OcppMessage.objects.filter(created_at__lt=cutoff).values_list("id", flat=True)[:5000]
        )
        if not ids:
            return total
        total += OcppMessage.objects.filter(id__in=ids).delete()[0]


@transaction.atomic
def parked_message_resolve(
    *, message: ParkedMessage, user: AbstractBaseUser | None, note: str = ""
) -> bool:
    """Mark a parked message resolved. Idempotent: one already resolved (maybe by another
    operator a moment ago) keeps its first resolution. Returns whether this call resolved it."""
    now = timezone.now()
    resolved = ParkedMessage.objects.filter(pk=message.pk, resolved_at__isnull=True).update(
        resolved_at=now, resolved_by=user, resolution_note=note[:300]
    )
    if resolved:
        message.resolved_at, message.resolved_by, message.resolution_note = now, user, note[:300]
    return bool(resolved)


def command_start(*, station, action: str, payload: dict, requested_by: str) -> CommandRecord:
    return CommandRecord.objects.create(
        station=station, action=action, payload=payload, requested_by=requested_by[:150]
    )


@transaction.atomic
def command_finish(*, record: CommandRecord, result: Any, payload: dict) -> None:
    """Record how a command ended and keep what the answer teaches us about the station."""
    record.status, record.response = result.status, result.response
    record.error_code, record.error_description = result.error_code, result.error_description
    record.duration_ms, record.finished_at = result.duration_ms, timezone.now()
    record.save()
    if result.status == CommandRecord.Status.ACCEPTED:
        _learn_configuration(record.station_id, record.action, payload, result.response or {})


def _learn_configuration(station_id: int, action: str, payload: dict, response: dict) -> None:
    if action == "GetConfiguration":
        known = {
            item["key"]: {"value": item.get("value"), "readonly": item["readonly"]}
            for item in response.get("configurationKey", [])
        }
        station = Station.objects.select_for_update().get(pk=station_id)
        if payload.get("key"):  # a partial read refreshes those keys only
            station.configuration = {**station.configuration, **known}
        else:
            station.configuration = known
        station.save(update_fields=["configuration", "updated_at"])
    elif action == "ChangeConfiguration" and payload["key"] not in SECRET_CONFIGURATION_KEYS:
        station = Station.objects.select_for_update().get(pk=station_id)
        entry = station.configuration.get(payload["key"], {"readonly": False})
        station.configuration = {
            **station.configuration,
            payload["key"]: {**entry, "value": payload["value"]},
        }
        station.save(update_fields=["configuration", "updated_at"])
