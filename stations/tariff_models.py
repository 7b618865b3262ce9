"""Tariffs: plans of rules, and which plan applies where.

A plan holds rules; each rule is a set of prices (per kWh, per minute of charging, a
session fee, an idle fee per minute after a grace period) and filters saying when and
for which connectors it applies. `stations.pricing.quote` picks the rule in force; the
models here only hold data and its invariants (see that module for the evaluation order).

Client-specific prices live here too: `ClientTariff` (a discount percent OR fixed rates
for one client, optionally scoped to a station or location) and `PromoCode` /
`PromoRedemption` (see `stations.promos` for redemption and how a redeemed code applies).
`pricing.quote_for_client` combines them with the plan price.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from evpower.display_names import display_names
from stations.station_models import Connector

ZERO = "0.00"


class Currency(models.TextChoices):
    KGS = "KGS", _("KGS (som)")
    UZS = "UZS", _("UZS (sum)")


def _money_field(help_text="") -> models.DecimalField:
    return models.DecimalField(
        max_digits=12,
        decimal_places=2,
        default=ZERO,
        validators=[MinValueValidator(0)],
        help_text=help_text,
    )


class TariffPlan(models.Model):
    name = models.CharField(max_length=100, unique=True)
    currency = models.CharField(max_length=3, choices=Currency.choices, default=Currency.KGS)
    active = models.BooleanField(default=True)
    is_default = models.BooleanField(
        default=False,
        help_text=_(
            "Applies where no plan is assigned to the station or its "
            "location (or where none of those plans has a matching rule)."
        ),
    )
    valid_from = models.DateTimeField(null=True, blank=True)
    valid_to = models.DateTimeField(null=True, blank=True, help_text=_("Exclusive."))
    priority = models.IntegerField(
        default=0, help_text=_("Among plans assigned at the same level, higher wins.")
    )
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-priority", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_from__isnull=True)
                | Q(valid_to__isnull=True)
                | Q(valid_to__gt=models.F("valid_from")),
                name="tariff_plan_validity_ordered",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class TariffRule(models.Model):
    class Weekday(models.IntegerChoices):
        MON = 1, _("Monday")
        TUE = 2, _("Tuesday")
        WED = 3, _("Wednesday")
        THU = 4, _("Thursday")
        FRI = 5, _("Friday")
        SAT = 6, _("Saturday")
        SUN = 7, _("Sunday")

    plan = models.ForeignKey(TariffPlan, on_delete=models.CASCADE, related_name="rules")
    name = models.CharField(max_length=100, blank=True)
    priority = models.IntegerField(default=0, help_text=_("Within the plan, higher wins."))

    # prices
    price_per_kwh = _money_field()
    price_per_minute = _money_field(_("Per minute of charging."))
    session_fee = _money_field(_("Once per session."))
    idle_fee_per_minute = _money_field(
        _("Per minute plugged in without charging, after the grace period.")
    )
    idle_grace_minutes = models.PositiveIntegerField(default=0)

    # filters: an empty filter matches everything
    connector_types = models.JSONField(
        default=list, blank=True, help_text=_('e.g. ["CCS2", "CHAdeMO"]; empty = any type')
    )
    min_power_kw = models.DecimalField(
        max_digits=7,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("Connector power ≥ this (inclusive)."),
    )
    max_power_kw = models.DecimalField(
        max_digits=7,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("Connector power ≤ this (inclusive)."),
    )
    days_of_week = models.JSONField(
        default=list,
        blank=True,
        help_text=_(
            "ISO weekdays 1 (Monday) to 7 (Sunday); empty = every day. A window that "
            "wraps midnight belongs to the day it starts."
        ),
    )
    start_time = models.TimeField(
        null=True, blank=True, help_text=_("Local time at the location (inclusive).")
    )
    end_time = models.TimeField(
        null=True, blank=True, help_text=_("Local time (exclusive); before start = wraps midnight.")
    )
    start_date = models.DateField(
        null=True, blank=True, help_text=_("Local date at the location (inclusive).")
    )
    end_date = models.DateField(null=True, blank=True, help_text=_("Local date (inclusive)."))

    class Meta:
        ordering = ["plan", "-priority", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(start_time__isnull=True) & Q(end_time__isnull=True))
                | (
                    Q(start_time__isnull=False)
                    & Q(end_time__isnull=False)
                    & ~Q(start_time=models.F("end_time"))
                ),
                name="tariff_rule_window_complete",
            ),
            models.CheckConstraint(
                condition=Q(min_power_kw__isnull=True)
                | Q(max_power_kw__isnull=True)
                | Q(max_power_kw__gte=models.F("min_power_kw")),
                name="tariff_rule_power_band_ordered",
            ),
            models.CheckConstraint(
                condition=Q(start_date__isnull=True)
                | Q(end_date__isnull=True)
                | Q(end_date__gte=models.F("start_date")),
                name="tariff_rule_dates_ordered",
            ),
        ]

    def __str__(self) -> str:
        return self.name or f"rule {self.pk} of {self.plan_id}"

    def clean(self) -> None:

        errors: dict[str, str] = {}
        types = self.connector_types
        if not isinstance(types, list) or any(t not in Connector.Type.values for t in types):
            errors["connector_types"] = _("A list of: %(types)s") % {
                "types": ", ".join(Connector.Type.values)
            }
        days = self.days_of_week
        if not isinstance(days, list) or any(
            not isinstance(d, int) or isinstance(d, bool) or not 1 <= d <= 7 for d in days
        ):
            errors["days_of_week"] = _("A list of weekdays 1 (Monday) to 7 (Sunday).")
        if (self.start_time is None) != (self.end_time is None):
            errors["end_time"] = _("Give both ends of the time window, or neither.")
        elif self.start_time is not None and self.start_time == self.end_time:
            errors["end_time"] = _("The window is empty; leave both times empty for all day.")
        if (
            self.min_power_kw is not None
            and self.max_power_kw is not None
            and self.max_power_kw < self.min_power_kw
        ):
            errors["max_power_kw"] = _("Below the minimum.")
        if self.start_date and self.end_date and self.end_date < self.start_date:
            errors["end_date"] = _("Before the start date.")
        if errors:
            raise ValidationError(errors)


class TariffAssignment(models.Model):
    """A plan applied to one location (all its stations) or to one station."""

    plan = models.ForeignKey(TariffPlan, on_delete=models.CASCADE, related_name="assignments")
    location = models.ForeignKey(
        "stations.Location",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="tariff_assignments",
    )
    station = models.ForeignKey(
        "stations.Station",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="tariff_assignments",
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(location__isnull=False) & Q(station__isnull=True))
                | (Q(location__isnull=True) & Q(station__isnull=False)),
                name="tariff_assignment_one_target",
            ),
            models.UniqueConstraint(
                fields=["plan", "location"],
                name="uniq_plan_location",
                condition=Q(location__isnull=False),
            ),
            models.UniqueConstraint(
                fields=["plan", "station"],
                name="uniq_plan_station",
                condition=Q(station__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        target = f"station {self.station}" if self.station_id else f"location {self.location}"
        return f"{self.plan} → {target}"

    def clean(self) -> None:
        if bool(self.location_id) == bool(self.station_id):
            raise ValidationError(_("Assign the plan to a location or to a station (one)."))


def _valid_window_constraint(name: str) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=Q(valid_from__isnull=True)
        | Q(valid_to__isnull=True)
        | Q(valid_to__gt=models.F("valid_from")),
        name=name,
    )


def _percent_field(**kwargs) -> models.DecimalField:
    return models.DecimalField(
        max_digits=5, decimal_places=2, validators=[MinValueValidator(0)], **kwargs
    )


class ClientTariff(models.Model):
    """A price for one client: EITHER a discount percent on the whole bill (0 < % <= 100)
    OR fixed rates (per kWh and/or per minute) that replace the plan's; the plan still
    decides session and idle fees. Optionally only at one station or one location
    (not both). Valid in [valid_from, valid_to). Precedence: `stations.pricing`."""

    client = models.ForeignKey(
        "accounts.Client", on_delete=models.CASCADE, related_name="client_tariffs"
    )
    name = models.CharField(max_length=100, blank=True, help_text=_("e.g. the contract."))
    discount_percent = _percent_field(
        null=True, blank=True, help_text=_("Discount kind: 0 < percent <= 100 off the bill.")
    )
    price_per_kwh = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text=_("Fixed kind: replaces the plan's rate."),
    )
    price_per_minute = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text=_("Fixed kind: replaces the plan's rate."),
    )
    location = models.ForeignKey(
        "stations.Location",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="client_tariffs",
        help_text=_("Only at this location (empty: everywhere)."),
    )
    station = models.ForeignKey(
        "stations.Station",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="client_tariffs",
        help_text=_("Only at this station (empty: everywhere)."),
    )
    valid_from = models.DateTimeField(null=True, blank=True)
    valid_to = models.DateTimeField(null=True, blank=True, help_text=_("Exclusive."))
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["client", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(discount_percent__isnull=False)
                    & Q(discount_percent__gt=0)
                    & Q(discount_percent__lte=100)
                    & Q(price_per_kwh__isnull=True)
                    & Q(price_per_minute__isnull=True)
                )
                | (
                    Q(discount_percent__isnull=True)
                    & (Q(price_per_kwh__isnull=False) | Q(price_per_minute__isnull=False))
                ),
                name="client_tariff_one_kind",
            ),
            models.CheckConstraint(
                condition=(Q(price_per_kwh__isnull=True) | Q(price_per_kwh__gte=0))
                & (Q(price_per_minute__isnull=True) | Q(price_per_minute__gte=0)),
                name="client_tariff_rates_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(location__isnull=True) | Q(station__isnull=True),
                name="client_tariff_one_scope",
            ),
            _valid_window_constraint("client_tariff_validity_ordered"),
        ]
        indexes = [models.Index(fields=["client", "active"], name="client_tariff_client_idx")]

    def __str__(self) -> str:
        what = (
            f"-{self.discount_percent}%"
            if self.kind == "discount"
            else f"fixed {self.price_per_kwh}/kWh {self.price_per_minute}/min"
        )
        return f"{self.name or 'tariff'} for client {self.client_id}: {what}"

    @property
    def kind(self) -> str:
        return "discount" if self.discount_percent is not None else "fixed"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        fixed = self.price_per_kwh is not None or self.price_per_minute is not None
        if self.discount_percent is not None and fixed:
            errors["discount_percent"] = _("Either a discount percent or fixed rates, not both.")
        elif self.discount_percent is None and not fixed:
            errors["discount_percent"] = _("Give a discount percent or a fixed rate.")
        elif self.discount_percent is not None and not 0 < self.discount_percent <= 100:
            errors["discount_percent"] = _("More than 0 and at most 100.")
        if self.location_id and self.station_id:
            errors["station"] = _("Scope to a station or to a location, not both.")
        if self.valid_from and self.valid_to and self.valid_to <= self.valid_from:
            errors["valid_to"] = _("Must be after valid from.")
        if errors:
            raise ValidationError(errors)


class PromoCode(models.Model):
    """A code clients redeem for a discount percent (see `stations.promos`)."""

    code = models.CharField(max_length=32, help_text=_("Case-insensitive; stored upper-case."))
    description = models.CharField(max_length=200, blank=True)
    discount_percent = _percent_field(help_text=_("0 < percent <= 100 off the bill."))
    valid_from = models.DateTimeField(
        null=True, blank=True, help_text=_("Redeemable from (and benefits start).")
    )
    valid_to = models.DateTimeField(
        null=True, blank=True, help_text=_("Exclusive. No redemption and no benefit after.")
    )
    benefit_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text=_(
            "A redemption gives the discount for this many days (never past valid to). "
            "Empty: until valid to."
        ),
    )
    max_redemptions = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("In total; empty = unlimited.")
    )
    max_per_client = models.PositiveIntegerField(default=1)
    active = models.BooleanField(
        default=True, help_text=_("Off: no new redemptions and no benefit from earlier ones.")
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(Lower("code"), name="uniq_promo_code_ci"),
            models.CheckConstraint(
                condition=Q(discount_percent__gt=0) & Q(discount_percent__lte=100),
                name="promo_code_percent_range",
            ),
            models.CheckConstraint(
                condition=Q(max_per_client__gte=1), name="promo_code_per_client_positive"
            ),
            models.CheckConstraint(
                condition=Q(max_redemptions__isnull=True) | Q(max_redemptions__gte=1),
                name="promo_code_max_positive",
            ),
            models.CheckConstraint(
                condition=Q(benefit_days__isnull=True) | Q(benefit_days__gte=1),
                name="promo_code_benefit_days_positive",
            ),
            _valid_window_constraint("promo_code_validity_ordered"),
        ]

    def __str__(self) -> str:
        return self.code

    def save(self, *args, **kwargs):
        self.code = (self.code or "").strip().upper()
        super().save(*args, **kwargs)

    def clean(self) -> None:
        self.code = (self.code or "").strip().upper()
        errors: dict[str, str] = {}
        if not self.code:
            errors["code"] = _("Required.")
        elif PromoCode.objects.filter(code__iexact=self.code).exclude(pk=self.pk).exists():
            errors["code"] = _("This code exists already (codes are case-insensitive).")
        if self.discount_percent is not None and not 0 < self.discount_percent <= 100:
            errors["discount_percent"] = _("More than 0 and at most 100.")
        if self.valid_from and self.valid_to and self.valid_to <= self.valid_from:
            errors["valid_to"] = _("Must be after valid from.")
        if errors:
            raise ValidationError(errors)


class PromoRedemption(models.Model):
    """One client's use of a code. The benefit window [redeemed_at, expires_at) is fixed
    at redemption; expires_at empty = open-ended (code without valid_to or benefit days).
    Per-client limits are counted under the code's row lock (`stations.promos`)."""

    client = models.ForeignKey(
        "accounts.Client", on_delete=models.CASCADE, related_name="promo_redemptions"
    )
    code = models.ForeignKey(PromoCode, on_delete=models.CASCADE, related_name="redemptions")
    redeemed_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-redeemed_at", "-id"]
        indexes = [models.Index(fields=["client", "code"], name="promo_redemption_client_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__isnull=True) | Q(expires_at__gt=models.F("redeemed_at")),
                name="promo_redemption_window_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} by client {self.client_id}"


display_names(
    TariffPlan,
    _("tariff plan"),
    _("tariff plans"),
    {
        "name": _("name"),
        "currency": _("currency"),
        "active": _("active"),
        "is_default": _("default"),
        "valid_from": _("valid from"),
        "valid_to": _("valid to"),
        "priority": _("priority"),
        "description": _("description"),
        "created_at": _("created at"),
        "updated_at": _("updated at"),
    },
)

display_names(
    TariffRule,
    _("tariff rule"),
    _("tariff rules"),
    {
        "plan": _("plan"),
        "name": _("name"),
        "priority": _("priority"),
        "price_per_kwh": _("price per kWh"),
        "price_per_minute": _("price per minute"),
        "session_fee": _("session fee"),
        "idle_fee_per_minute": _("idle fee per minute"),
        "idle_grace_minutes": _("idle grace period (min)"),
        "connector_types": _("connector types"),
        "min_power_kw": _("min power (kW)"),
        "max_power_kw": _("max power (kW)"),
        "days_of_week": _("days of week"),
        "start_time": _("start time"),
        "end_time": _("end time"),
        "start_date": _("start date"),
        "end_date": _("end date"),
    },
)

display_names(
    TariffAssignment,
    _("tariff assignment"),
    _("tariff assignments"),
    {
        "plan": _("plan"),
        "location": _("location"),
        "station": _("station"),
    },
)

display_names(
    ClientTariff,
    _("client tariff"),
    _("client tariffs"),
    {
        "client": _("client"),
        "name": _("name"),
        "discount_percent": _("discount (%)"),
        "price_per_kwh": _("price per kWh"),
        "price_per_minute": _("price per minute"),
        "location": _("location"),
        "station": _("station"),
        "valid_from": _("valid from"),
        "valid_to": _("valid to"),
        "active": _("active"),
        "created_at": _("created at"),
    },
)

display_names(
    PromoCode,
    _("promo code"),
    _("promo codes"),
    {
        "code": _("code"),
        "description": _("description"),
        "discount_percent": _("discount (%)"),
        "valid_from": _("valid from"),
        "valid_to": _("valid to"),
        "benefit_days": _("benefit days"),
        "max_redemptions": _("max redemptions"),
        "max_per_client": _("max per client"),
        "active": _("active"),
        "created_at": _("created at"),
    },
)

display_names(
    PromoRedemption,
    _("promo redemption"),
    _("promo redemptions"),
    {
        "client": _("client"),
        "code": _("code"),
        "redeemed_at": _("redeemed at"),
        "expires_at": _("expires at"),
    },
)
