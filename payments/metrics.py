"""Payments' gauges for /metrics (registered at start, payments/apps.py): payments by
provider and status, and each provider's circuit breaker in this process."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Count
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from evpower.metrics.collectors import scrape_failed

from .payment_models import Payment, Provider
from .providers.http import breaker_states

BREAKER_STATES = {"closed": 0, "half-open": 1, "open": 2}


def _payments_family() -> GaugeMetricFamily:
    return GaugeMetricFamily(
        "evpower_payments", "Payments by provider and status.", labels=["provider", "status"]
    )


def _breaker_family() -> GaugeMetricFamily:
    return GaugeMetricFamily(
        "evpower_payment_circuit_breaker_state",
        "Circuit breaker per payment provider in this process: 0 closed, 1 half-open, 2 open.",
        labels=["provider"],
    )


class PaymentsCollector(Collector):
    """One GROUP BY per scrape; a value for every provider and status (zero included)."""

    def describe(self) -> Iterator[Metric]:
        yield _payments_family()

    def collect(self) -> Iterator[Metric]:
        try:
            payments = {
                (provider, status): n
                for provider, status, n in Payment.objects.order_by()
                .values_list("provider", "status")
                .annotate(n=Count("id"))
            }
        except Exception as exc:
            scrape_failed("payments", exc)
            return
        family = _payments_family()
        for provider in Provider.values:
            for status in Payment.Status.values:
                family.add_metric([provider, status], payments.get((provider, status), 0))
        yield family


class BreakerCollector(Collector):
    def describe(self) -> Iterator[Metric]:
        yield _breaker_family()

    def collect(self) -> Iterator[Metric]:
        family = _breaker_family()
        for provider, state in sorted(breaker_states().items()):
            family.add_metric([provider], BREAKER_STATES.get(state, 2))
        yield family
