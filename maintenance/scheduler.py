"""The beat scheduler (settings.CELERY_BEAT_SCHEDULER). Imported by beat only, once Django
is set up (django-celery-beat's scheduler module imports its models)."""

from __future__ import annotations

from django_celery_beat.schedulers import DatabaseScheduler

from evpower.probes.beat import beat_tick_record


class CodeDefinedScheduler(DatabaseScheduler):
    """django-celery-beat's database scheduler without its start-up upsert of the code's
    entries, which would undo an operator's retime: `maintenance.beat.beat_schedule_sync`
    (run on beat_init and after migrate) writes them, keeping pauses and retimes."""

    def setup_schedule(self):
        self.install_default_entries(self.schedule)

    def tick(self, *args, **kwargs):
        # beat's heartbeat for /health/detailed (a tick every few seconds, even when idle)
        interval = super().tick(*args, **kwargs)
        beat_tick_record()
        return interval
