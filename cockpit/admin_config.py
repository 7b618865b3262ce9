"""django.contrib.admin's app config with our site (in a module of its own: Django takes
an app's default config from `apps.py` and would find two there)."""

from __future__ import annotations

from django.contrib.admin.apps import AdminConfig


class CockpitAdminConfig(AdminConfig):
    """django.contrib.admin with our site, so every `@admin.register` / `admin.site` in the
    apps lands on `EvPowerAdminSite` (two-factor login) without the apps importing it."""

    default_site = "cockpit.site.EvPowerAdminSite"

    def ready(self) -> None:
        super().ready()
        # Here rather than in one app: the audited models span every app, and all of
        # them are loaded by now.
        from cockpit.audit import register_audited_models

        register_audited_models()
