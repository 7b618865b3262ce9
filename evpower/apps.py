"""The core as an app of its own, for the one table it owns: the security-event log."""

from __future__ import annotations

from django.apps import AppConfig


class EvPowerConfig(AppConfig):
    name = "evpower"
    label = "evpower"
    default_auto_field = "django.db.models.BigAutoField"
