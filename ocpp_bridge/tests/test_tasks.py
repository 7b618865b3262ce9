"""The Celery edge for commands: at most once, whatever the project's task defaults."""

from __future__ import annotations

from django.conf import settings

from evpower.celery import app
from ocpp_bridge.tasks import send_command_task


def test_a_command_task_is_acknowledged_before_it_runs():
    # the project's default runs a task again after a lost worker (sweeps are idempotent)
    assert settings.CELERY_TASK_ACKS_LATE and settings.CELERY_TASK_REJECT_ON_WORKER_LOST
    task = app.tasks[send_command_task.name]
    # a Reset or RemoteStart sent by a worker that then died must not be sent again
    assert task.acks_late is False and task.reject_on_worker_lost is False
