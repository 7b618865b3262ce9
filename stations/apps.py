from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class StationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "stations"
    verbose_name = _("Stations")

    def ready(self) -> None:
        from accounts.notifications import add_param_filler

        from .notices import station_place

        add_param_filler(station_place)  # pushes about a station name its place
