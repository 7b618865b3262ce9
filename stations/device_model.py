"""Keeping a station's device model (device_model_models.py) as the charger reports it:
NotifyReport parts (a report may come in several, `tbc`), and the answers to GetVariables
and SetVariables. A row is written once per component/variable/attribute and updated in
place, so a report sent again changes nothing but the values."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from .device_model_models import DeviceVariable


def _key(station_id: int, component: dict, variable: dict, attribute_type: str) -> dict:
    evse = component.get("evse") or {}
    return {
        "station_id": station_id,
        "component": component["name"][:50],
        "component_instance": (component.get("instance") or "")[:50],
        "evse_id": evse.get("id") or 0,
        "connector_id": evse.get("connectorId") or 0,
        "variable": variable["name"][:50],
        "variable_instance": (variable.get("instance") or "")[:50],
        "attribute_type": attribute_type or "Actual",
    }


@transaction.atomic
def device_model_record_report(*, station_id: int, report_data: list[dict], now: datetime) -> int:
    """Store one NotifyReport part; returns the rows written."""
    written = 0
    for item in report_data:
        characteristics = dict(item.get("variableCharacteristics") or {})
        for attribute in item["variableAttribute"]:
            DeviceVariable.objects.update_or_create(
                **_key(station_id, item["component"], item["variable"], attribute.get("type")),
                defaults={
                    "value": attribute.get("value", ""),
                    "mutability": attribute.get("mutability", ""),
                    "data_type": characteristics.get("dataType", ""),
                    "unit": characteristics.get("unit", ""),
                    "characteristics": characteristics,
                    "updated_at": now,
                },
            )
            written += 1
    return written


@transaction.atomic
def device_model_record_values(*, station_id: int, values: list[dict], now: datetime) -> int:
    """Values the charger confirmed (GetVariables results, accepted SetVariables):
    items of {component, variable, attributeType, value}. Returns the rows written."""
    for item in values:
        DeviceVariable.objects.update_or_create(
            **_key(station_id, item["component"], item["variable"], item.get("attributeType")),
            defaults={"value": item["value"], "updated_at": now},
        )
    return len(values)
