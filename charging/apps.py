from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ChargingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "charging"
    verbose_name = _("Charging")

    def ready(self) -> None:
        from accounts.notifications.service import install_charger_fault_handler

        from .notices import charger_fault

        install_charger_fault_handler(charger_fault.delay)  # drivers told of a fault
