"""Celery edge for stations (scheduled in settings.CELERY_BEAT_SCHEDULE, synced into the
beat tables where operators can pause or retime them: maintenance/beat.py)."""

from celery import shared_task

from .liveness import liveness_sweep
from .reservations import reservations_expire


@shared_task(name="stations.reservations_expire")
def reservations_expire_task() -> int:
    return reservations_expire()  # a conditional UPDATE: overlapping runs are safe


@shared_task(name="stations.liveness_sweep", soft_time_limit=90, time_limit=110)
def liveness_sweep_task() -> int:
    """Every 2 minutes (settings.CELERY_BEAT_SCHEDULE): stations silent past the liveness
    window are marked offline, the apps told, the operators alerted. Claims each station
    with a conditional UPDATE: overlapping runs are safe; runs again after a lost worker."""
    return liveness_sweep()
