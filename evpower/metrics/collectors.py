"""Values read at scrape time and registered once in the default registry (on import).

The database gauges are cluster-wide truth, so every web process reports the same figure:
aggregate them with max(), not sum(). The same holds for the Celery task counts, which
come from the shared cache.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator

from django.db.models import Count
from prometheus_client import REGISTRY
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .celery_tasks import OUTCOMES, counter_key

log = logging.getLogger("evpower.metrics")

BREAKER_STATES = {"closed": 0, "half-open": 1, "open": 2}


def _connected_family() -> GaugeMetricFamily:
    return GaugeMetricFamily(
        "evpower_chargers_connected",
        "Stations whose socket is open and that were heard from recently.",
    )


def _sessions_family() -> GaugeMetricFamily:
    return GaugeMetricFamily(
        "evpower_charging_sessions", "Charging sessions by status.", labels=["status"]
    )


def _payments_family() -> GaugeMetricFamily:
    return GaugeMetricFamily(
        "evpower_payments", "Payments by provider and status.", labels=["provider", "status"]
    )


class DatabaseCollector(Collector):
    """A few GROUP BY queries per scrape; each family keeps a value for every choice
    (zero included) so series do not vanish when a status empties."""

    def describe(self) -> Iterator[Metric]:
        # without this the registry would call collect() (and query) when registering
        yield from (_connected_family(), _sessions_family(), _payments_family())

    def collect(self) -> Iterator[Metric]:
        from charging.session_models import ChargingSession
        from payments.payment_models import Payment, Provider
        from stations.selectors import stations_online

        try:
            connected = stations_online().count()
            sessions = dict(
                ChargingSession.objects.order_by().values_list("status").annotate(n=Count("id"))
            )
            payments = {
                (provider, status): n
                for provider, status, n in Payment.objects.order_by()
                .values_list("provider", "status")
                .annotate(n=Count("id"))
            }
        except Exception as exc:  # the rest of /metrics must still come through
            log.warning("metrics: database gauges unavailable: %s", exc)
            return
        family = _connected_family()
        family.add_metric([], connected)
        yield family
        family = _sessions_family()
        for status in ChargingSession.Status.values:
            family.add_metric([status], sessions.get(status, 0))
        yield family
        family = _payments_family()
        for provider in Provider.values:
            for status in Payment.Status.values:
                family.add_metric([provider, status], payments.get((provider, status), 0))
        yield family


def _breaker_family() -> GaugeMetricFamily:
    return GaugeMetricFamily(
        "evpower_payment_circuit_breaker_state",
        "Circuit breaker per payment provider in this process: 0 closed, 1 half-open, 2 open.",
        labels=["provider"],
    )


class BreakerCollector(Collector):
    def describe(self) -> Iterator[Metric]:
        yield _breaker_family()

    def collect(self) -> Iterator[Metric]:
        from payments.providers.http import breaker_states

        family = _breaker_family()
        for provider, state in sorted(breaker_states().items()):
            family.add_metric([provider], BREAKER_STATES.get(state, 2))
        yield family


def _tasks_family() -> CounterMetricFamily:
    return CounterMetricFamily(
        "evpower_celery_tasks",
        "Celery task runs by task and outcome, counted by the workers.",
        labels=["task", "outcome"],
    )


@functools.cache
def _task_names() -> tuple[str, ...]:
    from evpower.celery import app

    # the web process imports tasks modules only as it needs them; a worker imports all
    app.loader.import_default_modules()
    return tuple(sorted(name for name in app.tasks if not name.startswith("celery.")))


class CeleryTaskCollector(Collector):
    def describe(self) -> Iterator[Metric]:
        yield _tasks_family()

    def collect(self) -> Iterator[Metric]:
        from django.core.cache import cache

        names = _task_names()
        keys = {
            counter_key(name, outcome): (name, outcome) for name in names for outcome in OUTCOMES
        }
        try:
            counts = cache.get_many(list(keys))
        except Exception as exc:
            log.warning("metrics: Celery task counts unavailable: %s", exc)
            return
        family = _tasks_family()
        for key, (name, outcome) in keys.items():
            family.add_metric([name, outcome], counts.get(key, 0))
        yield family


def register_collectors() -> None:
    for collector in (DatabaseCollector(), BreakerCollector(), CeleryTaskCollector()):
        REGISTRY.register(collector)


register_collectors()
