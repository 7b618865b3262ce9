"""Storing what OCPP 2.0.1 stations report on their own (charger_report_models.py)."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils.dateparse import parse_datetime

from .charger_report_models import ChargerReport, StationEvent


def _event(station_id: int, item: dict, now: datetime) -> StationEvent:
    component, variable = item["component"], item["variable"]
    evse = component.get("evse") or {}
    return StationEvent(
        station_id=station_id,
        event_id=item["eventId"],
        occurred_at=parse_datetime(item["timestamp"]),
        trigger=item["trigger"],
        notification_type=item["eventNotificationType"],
        component=component["name"][:50],
        component_instance=(component.get("instance") or "")[:50],
        evse_id=evse.get("id") or 0,
        connector_id=evse.get("connectorId") or 0,
        variable=variable["name"][:50],
        variable_instance=(variable.get("instance") or "")[:50],
        actual_value=item["actualValue"][:2500],
        cause=item.get("cause"),
        tech_code=(item.get("techCode") or "")[:50],
        tech_info=item.get("techInfo") or "",
        cleared=bool(item.get("cleared", False)),
        transaction_id=(item.get("transactionId") or "")[:36],
        monitor_id=item.get("variableMonitoringId"),
        received_at=now,
    )


@transaction.atomic
def station_events_record(*, station_id: int, events: list[dict], now: datetime) -> None:
    """Store the events of one NotifyEvent (schema-valid 2.0.1 eventData items). An event
    already stored (same id and time: a message sent again) is not stored twice."""
    rows = [_event(station_id, item, now) for item in events]
    StationEvent.objects.bulk_create(rows, ignore_conflicts=True)


def charger_report_record(
    *, station_id: int, kind: str, payload: dict, now: datetime
) -> ChargerReport:
    """Store one report message as the charger sent it (`kind`: its action)."""
    if kind not in ChargerReport.Kind.values:
        raise ValueError(f"not a charger report: {kind}")
    return ChargerReport.objects.create(
        station_id=station_id,
        kind=kind,
        request_id=payload.get("requestId"),
        seq_no=payload.get("seqNo"),
        to_be_continued=bool(payload.get("tbc", False)),
        evse_id=payload.get("evseId"),
        payload=payload,
        received_at=now,
    )
