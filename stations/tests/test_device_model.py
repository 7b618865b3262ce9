"""A station's device model kept from its reports: one row per component, variable and
attribute, updated in place when reported again."""

import pytest
from django.utils import timezone

from stations.device_model import device_model_record_report, device_model_record_values
from stations.models import DeviceVariable

pytestmark = pytest.mark.django_db

PART = {
    "component": {"name": "Connector", "instance": "left", "evse": {"id": 2, "connectorId": 1}},
    "variable": {"name": "AvailabilityState"},
    "variableAttribute": [{"type": "Actual", "value": "Available", "mutability": "ReadOnly"}],
    "variableCharacteristics": {
        "dataType": "OptionList",
        "valuesList": "Available,Occupied",
        "supportsMonitoring": True,
    },
}


def test_a_report_sent_again_updates_the_same_rows(make_station):
    station = make_station()
    assert (
        device_model_record_report(station_id=station.pk, report_data=[PART], now=timezone.now())
        == 1
    )
    again = {**PART, "variableAttribute": [{"type": "Actual", "value": "Occupied"}]}
    device_model_record_report(station_id=station.pk, report_data=[again], now=timezone.now())
    [row] = DeviceVariable.objects.filter(station=station)
    assert (row.component, row.component_instance, row.evse_id, row.connector_id) == (
        "Connector",
        "left",
        2,
        1,
    )
    assert (row.value, row.data_type) == ("Occupied", "OptionList")
    assert row.characteristics["valuesList"] == "Available,Occupied"


def test_confirmed_values_land_on_their_attribute(make_station):
    station = make_station()
    device_model_record_report(station_id=station.pk, report_data=[PART], now=timezone.now())
    device_model_record_values(
        station_id=station.pk,
        values=[{**PART, "attributeType": "Target", "value": "Unavailable"}],
        now=timezone.now(),
    )
    values = dict(
        DeviceVariable.objects.filter(station=station).values_list("attribute_type", "value")
    )
    assert values == {"Actual": "Available", "Target": "Unavailable"}
