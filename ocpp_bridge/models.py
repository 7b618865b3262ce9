"""The charger side's own records: message log, security events, parked messages."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from evpower.display_names import display_names
from stations.charger_port import CommandStatus


class OcppMessage(models.Model):
    """Every frame in and out, raw. Pruned after OCPP_MESSAGE_LOG_RETENTION_DAYS."""

    class Direction(models.TextChoices):
        IN = "in", _("charger → us")
        OUT = "out", _("us → charger")

    id = models.BigAutoField(primary_key=True)
    # no database constraint: rows are written in batches after the fact, and a batch
    # must not fail because a station was deleted meanwhile (the identity is kept anyway)
    station = models.ForeignKey(
        "stations.Station",
        on_delete=models.DO_NOTHING,
        null=True,
        blank=True,
        related_name="ocpp_messages",
        db_constraint=False,
    )
    identity = models.CharField(max_length=48)
    direction = models.CharField(max_length=3, choices=Direction.choices)
    message_type = models.PositiveSmallIntegerField(null=True, blank=True)
    message_id = models.CharField(max_length=36, blank=True)
    action = models.CharField(max_length=50, blank=True)
    error_code = models.CharField(max_length=40, blank=True)
    raw = models.TextField()
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("OCPP message")
        indexes = [models.Index(fields=["station", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.direction} {self.identity} {self.action or self.message_type}"


class CommandRecord(models.Model):
    """Every call we send a charger: who asked, what, and how it ended."""

    Status = CommandStatus  # the command port's statuses (stations/charger_port.py)

    station = models.ForeignKey(
        "stations.Station", on_delete=models.CASCADE, related_name="commands"
    )
    action = models.CharField(max_length=50)
    payload = models.JSONField(default=dict)
    requested_by = models.CharField(
        max_length=150, blank=True, help_text=_("user, task or command that asked")
    )
    message_id = models.CharField(max_length=36, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    response = models.JSONField(null=True, blank=True)
    error_code = models.CharField(max_length=40, blank=True)
    error_description = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["station", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.action} → {self.station_id}: {self.status}"


display_names(
    OcppMessage,
    _("OCPP message"),
    _("OCPP messages"),
    {
        "id": _("ID"),
        "station": _("station"),
        "identity": _("identity"),
        "direction": _("direction"),
        "message_type": _("message type"),
        "message_id": _("message ID"),
        "action": _("action"),
        "error_code": _("error code"),
        "raw": _("raw frame"),
        "created_at": _("created at"),
    },
)

display_names(
    CommandRecord,
    _("command"),
    _("commands"),
    {
        "station": _("station"),
        "action": _("action"),
        "payload": _("payload"),
        "requested_by": _("requested by"),
        "message_id": _("message ID"),
        "status": _("status"),
        "response": _("response"),
        "error_code": _("error code"),
        "error_description": _("error description"),
        "duration_ms": _("duration (ms)"),
        "created_at": _("created at"),
        "finished_at": _("finished at"),
    },
)
