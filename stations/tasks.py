"""Celery edge for stations. Schedule `stations.reservations_expire` every minute (beat
uses the database scheduler: add it as a periodic task in the admin)."""

from celery import shared_task

from .reservations import reservations_expire


@shared_task(name="stations.reservations_expire")
def reservations_expire_task() -> int:
    return reservations_expire()  # a conditional UPDATE: overlapping runs are safe
