"""Operators' admin for tariff plans (rules inline), where plans apply, client tariffs and
promo codes (with their redemption counts)."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin, StackedInline, TabularInline

from accounts.admin_scoping import OwnerScopedAdmin
from stations.station_models import Connector

from .tariff_models import (
    ClientTariff,
    PromoCode,
    PromoRedemption,
    TariffAssignment,
    TariffPlan,
    TariffRule,
)


class TariffRuleForm(forms.ModelForm):
    connector_types = forms.MultipleChoiceField(
        choices=Connector.Type.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: any type."),
    )
    days_of_week = forms.TypedMultipleChoiceField(
        choices=TariffRule.Weekday.choices,
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every day. A window wrapping midnight belongs to the day it "
        "starts.",
    )

    class Meta:
        model = TariffRule
        fields = (
            "name",
            "priority",
            "price_per_kwh",
            "price_per_minute",
            "session_fee",
            "idle_fee_per_minute",
            "idle_grace_minutes",
            "connector_types",
            "min_power_kw",
            "max_power_kw",
            "days_of_week",
            "start_time",
            "end_time",
            "start_date",
            "end_date",
        )


class TariffRuleInline(StackedInline):
    model = TariffRule
    form = TariffRuleForm
    extra = 0
    fieldsets = (
        (None, {"fields": (("name", "priority"),)}),
        (
            _("Prices"),
            {
                "fields": (
                    ("price_per_kwh", "price_per_minute", "session_fee"),
                    ("idle_fee_per_minute", "idle_grace_minutes"),
                )
            },
        ),
        (_("Applies to"), {"fields": ("connector_types", ("min_power_kw", "max_power_kw"))}),
        (
            _("When (location's local time)"),
            {"fields": ("days_of_week", ("start_time", "end_time"), ("start_date", "end_date"))},
        ),
    )


class TariffAssignmentInline(OwnerScopedAdmin, TabularInline):
    model = TariffAssignment
    extra = 0
    autocomplete_fields = ("location", "station")


@admin.register(TariffPlan)
class TariffPlanAdmin(ModelAdmin):
    list_display = (
        "name",
        "currency",
        "active",
        "is_default",
        "priority",
        "valid_from",
        "valid_to",
        "rule_count",
        "assignment_count",
    )
    list_filter = ("active", "is_default", "currency")
    search_fields = ("name",)
    inlines = (TariffRuleInline, TariffAssignmentInline)

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                rule_count=Count("rules", distinct=True),
                assignment_count=Count("assignments", distinct=True),
            )
        )

    @admin.display(description=_("rules"), ordering="rule_count")
    def rule_count(self, obj: TariffPlan) -> int:
        return obj.rule_count

    @admin.display(description=_("assigned to"), ordering="assignment_count")
    def assignment_count(self, obj: TariffPlan) -> int:
        return obj.assignment_count


@admin.register(TariffAssignment)
class TariffAssignmentAdmin(OwnerScopedAdmin, ModelAdmin):
    list_display = ("plan", "location", "station")
    list_select_related = ("plan", "location", "station")
    list_filter = ("plan",)
    search_fields = ("plan__name", "location__name", "station__identity")
    autocomplete_fields = ("plan", "location", "station")


@admin.register(ClientTariff)
class ClientTariffAdmin(ModelAdmin):
    list_display = (
        "client",
        "name",
        "kind",
        "discount_percent",
        "price_per_kwh",
        "price_per_minute",
        "station",
        "location",
        "active",
        "valid_from",
        "valid_to",
    )
    list_select_related = ("client", "station", "location")
    list_filter = ("active",)
    search_fields = ("client__phone", "client__name", "name")
    autocomplete_fields = ("client", "location", "station")
    fieldsets = (
        (None, {"fields": ("client", "name", "active")}),
        (
            _("Price: a discount OR fixed rates"),
            {
                "fields": ("discount_percent", ("price_per_kwh", "price_per_minute")),
                "description": "Fixed rates replace the plan's; session and idle fees stay the "
                "plan's. The biggest discount (client tariff or promo) applies.",
            },
        ),
        (
            _("Where and when (empty: everywhere, always)"),
            {"fields": (("station", "location"), ("valid_from", "valid_to"))},
        ),
    )

    @admin.display(description=_("kind"))
    def kind(self, obj: ClientTariff) -> str:
        return obj.kind


class PromoRedemptionInline(TabularInline):
    model = PromoRedemption
    extra = 0
    fields = ("client", "redeemed_at", "expires_at")
    readonly_fields = fields
    can_delete = True  # deleting a redemption ends its benefit (and frees a use)
    show_change_link = False
    ordering = ("-redeemed_at",)

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # redemptions are made by clients (stations.promos.promo_redeem)


@admin.register(PromoCode)
class PromoCodeAdmin(ModelAdmin):
    list_display = (
        "code",
        "discount_percent",
        "active",
        "valid_from",
        "valid_to",
        "benefit_days",
        "redemption_count",
        "max_redemptions",
        "max_per_client",
    )
    list_filter = ("active",)
    search_fields = ("code", "description")
    inlines = (PromoRedemptionInline,)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(redemption_count=Count("redemptions"))

    @admin.display(description=_("redeemed"), ordering="redemption_count")
    def redemption_count(self, obj: PromoCode) -> int:
        return obj.redemption_count


@admin.register(PromoRedemption)
class PromoRedemptionAdmin(ModelAdmin):
    list_display = ("code", "client", "redeemed_at", "expires_at", "in_force")
    list_select_related = ("code", "client")
    list_filter = ("code",)
    search_fields = ("code__code", "client__phone")
    readonly_fields = ("code", "client", "redeemed_at", "expires_at")

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(boolean=True, description=_("in force"))
    def in_force(self, obj: PromoRedemption) -> bool:
        now = timezone.now()
        return (
            obj.code.active
            and obj.redeemed_at <= now
            and (obj.expires_at is None or now < obj.expires_at)
        )
