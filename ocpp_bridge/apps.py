from django.apps import AppConfig


class OcppBridgeConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "ocpp_bridge"
