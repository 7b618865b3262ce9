"""Admin for the core records: the security-event log and the alert history (read only)."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin

from .admin_readonly import ReadOnlyPermissions
from .models import Alert, SecurityEvent


@admin.register(SecurityEvent)
class SecurityEventAdmin(ReadOnlyPermissions, ModelAdmin):
    list_display = ("occurred_at", "identity", "kind", "source", "remote_addr", "tech_info")
    list_filter = ("kind", "source")
    search_fields = ("identity", "remote_addr")
    date_hierarchy = "occurred_at"


@admin.register(Alert)
class AlertAdmin(ReadOnlyPermissions, ModelAdmin):
    list_display = ("created_at", "severity", "subject", "source", "outcome", "channels")
    list_filter = ("severity", "outcome", "source")
    search_fields = ("subject", "key")
    search_help_text = _("Subject or key (e.g. station-offline:12, prometheus:<fingerprint>).")
    date_hierarchy = "created_at"
    show_full_result_count = False
