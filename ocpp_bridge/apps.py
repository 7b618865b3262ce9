from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OcppBridgeConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "ocpp_bridge"
    verbose_name = _("OCPP bridge")

    def ready(self) -> None:
        # the domain calls chargers through the command port; this app answers it (imported
        # here: commands loads models, which Django allows only once apps are ready)
        from stations import charger_port

        from .commands import send_command

        charger_port.install_sender(send_command)
