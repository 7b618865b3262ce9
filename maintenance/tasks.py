"""Celery autodiscovery imports this module: the maintenance tasks live by topic."""

from . import backup_tasks, retention_tasks  # noqa: F401 - registers their tasks
