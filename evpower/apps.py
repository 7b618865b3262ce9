"""The core as an app of its own, for the tables it owns: the security-event log and the
alert history."""

from __future__ import annotations

from django.apps import AppConfig


class EvPowerConfig(AppConfig):
    name = "evpower"
    label = "evpower"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from evpower.metrics.collectors import register_collector
        from evpower.probes.metrics import ContainerMemoryCollector, HealthCollector

        register_collector(HealthCollector())  # /metrics: dependencies up, beat's last tick
        register_collector(ContainerMemoryCollector())  # and memory against the limit
