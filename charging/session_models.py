"""Charging sessions: what a driver (or an id tag's owner) buys, and how it was billed.

A session is the money side of a charge; the OCPP transaction (`OcppTransaction`) is the
charger's side. An app start creates the session first (PENDING, funds held) and the
charger's StartTransaction links to it; a start at the charger with an owned id tag
creates its session at that moment (origin RFID, no hold). The tariff in force at start
is frozen onto the session (`tariff`, a `stations.pricing.Quote` snapshot); the bill is
computed from it exactly once (`settled`), whatever path the session ends by.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from payments.models import MONEY
from payments.money import CURRENCY_CHOICES, DEFAULT_CURRENCY, ZERO


class ChargingSession(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"  # funds held, waiting for the charger's StartTransaction
        CHARGING = "charging"  # linked to a running OCPP transaction
        FINISHING = "finishing"  # a stop was requested and accepted; waiting for the charger
        COMPLETED = "completed"  # billed
        FAILED = "failed"  # never started (refused, no answer, offline); hold released
        CANCELLED = "cancelled"  # started but never plugged in, or stopped before that

    ACTIVE_STATUSES = (Status.PENDING, Status.CHARGING, Status.FINISHING)

    class LimitType(models.TextChoices):
        ENERGY = "energy"
        AMOUNT = "amount"
        BOTH = "both"
        NONE = "none"

    class Origin(models.TextChoices):
        APP = "app"  # started from the driver's app (RemoteStartTransaction)
        ID_TAG = "id_tag"  # started at the charger with an id tag that has an owner

    class StopReason(models.TextChoices):
        DRIVER = "driver"
        OPERATOR = "operator"
        ENERGY_LIMIT = "energy_limit"
        AMOUNT_LIMIT = "amount_limit"
        FUNDS_LIMIT = "funds_limit"  # no explicit limit: the hold ran out
        NO_PLUG_IN = "no_plug_in"
        MAX_DURATION = "max_duration"
        CHARGER = "charger"  # the charger ended it (unplugged, local stop, fault...)
        NO_STOP_REPORTED = "no_stop_reported"  # settled without the charger's StopTransaction
        START_REJECTED = "start_rejected"
        START_TIMEOUT = "start_timeout"
        STATION_OFFLINE = "station_offline"
        CONNECTOR_TAKEN = "connector_taken"  # someone else started on the connector first

    client = models.ForeignKey("accounts.Client", on_delete=models.PROTECT,
                               related_name="charging_sessions")
    station = models.ForeignKey("stations.Station", on_delete=models.PROTECT,
                                related_name="charging_sessions")
    connector = models.ForeignKey("stations.Connector", on_delete=models.PROTECT,
                                  related_name="charging_sessions")
    connector_number = models.PositiveSmallIntegerField()
    origin = models.CharField(max_length=10, choices=Origin.choices, default=Origin.APP)
    id_tag = models.CharField(max_length=20)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)

    limit_type = models.CharField(max_length=6, choices=LimitType.choices)
    limit_energy_wh = models.PositiveBigIntegerField(null=True, blank=True)
    limit_amount = models.DecimalField(**MONEY, null=True, blank=True)
    tariff = models.JSONField(help_text="the quote frozen at start (stations.pricing.Quote)")
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES, default=DEFAULT_CURRENCY)
    hold = models.OneToOneField("payments.Hold", on_delete=models.PROTECT, null=True,
                                blank=True, related_name="charging_session")
    hold_amount = models.DecimalField(**MONEY, default=ZERO)

    transaction = models.OneToOneField("charging.OcppTransaction", on_delete=models.PROTECT,
                                       null=True, blank=True, related_name="session")
    start_command_id = models.IntegerField(null=True, blank=True)
    meter_start_wh = models.BigIntegerField(null=True, blank=True)
    meter_stop_wh = models.BigIntegerField(null=True, blank=True)

    # live figures, moved by MeterValues
    energy_wh = models.BigIntegerField(default=0)
    power_w = models.IntegerField(null=True, blank=True)
    soc_percent = models.PositiveSmallIntegerField(null=True, blank=True)
    cost = models.DecimalField(**MONEY, default=ZERO, help_text="cost so far")
    meter_at = models.DateTimeField(null=True, blank=True, help_text="latest reading")
    energy_changed_at = models.DateTimeField(
        null=True, blank=True, help_text="last time the energy went up (idle time after it)")

    created_at = models.DateTimeField(auto_now_add=True)
    charging_started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    stop_requested_at = models.DateTimeField(null=True, blank=True)
    stop_requested_by = models.CharField(max_length=150, blank=True)
    stop_reason = models.CharField(max_length=20, choices=StopReason.choices, blank=True)
    failure_detail = models.CharField(max_length=300, blank=True)

    # the bill
    final_cost = models.DecimalField(**MONEY, null=True, blank=True)
    receipt = models.JSONField(null=True, blank=True, help_text="tariff lines and payment")
    settled = models.BooleanField(default=False)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        # operator actions in the admin (charging/admin_sessions.py, admin_review.py)
        permissions = [
            ("stop_chargingsession", "Can stop a charging session (RemoteStopTransaction)"),
            ("close_chargingsession",
             "Can close a charging session without the charger (bill from the last reading)"),
            ("refund_chargingsession", "Can refund (part of) what a charging session cost"),
            ("bill_unbilled_transaction",
             "Can bill a parked unbilled charger transaction to a client"),
        ]
        indexes = [
            models.Index(fields=["client", "-id"]),
            models.Index(fields=["status", "created_at"]),
            models.Index(fields=["station", "connector_number", "status"]),
        ]
        constraints = [
            # two app starts racing for one connector: the database lets one through
            models.UniqueConstraint(fields=["connector"], condition=Q(status="pending"),
                                    name="one_pending_session_per_connector"),
            models.CheckConstraint(
                name="session_energy_limit_set",
                condition=~Q(limit_type__in=["energy", "both"]) | Q(limit_energy_wh__gt=0)),
            models.CheckConstraint(
                name="session_amount_limit_set",
                condition=~Q(limit_type__in=["amount", "both"]) | Q(limit_amount__gt=0)),
            models.CheckConstraint(
                name="session_settled_when_ended",
                condition=Q(status__in=["pending", "charging", "finishing"], settled=False)
                | Q(status__in=["completed", "failed", "cancelled"], settled=True)),
        ]

    def __str__(self) -> str:
        return f"session {self.pk} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES
