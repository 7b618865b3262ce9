from django.apps import AppConfig


class ChargingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "charging"
