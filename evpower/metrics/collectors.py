"""Values read at scrape time, registered once in the default registry: the Celery task
counts here (on import), and the domain apps' gauges, which each app registers at start
through `register_collector` (stations/metrics.py, charging/metrics.py, payments/metrics.py).

The database gauges are cluster-wide truth, so every web process reports the same figure:
aggregate them with max(), not sum(). The same holds for the Celery task counts, which
come from the shared cache.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator

# evpower.celery's app, as Celery's current one: importing evpower.celery here would be a
# cycle (it counts tasks through .celery_tasks)
from celery import current_app as app
from prometheus_client import REGISTRY
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from .celery_tasks import OUTCOMES, counter_key

log = logging.getLogger("evpower.metrics")


def _tasks_family() -> CounterMetricFamily:
    return CounterMetricFamily(
        "evpower_celery_tasks",
        "Celery task runs by task and outcome, counted by the workers.",
        labels=["task", "outcome"],
    )


@functools.cache
def _task_names() -> tuple[str, ...]:

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


_registered: set[str] = set()


def register_collector(collector: Collector) -> None:
    """Register `collector` once per process (by class), whoever asks twice."""
    name = f"{type(collector).__module__}.{type(collector).__qualname__}"
    if name not in _registered:
        _registered.add(name)
        REGISTRY.register(collector)


def scrape_failed(what: str, exc: Exception) -> None:
    """One gauge could not be read: the rest of /metrics must still come through."""
    log.warning("metrics: %s unavailable: %s", what, exc)


register_collector(CeleryTaskCollector())
