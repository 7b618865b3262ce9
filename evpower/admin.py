"""Admin for the security-event log (read only)."""

from __future__ import annotations

from django.contrib import admin
from unfold.admin import ModelAdmin

from .admin_readonly import ReadOnlyPermissions
from .models import SecurityEvent


@admin.register(SecurityEvent)
class SecurityEventAdmin(ReadOnlyPermissions, ModelAdmin):
    list_display = ("occurred_at", "identity", "kind", "source", "remote_addr", "tech_info")
    list_filter = ("kind", "source")
    search_fields = ("identity", "remote_addr")
    date_hierarchy = "occurred_at"
