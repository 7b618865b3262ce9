"""Maintenance's gauges for /metrics (registered at start, maintenance/apps.py): how old
the newest good backup is, and the free space where backups and the platform's files live
(an alert fires before a full disk stops backups or the database)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from evpower.metrics.collectors import scrape_failed

from .models import Backup


def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
    return (
        GaugeMetricFamily(
            "evpower_backup_age_seconds",
            "Seconds since the newest backup that finished and was verified (absent: none yet).",
        ),
        GaugeMetricFamily(
            "evpower_disk_free_bytes",
            "Free bytes on the file system holding a path the platform writes (backups, its "
            "own directory).",
            labels=["path"],
        ),
        GaugeMetricFamily(
            "evpower_disk_size_bytes",
            "Size in bytes of the file system holding that path.",
            labels=["path"],
        ),
    )


def watched_paths() -> dict[str, Path]:
    """label -> a path whose file system is watched (the nearest existing folder)."""
    paths = {"backups": Path(settings.BACKUP_DIR), "app": Path(settings.BASE_DIR)}
    out = {}
    for label, path in paths.items():
        while not path.exists() and path != path.parent:
            path = path.parent
        out[label] = path
    return out


class MaintenanceCollector(Collector):
    def describe(self) -> Iterator[Metric]:
        yield from _families()  # without this, registering would run collect()

    def collect(self) -> Iterator[Metric]:
        age, free, size = _families()
        try:
            newest = (
                Backup.objects.filter(status=Backup.Status.OK, finished_at__isnull=False)
                .order_by("-finished_at")
                .values_list("finished_at", flat=True)
                .first()
            )
            if newest is not None:
                age.add_metric([], (timezone.now() - newest).total_seconds())
            yield age
        except Exception as exc:
            scrape_failed("backup age", exc)
        for label, path in watched_paths().items():
            try:
                usage = shutil.disk_usage(path)
            except OSError as exc:
                scrape_failed(f"disk usage of {label}", exc)
                continue
            free.add_metric([label], usage.free)
            size.add_metric([label], usage.total)
        yield free
        yield size
