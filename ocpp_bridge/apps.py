from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OcppBridgeConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "ocpp_bridge"
    verbose_name = _("OCPP bridge")
