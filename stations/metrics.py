"""Stations' gauge for /metrics (registered at start, stations/apps.py)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from evpower.metrics.collectors import scrape_failed

from .selectors import stations_online


def _connected_family() -> GaugeMetricFamily:
    return GaugeMetricFamily(
        "evpower_chargers_connected",
        "Stations whose socket is open and that were heard from recently.",
    )


class ConnectedCollector(Collector):
    def describe(self) -> Iterator[Metric]:
        # without this the registry would call collect() (and query) when registering
        yield _connected_family()

    def collect(self) -> Iterator[Metric]:
        try:
            connected = stations_online().count()
        except Exception as exc:
            scrape_failed("connected chargers", exc)
            return
        family = _connected_family()
        family.add_metric([], connected)
        yield family
