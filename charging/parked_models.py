"""Charger messages about transactions and meters that were answered normally but could
not be applied cleanly: an operator decides (charging/parked.py writes them; the billing
review queue in review_models.py is the part of them about money)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from evpower.display_names import display_names


class ParkedMessage(models.Model):
    """A charger message we answered normally but could not apply cleanly: an operator
    decides. Chargers drop messages answered with an error, so we never refuse these."""

    class Reason(models.TextChoices):
        UNKNOWN_TRANSACTION = "unknown_transaction", _("Unknown Transaction")
        ALREADY_STOPPED = "already_stopped", _("Already Stopped")
        STOP_BEFORE_START = "stop_before_start", _("Stop Before Start")
        METER_BACKWARDS = "meter_backwards", _("Meter Backwards")
        FUTURE_TIMESTAMP = "future_timestamp", _("Future Timestamp")
        SUPERSEDED_TRANSACTION = "superseded_transaction", _("Superseded Transaction")
        ID_TAG_NOT_ACCEPTED = "id_tag_not_accepted", _("Id Tag Not Accepted")
        # a start on a connector another driver had reserved, or naming a reservation
        # we cannot honour (see stations/reservations.py)
        RESERVATION_CONFLICT = "reservation_conflict", _("Reservation Conflict")
        # billing: a transaction nobody can be billed for (id tag without an owner, no
        # tariff), or a StopTransaction that disagrees with a session already billed
        UNBILLED_TRANSACTION = "unbilled_transaction", _("Unbilled Transaction")
        STOP_AFTER_SETTLEMENT = "stop_after_settlement", _("Stop After Settlement")
        # billing: a register no charger could reach in the time (charging/plausibility.py);
        # the session was billed up to its last plausible reading
        IMPLAUSIBLE_METER = "implausible_meter", _("Implausible Meter Reading")
        # a sampled value too large to store as a number: kept as sent, parked
        VALUE_OUT_OF_RANGE = "value_out_of_range", _("Value Out Of Range")

    station = models.ForeignKey(
        "stations.Station",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="parked_messages",
    )
    action = models.CharField(max_length=50)
    reason = models.CharField(max_length=30, choices=Reason.choices)
    detail = models.CharField(max_length=300, blank=True)
    transaction_id = models.IntegerField(null=True, blank=True)
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    resolution_note = models.CharField(max_length=300, blank=True)

    class Meta:
        # the table kept its first name when the model moved here from ocpp_bridge
        db_table = "ocpp_bridge_parkedmessage"
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.action}: {self.reason}"


display_names(
    ParkedMessage,
    _("parked message"),
    _("parked messages"),
    {
        "station": _("station"),
        "action": _("action"),
        "reason": _("reason"),
        "detail": _("detail"),
        "transaction_id": _("transaction ID"),
        "payload": _("payload"),
        "received_at": _("received at"),
        "resolved_at": _("resolved at"),
        "resolved_by": _("resolved by"),
        "resolution_note": _("resolution note"),
    },
)
