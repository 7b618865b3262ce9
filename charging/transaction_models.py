"""OCPP transactions and their meter samples (sessions and billing build on these)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from evpower.display_names import display_names


class OcppTransaction(models.Model):
    """A charger transaction. The primary key IS the OCPP 1.6 transactionId: it comes from a
    database sequence, so it is unique across processes and never time-based. An OCPP 2.0.1
    charger names its transactions itself (`remote_id`) and reports them as numbered events
    (charging/transaction_events.py); they get a primary key all the same."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        STOPPED = "stopped", _("Stopped")

    id = models.AutoField(primary_key=True)  # 32-bit: OCPP 1.6 transactionId is an integer
    station = models.ForeignKey(
        "stations.Station", on_delete=models.PROTECT, related_name="transactions"
    )
    connector_number = models.PositiveSmallIntegerField()
    # 36: OCPP 2.0.1's idToken (1.6 id tags are up to 20)
    id_tag = models.CharField(max_length=36)
    id_tag_status = models.CharField(max_length=12)
    reservation_id = models.IntegerField(null=True, blank=True)
    meter_start = models.BigIntegerField(help_text=_("Wh"))
    started_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    last_meter_wh = models.BigIntegerField(
        null=True, blank=True, help_text=_("Latest energy register reading (Wh)")
    )
    last_meter_at = models.DateTimeField(null=True, blank=True)
    meter_stop = models.BigIntegerField(null=True, blank=True, help_text=_("Wh"))
    stopped_at = models.DateTimeField(null=True, blank=True)
    stop_reason = models.CharField(max_length=20, blank=True)
    stop_id_tag = models.CharField(max_length=36, blank=True)
    remote_id = models.CharField(
        max_length=36, blank=True, help_text=_("the charger's own transaction id (OCPP 2.0.1)")
    )
    last_seq_no = models.IntegerField(
        null=True, blank=True, help_text=_("the last event applied (OCPP 2.0.1 seqNo)")
    )
    # a 2.0.1 start without an energy register: the first register reported is the start
    meter_start_pending = models.BooleanField(default=False)
    # 2.0.1: Charging | EVConnected | SuspendedEV | SuspendedEVSE | Idle, as last reported
    charging_state = models.CharField(max_length=15, blank=True)
    # 2.0.1: events the charger queued while it was offline and sent later
    offline_events = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            # a retried StartTransaction must map onto the same transaction id
            models.UniqueConstraint(
                fields=["station", "connector_number", "id_tag", "started_at", "meter_start"],
                name="uniq_transaction_start",
            ),
            models.UniqueConstraint(
                fields=["station", "remote_id"],
                condition=~models.Q(remote_id=""),
                name="uniq_transaction_remote_id",
            ),
        ]
        indexes = [
            models.Index(fields=["station", "connector_number", "status"]),
            # the admin list's date drill-down (MIN/MAX of started_at)
            models.Index(fields=["started_at"], name="transaction_started_at"),
        ]

    def __str__(self) -> str:
        return f"tx {self.pk} on {self.station_id}#{self.connector_number}"

    @property
    def energy_wh(self) -> int | None:
        end = self.meter_stop if self.meter_stop is not None else self.last_meter_wh
        return None if end is None else end - self.meter_start


class MeterSample(models.Model):
    """One sampledValue, exactly as reported plus a normalised figure (Wh, W, var...)."""

    id = models.BigAutoField(primary_key=True)
    station = models.ForeignKey(
        "stations.Station", on_delete=models.CASCADE, related_name="meter_samples"
    )
    connector_number = models.PositiveSmallIntegerField()
    transaction = models.ForeignKey(
        OcppTransaction, on_delete=models.SET_NULL, null=True, blank=True, related_name="samples"
    )
    timestamp = models.DateTimeField()
    measurand = models.CharField(max_length=40)
    phase = models.CharField(max_length=8, blank=True)
    location = models.CharField(max_length=8, blank=True)
    context = models.CharField(max_length=30)
    format = models.CharField(max_length=12, default="Raw")
    unit = models.CharField(max_length=12, blank=True)
    value = models.TextField(help_text=_("As sent; SignedData kept raw"))
    normalised_value = models.DecimalField(max_digits=24, decimal_places=6, null=True, blank=True)
    normalised_unit = models.CharField(max_length=12, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["timestamp"]
        constraints = [
            # replays of the same reading (offline queue, retries) are stored once
            models.UniqueConstraint(
                fields=[
                    "station",
                    "connector_number",
                    "timestamp",
                    "measurand",
                    "phase",
                    "location",
                    "context",
                    "format",
                ],
                name="uniq_meter_sample",
            ),
        ]
        indexes = [models.Index(fields=["transaction", "timestamp"])]

    def __str__(self) -> str:
        return f"{self.measurand} {self.value} {self.unit} @ {self.timestamp:%Y-%m-%d %H:%M:%S}"


display_names(
    OcppTransaction,
    _("OCPP transaction"),
    _("OCPP transactions"),
    {
        "id": _("ID"),
        "station": _("station"),
        "connector_number": _("connector number"),
        "id_tag": _("id tag"),
        "id_tag_status": _("id tag status"),
        "reservation_id": _("reservation ID"),
        "meter_start": _("meter start (Wh)"),
        "started_at": _("started at"),
        "status": _("status"),
        "last_meter_wh": _("last meter reading (Wh)"),
        "last_meter_at": _("last meter reading at"),
        "meter_stop": _("meter stop (Wh)"),
        "stopped_at": _("stopped at"),
        "stop_reason": _("stop reason"),
        "stop_id_tag": _("stop id tag"),
        "remote_id": _("charger's transaction ID"),
        "last_seq_no": _("last event number"),
        "meter_start_pending": _("meter start awaited"),
        "charging_state": _("charging state"),
        "offline_events": _("events queued offline"),
        "created_at": _("created at"),
        "updated_at": _("updated at"),
    },
)

display_names(
    MeterSample,
    _("meter sample"),
    _("meter samples"),
    {
        "id": _("ID"),
        "station": _("station"),
        "connector_number": _("connector number"),
        "transaction": _("transaction"),
        "timestamp": _("timestamp"),
        "measurand": _("measurand"),
        "phase": _("phase"),
        "location": _("location"),
        "context": _("context"),
        "format": _("format"),
        "unit": _("unit"),
        "value": _("value"),
        "normalised_value": _("normalised value"),
        "normalised_unit": _("normalised unit"),
        "received_at": _("received at"),
    },
)
