"""Admin for parked messages: operators read what the charger sent and resolve it through
`parked.parked_message_resolve`; nobody edits the evidence."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin

from evpower.admin_readonly import pretty_json

from .parked import parked_message_resolve
from .parked_models import ParkedMessage


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
        return request.user.has_perm("charging.change_parkedmessage")

    @admin.display(description=_("resolved"), boolean=True, ordering="resolved_at")
    def resolved(self, obj: ParkedMessage) -> bool:
        return obj.resolved_at is not None

    @admin.display(description=_("payload"))
    def payload_json(self, obj: ParkedMessage):
        return pretty_json(json.dumps(obj.payload))

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
