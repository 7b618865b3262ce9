"""Celery application; workers and beat start with `celery -A evpower worker|beat`."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evpower.settings")

app = Celery("evpower")
# Every CELERY_* Django setting configures Celery, so there is one place for configuration.
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
