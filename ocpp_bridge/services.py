"""Writes of the charger side's own records."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import connection, transaction
from django.utils import timezone

from stations.device_model import device_model_record_values
from stations.models import Station

from .models import CommandRecord, OcppMessage
from .protocol.secrets import SECRET_CONFIGURATION_KEYS, SECRET_VARIABLES

if TYPE_CHECKING:
    pass


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
    if action in ("GetVariables", "SetVariables"):
        _learn_variables(station_id, action, payload, response)
    elif action == "GetConfiguration":
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


def _learn_variables(station_id: int, action: str, payload: dict, response: dict) -> None:
    """2.0.1: the values a charger confirmed go into its device model; a secret (the
    Basic-auth password) never does."""
    if action == "GetVariables":
        values = [
            {**item, "value": item["attributeValue"]}
            for item in response.get("getVariableResult", [])
            if item.get("attributeStatus") == "Accepted" and "attributeValue" in item
        ]
    else:
        accepted = {
            (item["component"]["name"], item["variable"]["name"], item.get("attributeType"))
            for item in response.get("setVariableResult", [])
            if item.get("attributeStatus") in ("Accepted", "RebootRequired")
        }
        values = [
            {**item, "value": item["attributeValue"]}
            for item in payload.get("setVariableData", [])
            if (item["component"]["name"], item["variable"]["name"], item.get("attributeType"))
            in accepted
            and item["variable"]["name"] not in SECRET_VARIABLES
        ]
    device_model_record_values(station_id=station_id, values=values, now=timezone.now())
