"""What OCPP 2.0.1 stations report on their own, in the admin (read only): their events
(NotifyEvent) and the reports of blocks the platform does not manage yet."""

from __future__ import annotations

import json

from django.contrib import admin
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin

from accounts.admin_scoping import OwnerScopedAdmin
from evpower.admin_readonly import ReadOnlyPermissions

from .charger_report_models import ChargerReport, StationEvent


@admin.register(StationEvent)
class StationEventAdmin(OwnerScopedAdmin, ReadOnlyPermissions, ModelAdmin):
    list_display = (
        "occurred_at",
        "station",
        "component",
        "evse_id",
        "variable",
        "actual_value",
        "trigger",
        "cleared",
        "tech_code",
    )
    list_select_related = ("station",)
    list_filter = ("trigger", "notification_type", "cleared", "station")
    search_fields = ("component", "variable", "tech_code", "=transaction_id", "=station__identity")
    search_help_text = _(
        "Component, variable, technical code, or the exact transaction id (the charger's) "
        "or station identity."
    )
    date_hierarchy = "occurred_at"
    show_full_result_count = False


@admin.register(ChargerReport)
class ChargerReportAdmin(OwnerScopedAdmin, ReadOnlyPermissions, ModelAdmin):
    list_display = ("received_at", "station", "kind", "request_id", "seq_no", "to_be_continued")
    list_select_related = ("station",)
    list_filter = ("kind", "station")
    search_fields = ("=station__identity",)
    search_help_text = _("Exact station identity.")
    date_hierarchy = "received_at"
    show_full_result_count = False
    exclude = ("payload",)
    readonly_fields = ("content",)

    @admin.display(description=_("content"))
    def content(self, obj: ChargerReport):
        return format_html("<pre>{}</pre>", json.dumps(obj.payload, indent=2, ensure_ascii=False))
