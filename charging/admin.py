"""Admin for charger transactions and meter samples: facts as the chargers reported
them, so operators read them and never edit them (corrections go through services)."""

from __future__ import annotations

from django.contrib import admin
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from ocpp.v16.enums import AuthorizationStatus, Measurand, Reason
from ocpp.v201.enums import ChargingStateEnumType, ReasonEnumType
from unfold.admin import ModelAdmin, TabularInline

from accounts.admin_scoping import OwnerScopedAdmin
from charging.transaction_models import MeterSample, OcppTransaction
from evpower.admin_csv import CsvExportMixin
from evpower.admin_filters import fixed_values_filter
from evpower.admin_readonly import ReadOnlyPermissions, latest_rows_formset

SAMPLES_SHOWN = 200


class ReadOnlyAdmin(ReadOnlyPermissions, ModelAdmin):
    pass


class MeterSampleInline(ReadOnlyPermissions, TabularInline):
    model = MeterSample
    formset = latest_rows_formset(SAMPLES_SHOWN)  # a long session has thousands
    verbose_name_plural = format_lazy(_("meter samples (newest {count})"), count=SAMPLES_SHOWN)
    ordering = ("-timestamp", "-id")
    fields = (
        "timestamp",
        "measurand",
        "phase",
        "location",
        "context",
        "value",
        "unit",
        "normalised_value",
        "normalised_unit",
    )
    extra = 0
    can_delete = False


@admin.register(OcppTransaction)
class OcppTransactionAdmin(CsvExportMixin, OwnerScopedAdmin, ReadOnlyAdmin):
    list_display = (
        "id",
        "remote_id",
        "station",
        "connector_number",
        "id_tag",
        "id_tag_status",
        "status",
        "meter_start",
        "last_meter_wh",
        "meter_stop",
        "energy_wh",
        "started_at",
        "stopped_at",
        "stop_reason",
        "charging_state",
        "offline_events",
    )
    list_select_related = ("station",)
    list_filter = (
        "status",
        fixed_values_filter("id_tag_status", AuthorizationStatus, _("id tag status")),
        # 1.6's reasons and 2.0.1's (stoppedReason), each once
        fixed_values_filter(
            "stop_reason", sorted({r.value for r in (*Reason, *ReasonEnumType)}), _("stop reason")
        ),
        fixed_values_filter("charging_state", ChargingStateEnumType, _("charging state")),
        "station",
        "station__location",
    )  # an owner's own only (admin_scoping)
    search_fields = ("=id", "=remote_id", "station__identity", "id_tag")
    search_help_text = _("Transaction id (ours or the charger's), station identity or id tag.")
    date_hierarchy = "started_at"
    csv_fields = (
        (_("id"), "id"),
        (_("station"), "station__identity"),
        (_("location"), "station__location__name"),
        (_("connector"), "connector_number"),
        (_("id tag"), "id_tag"),
        (_("id tag status"), "id_tag_status"),
        (_("status"), "status"),
        (_("started at"), "started_at"),
        (_("stopped at"), "stopped_at"),
        (_("meter start (Wh)"), "meter_start"),
        (_("last meter (Wh)"), "last_meter_wh"),
        (_("meter stop (Wh)"), "meter_stop"),
        (_("energy (Wh)"), "energy_wh"),
        (_("stop reason"), "stop_reason"),
        (_("session"), "session__id"),
    )
    readonly_fields = ("energy_wh",)
    inlines = (MeterSampleInline,)

    @admin.display(description=_("energy (Wh)"))
    def energy_wh(self, obj: OcppTransaction) -> int | None:
        return obj.energy_wh


@admin.register(MeterSample)
class MeterSampleAdmin(ReadOnlyAdmin):
    list_display = (
        "timestamp",
        "station",
        "connector_number",
        "transaction",
        "measurand",
        "phase",
        "context",
        "value",
        "unit",
        "normalised_value",
        "normalised_unit",
    )
    list_select_related = ("station", "transaction")
    list_filter = (fixed_values_filter("measurand", Measurand), "station")
    show_full_result_count = False  # the biggest table: no second COUNT(*) per page


# parked messages and the billing review queue (the session page is the cockpit's:
# cockpit/session_admin.py)
from . import admin_parked, admin_review  # noqa: E402,F401
