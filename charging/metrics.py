"""Charging's gauge for /metrics (registered at start, charging/apps.py)."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Count
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from charging.session.models import ChargingSession
from evpower.metrics.collectors import scrape_failed


def _sessions_family() -> GaugeMetricFamily:
    return GaugeMetricFamily(
        "evpower_charging_sessions", "Charging sessions by status.", labels=["status"]
    )


class SessionsCollector(Collector):
    """One GROUP BY per scrape; a value for every status (zero included) so series do
    not vanish when a status empties."""

    def describe(self) -> Iterator[Metric]:
        yield _sessions_family()

    def collect(self) -> Iterator[Metric]:
        try:
            sessions = dict(
                ChargingSession.objects.order_by().values_list("status").annotate(n=Count("id"))
            )
        except Exception as exc:
            scrape_failed("charging sessions", exc)
            return
        family = _sessions_family()
        for status in ChargingSession.Status.values:
            family.add_metric([status], sessions.get(status, 0))
        yield family
