"""Admin for the charger side's records: the message log and the commands sent to chargers
(read only; security events are in evpower/admin.py, parked messages in
charging/admin_parked.py). `CommandRecordInline` is shown on the station page
(cockpit/station_admin.py)."""

from __future__ import annotations

import json

from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from ocpp.v16.enums import Action
from unfold.admin import ModelAdmin, TabularInline

from evpower.admin_filters import fixed_values_filter
from evpower.admin_readonly import ReadOnlyPermissions, latest_rows_formset, pretty_json

from .models import CommandRecord, OcppMessage

MESSAGE_TYPES = (("2", "CALL"), ("3", "CALLRESULT"), ("4", "CALLERROR"))


class ReadOnlyAdmin(ReadOnlyPermissions, ModelAdmin):
    """Logs and records: the message log is pruned by `manage.py purge_ocpp_log`."""


@admin.register(OcppMessage)
class OcppMessageAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "identity",
        "direction",
        "message_type",
        "action",
        "message_id",
        "error_code",
    )
    list_filter = (
        "direction",
        fixed_values_filter("action", Action),
        fixed_values_filter("message_type", MESSAGE_TYPES, "message type"),
    )
    # exact matches: a substring search would scan the whole log
    search_fields = ("=identity", "=message_id")
    search_help_text = "Exact charge point identity or message id."
    date_hierarchy = "created_at"
    show_full_result_count = False
    fields = (
        "created_at",
        "station",
        "identity",
        "direction",
        "message_type",
        "message_id",
        "action",
        "error_code",
        "frame",
    )

    @admin.display(description=_("frame"))
    def frame(self, obj: OcppMessage):
        return pretty_json(obj.raw)


@admin.register(CommandRecord)
class CommandRecordAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "station",
        "action",
        "requested_by",
        "status",
        "duration_ms",
        "error_code",
    )
    list_select_related = ("station",)
    # actions from the OCPP list: no SELECT DISTINCT over every command ever sent
    list_filter = ("status", fixed_values_filter("action", Action), "station")
    search_fields = ("station__identity", "requested_by", "=message_id")
    date_hierarchy = "created_at"
    fields = (
        "created_at",
        "finished_at",
        "station",
        "action",
        "requested_by",
        "status",
        "duration_ms",
        "error_code",
        "error_description",
        "message_id",
        "payload_json",
        "response_json",
    )

    @admin.display(description=_("payload (secrets masked)"))
    def payload_json(self, obj: CommandRecord):
        return pretty_json(json.dumps(obj.payload))

    @admin.display(description=_("charger's answer"))
    def response_json(self, obj: CommandRecord):
        return pretty_json(json.dumps(obj.response)) if obj.response is not None else "-"


INLINE_COMMANDS = 20


class CommandRecordInline(ReadOnlyPermissions, TabularInline):
    model = CommandRecord
    formset = latest_rows_formset(INLINE_COMMANDS)
    verbose_name_plural = f"latest {INLINE_COMMANDS} commands sent to the charger"
    fields = readonly_fields = (
        "created_at",
        "action",
        "requested_by",
        "status",
        "answer",
        "duration_ms",
        "error_code",
    )
    ordering = ("-created_at",)
    extra = max_num = 0
    can_delete = False
    show_change_link = True

    @admin.display(description=_("answer"))
    def answer(self, obj: CommandRecord) -> str:
        return (obj.response or {}).get("status", "") if isinstance(obj.response, dict) else ""
