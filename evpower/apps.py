"""The admin app with our own site, so every `@admin.register` / `admin.site` in the apps
lands on `EvPowerAdminSite` (two-factor login) without touching them."""

from __future__ import annotations

from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class EvPowerConfig(AppConfig):
    """The core as an app of its own, for the one table it owns: the security-event log."""

    name = "evpower"
    label = "evpower"
    default_auto_field = "django.db.models.BigAutoField"


class EvPowerAdminConfig(AdminConfig):
    default_site = "evpower.admin_site.EvPowerAdminSite"

    def ready(self) -> None:
        super().ready()
        # Here rather than in one app: the audited models span every app, and all of
        # them are loaded by now.
        from evpower.audit import register_audited_models

        register_audited_models()
