"""Admin for login sessions (the client page is the cockpit's: cockpit/client_admin.py)."""

from __future__ import annotations

from django.contrib import admin
from unfold.admin import ModelAdmin

from .models import LoginSession


@admin.register(LoginSession)
class LoginSessionAdmin(ModelAdmin):
    list_display = ["id", "client", "created_at", "refreshed_at", "revoked_at", "revoke_reason"]
    list_filter = ["revoke_reason"]
    search_fields = ["client__phone"]
    list_select_related = ["client"]
    raw_id_fields = ["client"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
