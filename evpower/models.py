"""Core records, below every app that writes them:

- the security-event log: what chargers report about their own security and what the
  platform sees (refused handshakes, forged payment callbacks);
- the alert history: every operator alert the platform decided to send (its own and
  Prometheus's through Alertmanager), with what each channel did with it.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from evpower.display_names import display_names


class SecurityEvent(models.Model):
    class Source(models.TextChoices):
        CHARGER = "charger", _("reported by the charger")
        PLATFORM = "platform", _("seen by the platform")

    station = models.ForeignKey(
        "stations.Station",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="security_events",
    )
    identity = models.CharField(max_length=48)
    source = models.CharField(max_length=10, choices=Source.choices)
    kind = models.CharField(max_length=50)
    tech_info = models.TextField(blank=True)
    remote_addr = models.CharField(max_length=64, blank=True)
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # the table kept its first name when the model moved here from ocpp_bridge
        db_table = "ocpp_bridge_securityevent"
        ordering = ["-occurred_at"]
        indexes = [
            # the burst checks (security_events.py): recent events of a kind per identity
            # and per address
            models.Index(fields=["kind", "identity", "created_at"], name="security_event_burst_id"),
            models.Index(
                fields=["kind", "remote_addr", "created_at"], name="security_event_burst_addr"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} ({self.identity})"


display_names(
    SecurityEvent,
    _("security event"),
    _("security events"),
    {
        "station": _("station"),
        "identity": _("identity"),
        "source": _("source"),
        "kind": _("kind"),
        "tech_info": _("technical info"),
        "remote_addr": _("remote address"),
        "occurred_at": _("occurred at"),
        "created_at": _("created at"),
    },
)


class Alert(models.Model):
    class Severity(models.TextChoices):
        CRITICAL = "critical", _("critical")  # money or charging stopped for many: wake someone
        HIGH = "high", _("high")  # a part is down or failing: act within the hour
        MEDIUM = "medium", _("medium")  # degraded: act today
        LOW = "low", _("low")  # worth knowing: kept here, sent nowhere by default

    class Source(models.TextChoices):
        PLATFORM = "platform", _("the platform")
        PROMETHEUS = "prometheus", _("Prometheus (Alertmanager)")
        SECURITY = "security", _("security events")

    class Outcome(models.TextChoices):
        SENT = "sent", pgettext_lazy("alert outcome", "sent")  # at least one channel took it
        FAILED = "failed", pgettext_lazy("alert outcome", "failed")  # every channel failed
        # no channel configured for its severity
        NOT_ROUTED = "not_routed", pgettext_lazy("alert outcome", "not routed")

    key = models.CharField(max_length=200)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    source = models.CharField(max_length=12, choices=Source.choices)
    subject = models.CharField(max_length=250)
    text = models.TextField(blank=True)
    outcome = models.CharField(max_length=12, choices=Outcome.choices)
    channels = models.JSONField(default=dict, blank=True)  # channel -> "sent" or the failure
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"[{self.severity}] {self.subject}"


display_names(
    Alert,
    _("alert"),
    _("alert history"),
    {
        "key": _("key"),
        "severity": _("severity"),
        "source": _("source"),
        "subject": _("subject"),
        "text": _("text"),
        "outcome": _("outcome"),
        "channels": _("channels"),
        "created_at": _("created at"),
    },
)
