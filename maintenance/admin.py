"""Backups in the admin: a read-only record of every run (taken by the daily job or
`manage.py backup_now`; nothing is added or deleted here)."""

from __future__ import annotations

from django.contrib import admin
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin

from evpower.admin_readonly import ReadOnlyPermissions

from .models import Backup


@admin.register(Backup)
class BackupAdmin(ReadOnlyPermissions, ModelAdmin):
    list_display = [
        "slot",
        "status",
        "size",
        "tables_verified",
        "restore_ok",
        "file_name",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", "trigger", "restore_ok"]
    search_fields = ["slot", "file"]
    date_hierarchy = "created_at"
    fields = [
        "slot",
        "trigger",
        "status",
        "file",
        "size",
        "sha256",
        "tables_verified",
        "attempts",
        "error",
        "created_at",
        "started_at",
        "finished_at",
        "restore_checked_at",
        "restore_ok",
        "restore_detail",
    ]
    readonly_fields = fields

    @admin.display(description=_("size"), ordering="size_bytes")
    def size(self, obj: Backup) -> str:
        return filesizeformat(obj.size_bytes) if obj.size_bytes is not None else "-"

    @admin.display(description=_("file"))
    def file_name(self, obj: Backup) -> str:
        return obj.file_name or "-"
