"""The security-event log: what chargers report about their own security and what the
platform sees (refused handshakes, forged payment callbacks). Core, below every app that
writes it: the charger edge, the payment providers, the admin."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

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
