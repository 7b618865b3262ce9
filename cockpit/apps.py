"""The operator's cockpit: the admin site (two-factor login), dashboard, live view, map,
staff socket and audit registrations. The top layer: it may use every app, and no app
imports it."""

from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CockpitConfig(AppConfig):
    name = "cockpit"
    verbose_name = _("Cockpit")
    default_auto_field = "django.db.models.BigAutoField"
