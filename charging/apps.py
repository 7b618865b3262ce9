from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ChargingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "charging"
    verbose_name = _("Charging")

    def ready(self) -> None:
        # imported here: they load models, which Django allows only once apps are ready
        from accounts.notifications.service import install_charger_fault_handler
        from evpower.metrics.collectors import register_collector

        from .metrics import SessionsCollector
        from .notices import charger_fault

        install_charger_fault_handler(charger_fault.delay)  # drivers told of a fault
        register_collector(SessionsCollector())  # /metrics
