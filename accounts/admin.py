"""Staff view of drivers. Status changes go through services so sessions are revoked too."""

from __future__ import annotations

from django.contrib import admin, messages
from unfold.admin import ModelAdmin, TabularInline

from . import services
from .errors import ApiError
from .models import Client, Device, LoginSession


class ReadOnlyInline(TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class LoginSessionInline(ReadOnlyInline):
    model = LoginSession
    fields = ["id", "created_at", "refreshed_at", "expires_at", "revoked_at", "revoke_reason",
              "ip", "user_agent"]
    readonly_fields = fields
    ordering = ["-created_at"]


class DeviceInline(ReadOnlyInline):
    model = Device
    fields = ["kind", "token", "created_at", "updated_at"]
    readonly_fields = fields


@admin.register(Client)
class ClientAdmin(ModelAdmin):
    list_display = ["phone", "name", "email", "language", "status", "created_at"]
    list_filter = ["status", "language"]
    search_fields = ["phone", "name", "email"]
    # status only changes through the actions below (they also revoke sessions)
    readonly_fields = ["phone", "status", "deletion_requested_at", "anonymised_at", "created_at"]
    fields = ["phone", "name", "email", "language", *readonly_fields[1:]]
    inlines = [LoginSessionInline, DeviceInline]
    actions = ["block", "unblock"]

    def has_add_permission(self, request) -> bool:
        return False  # clients sign up themselves by phone

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # deletion is anonymisation (the ledger keeps the row)

    @admin.action(description="Block (logs the client out everywhere)",
                  permissions=["change"])
    def block(self, request, queryset):
        self._apply(request, queryset, services.client_block, "blocked")

    @admin.action(description="Unblock / restore (also cancels a pending deletion)",
                  permissions=["change"])
    def unblock(self, request, queryset):
        self._apply(request, queryset, services.client_unblock, "unblocked")

    def _apply(self, request, queryset, service, verb: str) -> None:
        done = 0
        for client_id in queryset.values_list("pk", flat=True):
            try:
                service(client_id=client_id, by=request.user.get_username())
                done += 1
            except ApiError as exc:
                self.message_user(request, f"client {client_id}: {exc.code}", messages.WARNING)
        self.message_user(request, f"{done} client(s) {verb}.")


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
