from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PaymentsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "payments"
    verbose_name = _("Payments")

    def ready(self) -> None:
        # imported here: they load models, which Django allows only once apps are ready
        from evpower.metrics.collectors import register_collector

        from .metrics import BreakerCollector, PaymentsCollector

        register_collector(PaymentsCollector())
        register_collector(BreakerCollector())  # /metrics
