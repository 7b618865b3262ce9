"""Celery edge for charging sessions (scheduled in settings.CELERY_BEAT_SCHEDULE)."""

from celery import shared_task

from . import notices  # noqa: F401 - registers its task
from .session import sweeps


@shared_task(name="charging.sessions_cancel_unplugged")
def sessions_cancel_unplugged_task() -> int:
    return sweeps.sessions_cancel_unplugged()


@shared_task(name="charging.sessions_stop_overlong")
def sessions_stop_overlong_task() -> int:
    return sweeps.sessions_stop_overlong()


@shared_task(name="charging.sessions_close_unreported")
def sessions_close_unreported_task() -> int:
    return sweeps.sessions_close_unreported()
