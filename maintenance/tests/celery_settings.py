"""Django settings for the Celery worker and beat processes that
maintenance/tests/test_celery_worker.py starts (DJANGO_SETTINGS_MODULE). The project's
settings, with only what a test needs to change, from the environment:

- TEST_CELERY_VISIBILITY_TIMEOUT: seconds before Redis hands an unacknowledged task (its
  worker was killed) to a worker again. Production waits BACKUP_TIME_LIMIT + 600 s (more
  than the longest task); a test cannot wait an hour for the redelivery it checks.
- TEST_CELERY_TICK_TASK / _SECONDS / _QUEUE: one more beat entry, short enough for beat
  to send within a test, routed to the test worker's own queue.
"""

import os

from evpower.settings import *  # noqa: F403
from evpower.settings import CELERY_BEAT_SCHEDULE, CELERY_BROKER_TRANSPORT_OPTIONS

if os.environ.get("TEST_CELERY_VISIBILITY_TIMEOUT"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        **CELERY_BROKER_TRANSPORT_OPTIONS,
        "visibility_timeout": float(os.environ["TEST_CELERY_VISIBILITY_TIMEOUT"]),
        # look for abandoned tasks every second (the default is every ~100 s)
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
    }

if os.environ.get("TEST_CELERY_TICK_TASK"):
    CELERY_BEAT_SCHEDULE = {
        **CELERY_BEAT_SCHEDULE,
        "test-tick": {
            "task": os.environ["TEST_CELERY_TICK_TASK"],
            "schedule": float(os.environ.get("TEST_CELERY_TICK_SECONDS", "1")),
            "options": {"queue": os.environ["TEST_CELERY_TICK_QUEUE"]},
        },
    }
