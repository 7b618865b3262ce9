"""What OCPP 2.0.1 stations report on their own, kept for operators:

- `StationEvent`: each event of a NotifyEvent (a component's variable changed, a monitor
  tripped, a problem appeared or cleared), searchable by component and variable.
- `ChargerReport`: the reports that belong to blocks the platform does not manage yet
  (monitoring reports, charging limits and profiles, display messages, customer
  information, ISO 15118 needs and schedules, firmware publishing): each message as the
  charger sent it, with its request id and part number, so nothing a charger says is
  only in the message log.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from evpower.display_names import display_names


class StationEvent(models.Model):
    station = models.ForeignKey("stations.Station", on_delete=models.CASCADE, related_name="events")
    event_id = models.IntegerField()  # the charger's; unique per charger until it reboots
    occurred_at = models.DateTimeField()
    trigger = models.CharField(max_length=10)  # Alerting | Delta | Periodic
    notification_type = models.CharField(max_length=25)  # HardWiredMonitor, CustomMonitor...
    component = models.CharField(max_length=50)
    component_instance = models.CharField(max_length=50, blank=True)
    evse_id = models.PositiveSmallIntegerField(default=0)  # 0: not on an EVSE
    connector_id = models.PositiveSmallIntegerField(default=0)
    variable = models.CharField(max_length=50)
    variable_instance = models.CharField(max_length=50, blank=True)
    actual_value = models.CharField(max_length=2500, blank=True)
    cause = models.IntegerField(null=True, blank=True)  # the event that caused this one
    tech_code = models.CharField(max_length=50, blank=True)
    tech_info = models.TextField(blank=True)
    cleared = models.BooleanField(default=False)  # the condition has gone
    transaction_id = models.CharField(max_length=36, blank=True)  # the charger's
    monitor_id = models.IntegerField(null=True, blank=True)
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["-occurred_at", "-event_id"]
        constraints = [
            # a NotifyEvent sent twice (a retry after a lost answer) is stored once
            models.UniqueConstraint(
                fields=["station", "event_id", "occurred_at"], name="uniq_station_event"
            )
        ]
        indexes = [models.Index(fields=["station", "-occurred_at"], name="station_event_recent")]

    def __str__(self) -> str:
        return f"{self.component}.{self.variable} = {self.actual_value}"


class ChargerReport(models.Model):
    class Kind(models.TextChoices):
        MONITORING = "NotifyMonitoringReport", _("monitoring report")
        CHARGING_LIMIT = "NotifyChargingLimit", _("charging limit set")
        CHARGING_LIMIT_CLEARED = "ClearedChargingLimit", _("charging limit cleared")
        CHARGING_PROFILES = "ReportChargingProfiles", _("charging profiles")
        EV_CHARGING_NEEDS = "NotifyEVChargingNeeds", _("EV charging needs")
        EV_CHARGING_SCHEDULE = "NotifyEVChargingSchedule", _("EV charging schedule")
        DISPLAY_MESSAGES = "NotifyDisplayMessages", _("display messages")
        CUSTOMER_INFORMATION = "NotifyCustomerInformation", _("customer information")
        FIRMWARE_PUBLISHING = "PublishFirmwareStatusNotification", _("firmware publishing")

    station = models.ForeignKey(
        "stations.Station", on_delete=models.CASCADE, related_name="charger_reports"
    )
    kind = models.CharField(max_length=40, choices=Kind.choices)
    request_id = models.IntegerField(null=True, blank=True)  # the CSMS request it answers
    seq_no = models.IntegerField(null=True, blank=True)  # part number of a multi-part report
    to_be_continued = models.BooleanField(default=False)  # more parts follow
    evse_id = models.PositiveSmallIntegerField(null=True, blank=True)
    payload = models.JSONField()
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["station", "kind", "-received_at"], name="charger_report_recent")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"


display_names(
    StationEvent,
    _("station event"),
    _("station events"),
    {
        "station": _("station"),
        "event_id": _("event id"),
        "occurred_at": _("occurred at"),
        "trigger": _("trigger"),
        "notification_type": _("notification type"),
        "component": _("component"),
        "component_instance": _("component instance"),
        "evse_id": _("EVSE"),
        "connector_id": _("connector"),
        "variable": _("variable"),
        "variable_instance": _("variable instance"),
        "actual_value": _("value"),
        "cause": _("caused by event"),
        "tech_code": _("technical code"),
        "tech_info": _("technical information"),
        "cleared": _("cleared"),
        "transaction_id": _("charger's transaction ID"),
        "monitor_id": _("monitor id"),
        "received_at": _("received at"),
    },
)
display_names(
    ChargerReport,
    _("charger report"),
    _("charger reports"),
    {
        "station": _("station"),
        "kind": _("kind"),
        "request_id": _("request id"),
        "seq_no": _("part"),
        "to_be_continued": _("more parts follow"),
        "evse_id": _("EVSE"),
        "payload": _("content"),
        "received_at": _("received at"),
    },
)
