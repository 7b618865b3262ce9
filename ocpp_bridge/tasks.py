"""Celery edge for commands to chargers."""

from celery import shared_task

from stations.models import Station

from .commands import send_command


# At most once: the project's default is acks_late + reject-on-worker-lost (the sweeps are
# idempotent and are run again after a lost worker), but a command (Reset, RemoteStart...)
# must not be sent twice because a worker died after sending it; its CommandRecord shows
# whether it went out. A caller that wants another try sends the command again.
@shared_task(name="ocpp_bridge.send_command", acks_late=False, reject_on_worker_lost=False)
def send_command_task(
    station_id: int,
    action: str,
    payload: dict | None = None,
    timeout: float | None = None,
    requested_by: str = "celery",
) -> dict:
    station = Station.objects.get(pk=station_id)
    result = send_command(
        station=station, action=action, payload=payload, timeout=timeout, requested_by=requested_by
    )
    return {
        "command_id": result.command_id,
        "status": result.status,
        "response": result.response,
        "error_code": result.error_code,
    }
