"""Admin for charger transactions and meter samples: facts as the chargers reported
them, so operators read them and never edit them (corrections go through services)."""

from __future__ import annotations

from django.contrib import admin
from ocpp.v16.enums import AuthorizationStatus, Measurand, Reason
from unfold.admin import ModelAdmin, TabularInline

from evpower.admin_filters import fixed_values_filter
from evpower.admin_readonly import ReadOnlyPermissions, latest_rows_formset
from evpower.admin_scoping import OwnerScopedAdmin

from .models import MeterSample, OcppTransaction

SAMPLES_SHOWN = 200


class ReadOnlyAdmin(ReadOnlyPermissions, ModelAdmin):
    pass


class MeterSampleInline(ReadOnlyPermissions, TabularInline):
    model = MeterSample
    formset = latest_rows_formset(SAMPLES_SHOWN)  # a long session has thousands
    verbose_name_plural = f"meter samples (newest {SAMPLES_SHOWN})"
    ordering = ("-timestamp", "-id")
    fields = ("timestamp", "measurand", "phase", "location", "context", "value", "unit",
              "normalised_value", "normalised_unit")
    extra = 0
    can_delete = False


@admin.register(OcppTransaction)
class OcppTransactionAdmin(OwnerScopedAdmin, ReadOnlyAdmin):
    list_display = ("id", "station", "connector_number", "id_tag", "id_tag_status", "status",
                    "meter_start", "last_meter_wh", "meter_stop", "energy_wh", "started_at",
                    "stopped_at", "stop_reason")
    list_select_related = ("station",)
    list_filter = ("status",
                   fixed_values_filter("id_tag_status", AuthorizationStatus, "id tag status"),
                   fixed_values_filter("stop_reason", Reason, "stop reason"))
    search_fields = ("=id", "station__identity", "id_tag")
    date_hierarchy = "started_at"
    readonly_fields = ("energy_wh",)
    inlines = (MeterSampleInline,)

    @admin.display(description="energy (Wh)")
    def energy_wh(self, obj: OcppTransaction) -> int | None:
        return obj.energy_wh


@admin.register(MeterSample)
class MeterSampleAdmin(ReadOnlyAdmin):
    list_display = ("timestamp", "station", "connector_number", "transaction", "measurand",
                    "phase", "context", "value", "unit", "normalised_value", "normalised_unit")
    list_select_related = ("station", "transaction")
    list_filter = (fixed_values_filter("measurand", Measurand), "station")
    show_full_result_count = False  # the biggest table: no second COUNT(*) per page


# sessions (list, timeline, stop/close/refund) and the billing review queue
from . import admin_review, admin_sessions  # noqa: E402,F401
