"""The beat schedule: defined in code (settings.CELERY_BEAT_SCHEDULE), kept in
django-celery-beat's tables, where operators see every job in the admin (Periodic tasks)
and can pause or retime it; beat runs the database scheduler, which reads those tables.

`beat_schedule_sync()` writes the code's entries into the tables. It runs after every
`migrate` (post_migrate, connected in `MaintenanceConfig.ready`) and when beat starts
(beat_init; the database scheduler itself also upserts the code's entries on start, the
same way). For each entry:

- a missing row is created, enabled;
- an existing row gets the code's task, arguments and routing options. Its `enabled` flag
  is the operator's and is never touched: a job paused in the admin stays paused across
  deploys and restarts. Its timing is the operator's too once retimed in the admin: the
  description records the schedule the code last wrote, and a row whose schedule differs
  from it was retimed by hand and keeps its timing (until an operator sets it back). A new
  timing in the code reaches rows nobody retimed;
- rows this function created (their description says so) whose entry has left the code
  are disabled, not deleted: they would otherwise keep sending a task nobody defines; one
  that comes back to the code is enabled again (the sync paused it, not an operator).
  Rows an operator added in the admin are left alone.

Beat runs `maintenance.scheduler.CodeDefinedScheduler` (settings.CELERY_BEAT_SCHEDULER):
django-celery-beat's database scheduler, minus its own upsert of the code's entries on
start, which would undo an operator's retime; `sync_on_beat_start` does that job instead.

Float (or timedelta) schedules become an IntervalSchedule (seconds), `crontab`s a
CrontabSchedule; other kinds are refused (nothing in the code uses them).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

from celery import schedules
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction

log = logging.getLogger("maintenance")

FROM_CODE = "Defined in code: settings.CELERY_BEAT_SCHEDULE"
LEFT_CODE = "No longer in settings.CELERY_BEAT_SCHEDULE: disabled"


@dataclass
class SyncResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    disabled: list[str] = field(default_factory=list)  # left the code


def beat_schedule_sync(schedule: dict | None = None) -> SyncResult:
    """Write `schedule` (default: settings.CELERY_BEAT_SCHEDULE) into the beat tables."""
    from django_celery_beat.models import PeriodicTask

    schedule = settings.CELERY_BEAT_SCHEDULE if schedule is None else schedule
    result = SyncResult()
    with transaction.atomic():
        for name, entry in schedule.items():
            wanted = _fields(entry)
            task = PeriodicTask.objects.select_for_update().filter(name=name).first()
            if task is None:
                PeriodicTask(
                    name=name, enabled=True, description=_described(wanted), **wanted
                ).save()
                result.created.append(name)
                continue
            if _retimed(task):  # the operator's timing stands
                wanted = {k: v for k, v in wanted.items() if k not in SCHEDULE_FIELDS}
            changed = {key: value for key, value in wanted.items() if getattr(task, key) != value}
            if task.description == LEFT_CODE:  # back in the code; the sync paused it
                changed["enabled"] = True
            if not _retimed(task):
                written = _described(
                    {
                        **{k: getattr(task, k) for k in SCHEDULE_FIELDS},
                        **{k: v for k, v in changed.items() if k in SCHEDULE_FIELDS},
                    }
                )
                if task.description != written:
                    changed["description"] = written
            if not changed:
                result.unchanged.append(name)
                continue
            for key, value in changed.items():
                setattr(task, key, value)
            task.save()  # also tells a running beat (PeriodicTasks.changed)
            result.updated.append(name)
        for task in (
            PeriodicTask.objects.select_for_update()
            .filter(description__startswith=FROM_CODE, enabled=True)
            .exclude(name__in=list(schedule))
        ):
            task.enabled, task.description = False, LEFT_CODE
            task.save()
            result.disabled.append(task.name)
    if result.created or result.updated or result.disabled:
        log.info(
            "beat schedule synced: created %s, updated %s, disabled %s",
            result.created or "-",
            result.updated or "-",
            result.disabled or "-",
        )
    return result


SCHEDULE_FIELDS = ("interval", "crontab", "solar", "clocked")


def _timing(rows: dict) -> str:
    """A schedule as text: "every 120 seconds", "crontab 30 2 * * * UTC"."""
    if rows.get("interval") is not None:
        return f"every {int(rows['interval'].every)} {rows['interval'].period}"
    if rows.get("crontab") is not None:
        c = rows["crontab"]
        return (
            f"crontab {c.minute} {c.hour} {c.day_of_month} {c.month_of_year} "
            f"{c.day_of_week} {c.timezone}"
        )
    return "other"


def _described(rows: dict) -> str:
    return f"{FROM_CODE} (timing written: {_timing(rows)})"


def _retimed(task) -> bool:
    """The row's timing is not the one the sync last wrote: an operator changed it."""
    prefix = f"{FROM_CODE} (timing written: "
    if not task.description.startswith(prefix):
        return False  # written before timings were recorded, or by the scheduler itself
    written = task.description[len(prefix) : -1]
    return written != _timing({k: getattr(task, k) for k in SCHEDULE_FIELDS})


def _fields(entry: dict) -> dict:
    """A code entry as PeriodicTask fields (as the database scheduler stores them)."""
    options = entry.get("options") or {}
    return {
        "task": entry["task"],
        **_schedule_rows(entry["schedule"]),
        "args": json.dumps(list(entry.get("args") or [])),
        "kwargs": json.dumps(dict(entry.get("kwargs") or {})),
        "queue": options.get("queue") or None,
        "exchange": options.get("exchange") or None,
        "routing_key": options.get("routing_key") or None,
        "priority": options.get("priority"),
        "headers": json.dumps(options.get("headers") or {}),
        "expire_seconds": options.get("expire_seconds"),
    }


def _schedule_rows(value) -> dict:
    from django_celery_beat.models import CrontabSchedule, IntervalSchedule

    schedule = schedules.maybe_schedule(value)  # a number or timedelta -> schedule
    if isinstance(schedule, schedules.crontab):
        row = CrontabSchedule.from_schedule(schedule)
        if row.pk is None:
            row.save()
        return {"crontab": row, "interval": None, "solar": None, "clocked": None}
    if isinstance(schedule, schedules.schedule):
        seconds = schedule.run_every.total_seconds()
        if seconds < 1 or seconds != int(seconds):
            raise ValueError(f"interval schedules are whole seconds (got {value!r})")
        row = IntervalSchedule.from_schedule(schedule)
        if row.pk is None:
            row.save()
        return {"interval": row, "crontab": None, "solar": None, "clocked": None}
    raise ValueError(f"unsupported beat schedule {value!r}: use seconds or crontab")


# -- hooks (connected in MaintenanceConfig.ready) ----------------------------------------


def sync_after_migrate(sender, using: str = DEFAULT_DB_ALIAS, **kwargs) -> None:
    """post_migrate: only on the default database, once its beat tables exist."""
    if using != DEFAULT_DB_ALIAS:
        return
    if "django_celery_beat_periodictask" not in connections[using].introspection.table_names():
        return  # migrating only some apps, before django_celery_beat's tables exist
    result = beat_schedule_sync()
    if kwargs.get("verbosity", 1) >= 2:
        print(
            f"  beat schedule: {len(result.created)} created, {len(result.updated)} updated, "
            f"{len(result.disabled)} disabled"
        )


def sync_on_beat_start(sender=None, **kwargs) -> None:
    """beat_init: a failure is logged; beat still starts with what the tables hold."""
    try:
        beat_schedule_sync()
    except (DatabaseError, ValueError):
        log.exception("beat schedule: could not sync the code's entries on beat start")
