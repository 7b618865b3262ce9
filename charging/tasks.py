"""Celery edge for charging sessions (scheduled in settings.CELERY_BEAT_SCHEDULE)."""

from celery import shared_task

from . import clockwork, notices  # noqa: F401 - notices: registers its task


@shared_task(name="charging.sessions_cancel_unplugged")
def sessions_cancel_unplugged_task() -> int:
    return clockwork.sessions_cancel_unplugged()


@shared_task(name="charging.sessions_stop_overlong")
def sessions_stop_overlong_task() -> int:
    return clockwork.sessions_stop_overlong()


@shared_task(name="charging.sessions_close_unreported")
def sessions_close_unreported_task() -> int:
    return clockwork.sessions_close_unreported()
