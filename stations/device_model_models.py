"""A station's device model (OCPP 2.0.1): every variable of every component it reported,
one row per attribute (Actual, Target, MinSet, MaxSet). Filled from NotifyReport (after a
GetBaseReport or GetReport) and from the answers to GetVariables / SetVariables."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from evpower.display_names import display_names


class DeviceVariable(models.Model):
    station = models.ForeignKey(
        "stations.Station", on_delete=models.CASCADE, related_name="device_variables"
    )
    component = models.CharField(max_length=50)
    component_instance = models.CharField(max_length=50, blank=True)
    # 0: the component is not on an EVSE / connector (keys stay NOT NULL, so unique)
    evse_id = models.PositiveSmallIntegerField(default=0)
    connector_id = models.PositiveSmallIntegerField(default=0)
    variable = models.CharField(max_length=50)
    variable_instance = models.CharField(max_length=50, blank=True)
    attribute_type = models.CharField(max_length=10, default="Actual")
    value = models.TextField(blank=True)  # up to 2500 characters in 2.0.1
    mutability = models.CharField(max_length=10, blank=True)
    data_type = models.CharField(max_length=20, blank=True)
    unit = models.CharField(max_length=16, blank=True)
    characteristics = models.JSONField(default=dict, blank=True)  # limits, value list...
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["station", "component", "component_instance", "variable", "attribute_type"]
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "station",
                    "component",
                    "component_instance",
                    "evse_id",
                    "connector_id",
                    "variable",
                    "variable_instance",
                    "attribute_type",
                ],
                name="uniq_device_variable",
            )
        ]

    def __str__(self) -> str:
        return f"{self.component}.{self.variable} ({self.attribute_type})"


display_names(
    DeviceVariable,
    _("device variable"),
    _("device model"),
    {
        "station": _("station"),
        "component": _("component"),
        "component_instance": _("component instance"),
        "evse_id": _("EVSE"),
        "connector_id": _("connector"),
        "variable": _("variable"),
        "variable_instance": _("variable instance"),
        "attribute_type": _("attribute"),
        "value": _("value"),
        "mutability": _("mutability"),
        "data_type": _("data type"),
        "unit": _("unit"),
        "characteristics": _("characteristics"),
        "updated_at": _("updated at"),
    },
)
