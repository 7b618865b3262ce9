from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MaintenanceConfig(AppConfig):
    """The platform looking after itself: backups, retention purges, Celery beat's tables."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "maintenance"
    verbose_name = _("Maintenance")

    def ready(self) -> None:
        # imported here: beat loads models, which Django allows only once apps are ready
        from celery.signals import beat_init
        from django.db.models.signals import post_migrate

        from evpower.metrics.collectors import register_collector

        from .beat import sync_after_migrate, sync_on_beat_start
        from .metrics import MaintenanceCollector

        register_collector(MaintenanceCollector())  # /metrics: backup age, free disk

        # the code's beat schedule into django-celery-beat's tables (maintenance/beat.py)
        post_migrate.connect(
            sync_after_migrate, sender=self, dispatch_uid="maintenance.beat_schedule_sync"
        )
        beat_init.connect(sync_on_beat_start, dispatch_uid="maintenance.beat_schedule_sync")
