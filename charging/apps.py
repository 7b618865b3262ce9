from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ChargingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "charging"
    verbose_name = _("Charging")
