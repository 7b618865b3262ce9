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
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from evpower.display_names import display_names
from payments.models import MONEY
from payments.money import CURRENCY_CHOICES, DEFAULT_CURRENCY, ZERO


class ChargingSession(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")  # funds held, waiting for the charger's StartTransaction
        # linked to a running OCPP transaction
        CHARGING = "charging", pgettext_lazy("session status", "Charging")
        # a stop was requested and accepted; waiting for the charger
        FINISHING = "finishing", _("Finishing")
        COMPLETED = "completed", _("Completed")  # billed
        FAILED = "failed", _("Failed")  # never started (refused, no answer, offline); hold released
        # started but never plugged in, or stopped before that
        CANCELLED = "cancelled", _("Cancelled")

    ACTIVE_STATUSES = (Status.PENDING, Status.CHARGING, Status.FINISHING)

    class LimitType(models.TextChoices):
        ENERGY = "energy", pgettext_lazy("limit type", "Energy")
        AMOUNT = "amount", pgettext_lazy("limit type", "Amount")
        BOTH = "both", pgettext_lazy("limit type", "Both")
        NONE = "none", pgettext_lazy("limit type", "None")

    class Origin(models.TextChoices):
        # started from the driver's app (RemoteStartTransaction)
        APP = "app", pgettext_lazy("session origin", "App")
        # started at the charger with an id tag that has an owner
        ID_TAG = "id_tag", pgettext_lazy("session origin", "Id Tag")

    class StopReason(models.TextChoices):
        DRIVER = "driver", pgettext_lazy("stop reason", "Driver")
        OPERATOR = "operator", pgettext_lazy("stop reason", "Operator")
        ENERGY_LIMIT = "energy_limit", _("Energy Limit")
        AMOUNT_LIMIT = "amount_limit", _("Amount Limit")
        FUNDS_LIMIT = "funds_limit", _("Funds Limit")  # no explicit limit: the hold ran out
        NO_PLUG_IN = "no_plug_in", _("No Plug In")
        MAX_DURATION = "max_duration", _("Max Duration")
        # the charger ended it (unplugged, local stop, fault...)
        CHARGER = "charger", pgettext_lazy("stop reason", "Charger")
        # settled without the charger's StopTransaction
        NO_STOP_REPORTED = "no_stop_reported", _("No Stop Reported")
        START_REJECTED = "start_rejected", _("Start Rejected")
        START_TIMEOUT = "start_timeout", _("Start Timeout")
        STATION_OFFLINE = "station_offline", _("Station Offline")
        # connected, but the start could not reach the process holding its socket
        STATION_UNREACHABLE = "station_unreachable", _("Station Unreachable")
        # someone else started on the connector first
        CONNECTOR_TAKEN = "connector_taken", _("Connector Taken")

    client = models.ForeignKey(
        "accounts.Client", on_delete=models.PROTECT, related_name="charging_sessions"
    )
    station = models.ForeignKey(
        "stations.Station", on_delete=models.PROTECT, related_name="charging_sessions"
    )
    connector = models.ForeignKey(
        "stations.Connector", on_delete=models.PROTECT, related_name="charging_sessions"
    )
    connector_number = models.PositiveSmallIntegerField()
    origin = models.CharField(max_length=10, choices=Origin.choices, default=Origin.APP)
    id_tag = models.CharField(max_length=36)  # OCPP 2.0.1's idToken length
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)

    limit_type = models.CharField(max_length=6, choices=LimitType.choices)
    limit_energy_wh = models.PositiveBigIntegerField(null=True, blank=True)
    limit_amount = models.DecimalField(**MONEY, null=True, blank=True)
    tariff = models.JSONField(help_text=_("the quote frozen at start (stations.pricing.Quote)"))
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES, default=DEFAULT_CURRENCY)
    hold = models.OneToOneField(
        "payments.Hold",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="charging_session",
    )
    hold_amount = models.DecimalField(**MONEY, default=ZERO)

    transaction = models.OneToOneField(
        "charging.OcppTransaction",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="session",
    )
    start_command_id = models.IntegerField(null=True, blank=True)
    meter_start_wh = models.BigIntegerField(null=True, blank=True)
    meter_stop_wh = models.BigIntegerField(null=True, blank=True)

    # live figures, moved by MeterValues
    energy_wh = models.BigIntegerField(default=0)
    power_w = models.IntegerField(null=True, blank=True)
    soc_percent = models.PositiveSmallIntegerField(null=True, blank=True)
    cost = models.DecimalField(**MONEY, default=ZERO, help_text=_("cost so far"))
    meter_at = models.DateTimeField(null=True, blank=True, help_text=_("latest reading"))
    energy_changed_at = models.DateTimeField(
        null=True, blank=True, help_text=_("last time the energy went up (idle time after it)")
    )

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
    receipt = models.JSONField(null=True, blank=True, help_text=_("tariff lines and payment"))
    settled = models.BooleanField(default=False)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        # operator actions in the admin (cockpit/session_admin.py, admin_review.py)
        permissions = [
            ("stop_chargingsession", "Can stop a charging session (RemoteStopTransaction)"),
            (
                "close_chargingsession",
                "Can close a charging session without the charger (bill from the last reading)",
            ),
            ("refund_chargingsession", "Can refund (part of) what a charging session cost"),
            (
                "bill_unbilled_transaction",
                "Can bill a parked unbilled charger transaction to a client",
            ),
        ]
        indexes = [
            models.Index(fields=["client", "-id"]),
            models.Index(fields=["status", "created_at"]),
            models.Index(fields=["station", "connector_number", "status"]),
            # the admin list's date drill-down (MIN/MAX of created_at) and the dashboard's
            # energy by the day sessions ended
            models.Index(fields=["created_at"], name="session_created_at"),
            models.Index(fields=["ended_at"], name="session_ended_at"),
        ]
        constraints = [
            # two app starts racing for one connector: the database lets one through
            models.UniqueConstraint(
                fields=["connector"],
                condition=Q(status="pending"),
                name="one_pending_session_per_connector",
            ),
            models.CheckConstraint(
                name="session_energy_limit_set",
                condition=~Q(limit_type__in=["energy", "both"]) | Q(limit_energy_wh__gt=0),
            ),
            models.CheckConstraint(
                name="session_amount_limit_set",
                condition=~Q(limit_type__in=["amount", "both"]) | Q(limit_amount__gt=0),
            ),
            models.CheckConstraint(
                name="session_settled_when_ended",
                condition=Q(status__in=["pending", "charging", "finishing"], settled=False)
                | Q(status__in=["completed", "failed", "cancelled"], settled=True),
            ),
        ]

    def __str__(self) -> str:
        return f"session {self.pk} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES


# energy_wh, power_w and soc_percent keep the derived English: the driver API's schema
# shows a field's label as its title when it differs from the field name
display_names(
    ChargingSession,
    _("charging session"),
    _("charging sessions"),
    {
        "client": _("client"),
        "station": _("station"),
        "connector": _("connector"),
        "connector_number": _("connector number"),
        "origin": _("origin"),
        "id_tag": _("id tag"),
        "status": _("status"),
        "limit_type": _("limit type"),
        "limit_energy_wh": _("energy limit (Wh)"),
        "limit_amount": _("amount limit"),
        "tariff": _("tariff"),
        "currency": _("currency"),
        "hold": _("hold"),
        "hold_amount": _("hold amount"),
        "transaction": _("transaction"),
        "start_command_id": _("start command ID"),
        "meter_start_wh": _("meter start (Wh)"),
        "meter_stop_wh": _("meter stop (Wh)"),
        "energy_wh": _("energy wh"),
        "power_w": _("power w"),
        "soc_percent": _("soc percent"),
        "cost": _("cost"),
        "meter_at": _("last reading at"),
        "energy_changed_at": _("energy changed at"),
        "created_at": _("created at"),
        "charging_started_at": _("charging started at"),
        "ended_at": _("ended at"),
        "updated_at": _("updated at"),
        "stop_requested_at": _("stop requested at"),
        "stop_requested_by": _("stop requested by"),
        "stop_reason": _("stop reason"),
        "failure_detail": _("failure detail"),
        "final_cost": _("final cost"),
        "receipt": _("receipt"),
        "settled": _("settled"),
        "settled_at": _("settled at"),
    },
)
