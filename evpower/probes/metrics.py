"""The health probes as gauges for /metrics (registered at start, evpower/apps.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from evpower.metrics.collectors import scrape_failed

from . import reports
from .beat import beat_last_tick


def _health_families() -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
    return (
        GaugeMetricFamily(
            "evpower_dependency_up",
            "1 when a dependency charging needs answers the readiness check (database; "
            "redis when configured), else 0; the same checks as /health/ready.",
            labels=["dependency"],
        ),
        GaugeMetricFamily(
            "evpower_beat_last_tick_timestamp_seconds",
            "Unix time of Celery beat's last tick (absent: none recorded).",
        ),
    )


class HealthCollector(Collector):
    """The readiness checks as gauges, so that Prometheus alerts on a database or Redis
    that is down as seen by the platform itself (reused for HEALTH_CACHE_SECONDS, each
    check bounded by HEALTH_CHECK_TIMEOUT: a scrape never hangs on a dependency)."""

    def describe(self) -> Iterator[Metric]:
        yield from _health_families()

    def collect(self) -> Iterator[Metric]:
        up, beat = _health_families()
        try:
            for name, result in reports.readiness().body["checks"].items():
                up.add_metric([name], 1 if result["ok"] else 0)
        except Exception as exc:
            scrape_failed("readiness", exc)
        yield up
        try:
            tick = beat_last_tick()
            if tick is not None:
                beat.add_metric([], float(tick))
        except Exception as exc:
            scrape_failed("beat's last tick", exc)
        yield beat


CGROUP_V2 = Path("/sys/fs/cgroup")
CGROUP_V1 = Path("/sys/fs/cgroup/memory")


def container_memory(
    root_v2: Path = CGROUP_V2, root_v1: Path = CGROUP_V1
) -> tuple[int, int] | None:
    """(bytes used, the limit) of this container's memory cgroup; None when it has no
    limit or none can be read (not in a container)."""
    for used_file, limit_file in (
        (root_v2 / "memory.current", root_v2 / "memory.max"),
        (root_v1 / "memory.usage_in_bytes", root_v1 / "memory.limit_in_bytes"),
    ):
        try:
            used, limit = used_file.read_text().strip(), limit_file.read_text().strip()
        except OSError:
            continue
        # "max" (v2), or v1's "unlimited" (a page-aligned huge number)
        if limit == "max" or not limit.isdigit() or int(limit) >= 1 << 60:
            return None
        return int(used), int(limit)
    return None


def _memory_families() -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
    return (
        GaugeMetricFamily(
            "evpower_container_memory_usage_bytes",
            "Memory the container (its cgroup) uses, page cache included (absent: no limit).",
        ),
        GaugeMetricFamily(
            "evpower_container_memory_limit_bytes",
            "The container's memory limit (absent: none).",
        ),
    )


class ContainerMemoryCollector(Collector):
    """The container's memory against its limit, for the 80 % / 90 % alerts, without a
    cAdvisor next to it."""

    def describe(self) -> Iterator[Metric]:
        yield from _memory_families()

    def collect(self) -> Iterator[Metric]:
        used, limit = _memory_families()
        reading = container_memory()
        if reading is not None:
            used.add_metric([], reading[0])
            limit.add_metric([], reading[1])
        yield used
        yield limit
