"""What charging tells drivers and operators about a charger's fault: the drivers of the
sessions running there, and an operator alert. Queued by accounts' `notify_charger_status`
(stations reports the status), through the handler installed in charging/apps.py."""

from __future__ import annotations

from celery import shared_task
from django.core.cache import cache

from accounts.notifications import messages
from accounts.notifications import tasks as notification_tasks
from accounts.notifications.service import notify_client
from charging.session.models import ChargingSession
from evpower import alerts
from stations.models import Station

FAULT_PUSH_INTERVAL = 600  # seconds: one "charger error" push per session in this time


# the task keeps its first name: queued messages and workers know it by that
@shared_task(name="accounts.charger_fault")
def charger_fault(station_id: int, connector_id: int, error_code: str = "", info: str = "") -> int:
    """A charger reported Faulted (connector 0: the whole station). The drivers of the
    sessions running there are told (once per FAULT_PUSH_INTERVAL per session); operators
    get an alert (rate limited per station and connector). Returns the pushes queued."""
    station = Station.objects.filter(pk=station_id).only("identity").first()
    if station is None:
        return 0
    sessions = ChargingSession.objects.filter(
        station_id=station_id,
        status__in=(ChargingSession.Status.CHARGING, ChargingSession.Status.FINISHING),
    )
    if connector_id:
        sessions = sessions.filter(connector_number=connector_id)
    error = error_code if error_code and error_code != "NoError" else (info or "Faulted")
    queued = 0
    running = list(sessions.values_list("pk", "client_id", "connector_number"))
    for session_id, client_id, connector in running:
        if not cache.add(
            f"{notification_tasks.CACHE_PREFIX}fault:{session_id}", 1, FAULT_PUSH_INTERVAL
        ):
            continue
        queued += notify_client(
            client_id=client_id,
            event=messages.CHARGER_ERROR,
            params={
                "session": session_id,
                "station": station_id,
                "connector": connector,
                "error": error,
            },
        )
    where = f"connector {connector_id}" if connector_id else "the whole station"
    alerts.operator_alert(
        key=f"station-faulted:{station_id}:{connector_id}",
        subject=f"Station {station.identity} faulted ({where}): {error}",
        text=f"Station {station.identity} reported Faulted on {where}: error code "
        f"{error_code or '-'}, info {info or '-'}. Charging sessions affected: "
        f"{', '.join(str(s[0]) for s in running) or 'none'}.",
        severity="high" if running else "medium",  # a driver charging there is stuck
    )
    return queued
