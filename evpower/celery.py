"""Celery application; workers and beat start with `celery -A evpower worker|beat`."""

import os

from celery import Celery

from evpower.metrics.celery_tasks import connect_task_counters

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evpower.settings")

app = Celery("evpower")
# Every CELERY_* Django setting configures Celery, so there is one place for configuration.
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# task runs and failures, counted by whichever process runs them (/metrics reports them)
connect_task_counters()
