from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class StationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "stations"
    verbose_name = _("Stations")

    def ready(self) -> None:
        # imported here: they load models, which Django allows only once apps are ready
        from accounts.notifications import add_param_filler
        from evpower.metrics.collectors import register_collector
        from evpower.probes.checks import add_detail_check

        from .metrics import ConnectedCollector
        from .notices import station_place
        from .probes import chargers

        add_param_filler(station_place)  # pushes about a station name its place
        register_collector(ConnectedCollector())  # /metrics
        add_detail_check("chargers", chargers)  # /health/detailed
