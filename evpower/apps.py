"""The admin app with our own site, so every `@admin.register` / `admin.site` in the apps
lands on `EvPowerAdminSite` (two-factor login) without touching them."""

from __future__ import annotations

from django.contrib.admin.apps import AdminConfig


class EvPowerAdminConfig(AdminConfig):
    default_site = "evpower.admin_site.EvPowerAdminSite"

    def ready(self) -> None:
        super().ready()
        # Here rather than in one app: the audited models span every app, and all of
        # them are loaded by now.
        from evpower.audit import register_audited_models

        register_audited_models()
