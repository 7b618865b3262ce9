"""Celery autodiscovery imports this module: the accounts tasks live by topic."""

from . import anonymise_tasks  # noqa: F401 - registers its task
from .notifications import tasks as notification_tasks  # noqa: F401 - registers its tasks
