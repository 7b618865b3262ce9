"""Tariffs: plans of rules, and which plan applies where.

A plan holds rules; each rule is a set of prices (per kWh, per minute of charging, a
session fee, an idle fee per minute after a grace period) and filters saying when and
for which connectors it applies. `stations.pricing.quote` picks the rule in force; the
models here only hold data and its invariants (see that module for the evaluation order).

Client-specific tariffs and promo codes are not modelled yet (they need `accounts.Client`);
`pricing.Quote.with_discount` is the hook they will use.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

ZERO = "0.00"


class Currency(models.TextChoices):
    KGS = "KGS", "KGS (som)"
    UZS = "UZS", "UZS (sum)"


def _money_field(help_text: str = "") -> models.DecimalField:
    return models.DecimalField(max_digits=12, decimal_places=2, default=ZERO,
                               validators=[MinValueValidator(0)], help_text=help_text)


class TariffPlan(models.Model):
    name = models.CharField(max_length=100, unique=True)
    currency = models.CharField(max_length=3, choices=Currency.choices, default=Currency.KGS)
    active = models.BooleanField(default=True)
    is_default = models.BooleanField(
        default=False, help_text="Applies where no plan is assigned to the station or its "
                                 "location (or where none of those plans has a matching rule).")
    valid_from = models.DateTimeField(null=True, blank=True)
    valid_to = models.DateTimeField(null=True, blank=True, help_text="Exclusive.")
    priority = models.IntegerField(
        default=0, help_text="Among plans assigned at the same level, higher wins.")
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-priority", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_from__isnull=True) | Q(valid_to__isnull=True)
                | Q(valid_to__gt=models.F("valid_from")),
                name="tariff_plan_validity_ordered"),
        ]

    def __str__(self) -> str:
        return self.name


class TariffRule(models.Model):
    class Weekday(models.IntegerChoices):
        MON = 1, "Monday"
        TUE = 2, "Tuesday"
        WED = 3, "Wednesday"
        THU = 4, "Thursday"
        FRI = 5, "Friday"
        SAT = 6, "Saturday"
        SUN = 7, "Sunday"

    plan = models.ForeignKey(TariffPlan, on_delete=models.CASCADE, related_name="rules")
    name = models.CharField(max_length=100, blank=True)
    priority = models.IntegerField(default=0, help_text="Within the plan, higher wins.")

    # prices
    price_per_kwh = _money_field()
    price_per_minute = _money_field("Per minute of charging.")
    session_fee = _money_field("Once per session.")
    idle_fee_per_minute = _money_field("Per minute plugged in without charging, after the "
                                       "grace period.")
    idle_grace_minutes = models.PositiveIntegerField(default=0)

    # filters: an empty filter matches everything
    connector_types = models.JSONField(
        default=list, blank=True, help_text='e.g. ["CCS2", "CHAdeMO"]; empty = any type')
    min_power_kw = models.DecimalField(max_digits=7, decimal_places=2, null=True, blank=True,
                                       help_text="Connector power ≥ this (inclusive).")
    max_power_kw = models.DecimalField(max_digits=7, decimal_places=2, null=True, blank=True,
                                       help_text="Connector power ≤ this (inclusive).")
    days_of_week = models.JSONField(
        default=list, blank=True,
        help_text="ISO weekdays 1 (Monday) to 7 (Sunday); empty = every day. A window that "
                  "wraps midnight belongs to the day it starts.")
    start_time = models.TimeField(null=True, blank=True,
                                  help_text="Local time at the location (inclusive).")
    end_time = models.TimeField(null=True, blank=True,
                                help_text="Local time (exclusive); before start = wraps midnight.")
    start_date = models.DateField(null=True, blank=True,
                                  help_text="Local date at the location (inclusive).")
    end_date = models.DateField(null=True, blank=True, help_text="Local date (inclusive).")

    class Meta:
        ordering = ["plan", "-priority", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(start_time__isnull=True) & Q(end_time__isnull=True))
                | (Q(start_time__isnull=False) & Q(end_time__isnull=False)
                   & ~Q(start_time=models.F("end_time"))),
                name="tariff_rule_window_complete"),
            models.CheckConstraint(
                condition=Q(min_power_kw__isnull=True) | Q(max_power_kw__isnull=True)
                | Q(max_power_kw__gte=models.F("min_power_kw")),
                name="tariff_rule_power_band_ordered"),
            models.CheckConstraint(
                condition=Q(start_date__isnull=True) | Q(end_date__isnull=True)
                | Q(end_date__gte=models.F("start_date")),
                name="tariff_rule_dates_ordered"),
        ]

    def __str__(self) -> str:
        return self.name or f"rule {self.pk} of {self.plan_id}"

    def clean(self) -> None:
        from .models import Connector

        errors: dict[str, str] = {}
        types = self.connector_types
        if not isinstance(types, list) or any(t not in Connector.Type.values for t in types):
            errors["connector_types"] = "A list of: " + ", ".join(Connector.Type.values)
        days = self.days_of_week
        if not isinstance(days, list) or any(
                not isinstance(d, int) or isinstance(d, bool) or not 1 <= d <= 7 for d in days):
            errors["days_of_week"] = "A list of weekdays 1 (Monday) to 7 (Sunday)."
        if (self.start_time is None) != (self.end_time is None):
            errors["end_time"] = "Give both ends of the time window, or neither."
        elif self.start_time is not None and self.start_time == self.end_time:
            errors["end_time"] = "The window is empty; leave both times empty for all day."
        if (self.min_power_kw is not None and self.max_power_kw is not None
                and self.max_power_kw < self.min_power_kw):
            errors["max_power_kw"] = "Below the minimum."
        if self.start_date and self.end_date and self.end_date < self.start_date:
            errors["end_date"] = "Before the start date."
        if errors:
            raise ValidationError(errors)


class TariffAssignment(models.Model):
    """A plan applied to one location (all its stations) or to one station."""

    plan = models.ForeignKey(TariffPlan, on_delete=models.CASCADE, related_name="assignments")
    location = models.ForeignKey("stations.Location", on_delete=models.CASCADE, null=True,
                                 blank=True, related_name="tariff_assignments")
    station = models.ForeignKey("stations.Station", on_delete=models.CASCADE, null=True,
                                blank=True, related_name="tariff_assignments")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(location__isnull=False) & Q(station__isnull=True))
                | (Q(location__isnull=True) & Q(station__isnull=False)),
                name="tariff_assignment_one_target"),
            models.UniqueConstraint(fields=["plan", "location"], name="uniq_plan_location",
                                    condition=Q(location__isnull=False)),
            models.UniqueConstraint(fields=["plan", "station"], name="uniq_plan_station",
                                    condition=Q(station__isnull=False)),
        ]

    def __str__(self) -> str:
        target = f"station {self.station}" if self.station_id else f"location {self.location}"
        return f"{self.plan} → {target}"

    def clean(self) -> None:
        if bool(self.location_id) == bool(self.station_id):
            raise ValidationError("Assign the plan to a location or to a station (one).")


