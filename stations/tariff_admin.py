"""Operators' admin for tariff plans (rules inline), and where plans apply."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db.models import Count

from .models import Connector
from .tariff_models import TariffAssignment, TariffPlan, TariffRule


class TariffRuleForm(forms.ModelForm):
    connector_types = forms.MultipleChoiceField(
        choices=Connector.Type.choices, required=False, widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: any type.")
    days_of_week = forms.TypedMultipleChoiceField(
        choices=TariffRule.Weekday.choices, coerce=int, required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every day. A window wrapping midnight belongs to the day it "
                  "starts.")

    class Meta:
        model = TariffRule
        fields = ("name", "priority", "price_per_kwh", "price_per_minute", "session_fee",
                  "idle_fee_per_minute", "idle_grace_minutes", "connector_types",
                  "min_power_kw", "max_power_kw", "days_of_week", "start_time", "end_time",
                  "start_date", "end_date")


class TariffRuleInline(admin.StackedInline):
    model = TariffRule
    form = TariffRuleForm
    extra = 0
    fieldsets = (
        (None, {"fields": (("name", "priority"),)}),
        ("Prices", {"fields": (("price_per_kwh", "price_per_minute", "session_fee"),
                               ("idle_fee_per_minute", "idle_grace_minutes"))}),
        ("Applies to", {"fields": ("connector_types", ("min_power_kw", "max_power_kw"))}),
        ("When (location's local time)", {"fields": ("days_of_week",
                                                      ("start_time", "end_time"),
                                                      ("start_date", "end_date"))}),
    )


class TariffAssignmentInline(admin.TabularInline):
    model = TariffAssignment
    extra = 0
    autocomplete_fields = ("location", "station")


@admin.register(TariffPlan)
class TariffPlanAdmin(admin.ModelAdmin):
    list_display = ("name", "currency", "active", "is_default", "priority", "valid_from",
                    "valid_to", "rule_count", "assignment_count")
    list_filter = ("active", "is_default", "currency")
    search_fields = ("name",)
    inlines = (TariffRuleInline, TariffAssignmentInline)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            rule_count=Count("rules", distinct=True),
            assignment_count=Count("assignments", distinct=True))

    @admin.display(description="rules", ordering="rule_count")
    def rule_count(self, obj: TariffPlan) -> int:
        return obj.rule_count

    @admin.display(description="assigned to", ordering="assignment_count")
    def assignment_count(self, obj: TariffPlan) -> int:
        return obj.assignment_count


@admin.register(TariffAssignment)
class TariffAssignmentAdmin(admin.ModelAdmin):
    list_display = ("plan", "location", "station")
    list_select_related = ("plan", "location", "station")
    list_filter = ("plan",)
    search_fields = ("plan__name", "location__name", "station__identity")
    autocomplete_fields = ("plan", "location", "station")
