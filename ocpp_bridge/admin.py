"""Admin for the charger side's records: the message log, security events and commands
sent to chargers (read only), and parked messages, which operators resolve through
`services.parked_message_resolve`. `CommandRecordInline` is shown on the station page
(registered in stations/admin.py)."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from ocpp.v16.enums import Action
from unfold.admin import ModelAdmin, TabularInline

from evpower.admin_filters import fixed_values_filter
from evpower.admin_readonly import ReadOnlyPermissions, latest_rows_formset

from .models import CommandRecord, OcppMessage, ParkedMessage, SecurityEvent
from .services import parked_message_resolve

MESSAGE_TYPES = (("2", "CALL"), ("3", "CALLRESULT"), ("4", "CALLERROR"))


class ReadOnlyAdmin(ReadOnlyPermissions, ModelAdmin):
    """Logs and records: the message log is pruned by `manage.py purge_ocpp_log`."""


def _pretty_json(text: str):
    try:
        text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        pass  # not JSON (a malformed frame): show it as received
    return format_html('<pre style="white-space: pre-wrap">{}</pre>', text)


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
        return _pretty_json(obj.raw)


@admin.register(SecurityEvent)
class SecurityEventAdmin(ReadOnlyAdmin):
    list_display = ("occurred_at", "identity", "kind", "source", "remote_addr", "tech_info")
    list_filter = ("kind", "source")
    search_fields = ("identity", "remote_addr")
    date_hierarchy = "occurred_at"


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
        return _pretty_json(json.dumps(obj.payload))

    @admin.display(description=_("charger's answer"))
    def response_json(self, obj: CommandRecord):
        return _pretty_json(json.dumps(obj.response)) if obj.response is not None else "-"


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


class ResolvedFilter(admin.SimpleListFilter):
    title = _("resolved")
    parameter_name = "resolved"

    def lookups(self, request, model_admin):
        return (("no", _("Unresolved")), ("yes", _("Resolved")))

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(resolved_at__isnull=self.value() == "no")
        return queryset


@admin.register(ParkedMessage)
class ParkedMessageAdmin(ModelAdmin):
    list_display = (
        "received_at",
        "station",
        "action",
        "reason",
        "transaction_id",
        "detail",
        "resolved",
        "resolved_by",
    )
    list_select_related = ("station", "resolved_by")
    list_filter = (ResolvedFilter, "reason", "action", "station")
    search_fields = ("=transaction_id", "station__identity")
    date_hierarchy = "received_at"  # a small table: what an operator must look at
    actions = ("mark_resolved",)
    fields = (
        "received_at",
        "station",
        "action",
        "reason",
        "detail",
        "transaction_id",
        "payload_json",
        "resolved_at",
        "resolved_by",
        "resolution_note",
    )

    # what the charger sent is evidence: nobody edits it; resolving is the action below
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_resolve_permission(self, request) -> bool:
        return request.user.has_perm("ocpp_bridge.change_parkedmessage")

    @admin.display(description=_("resolved"), boolean=True, ordering="resolved_at")
    def resolved(self, obj: ParkedMessage) -> bool:
        return obj.resolved_at is not None

    @admin.display(description=_("payload"))
    def payload_json(self, obj: ParkedMessage):
        return _pretty_json(json.dumps(obj.payload))

    @admin.action(description=_("Mark resolved"), permissions=["resolve"])
    def mark_resolved(self, request, queryset):
        total = resolved = 0
        for message in queryset:
            total += 1
            resolved += parked_message_resolve(message=message, user=request.user)
        already = total - resolved
        messages.success(
            request,
            gettext("Marked %(count)s parked message(s) resolved.") % {"count": resolved}
            + (
                gettext(" %(already)s already were and were left as they are.")
                % {"already": already}
                if already
                else ""
            ),
        )
