"""Celery edge for commands to chargers."""

from celery import shared_task

from stations.models import Station

from .commands import send_command


# Not acks_late: a command (Reset, RemoteStart...) must not be re-sent because a worker
# died after sending it; the record shows whether it went out.
@shared_task(name="ocpp_bridge.send_command")
def send_command_task(station_id: int, action: str, payload: dict | None = None,
                      timeout: float | None = None, requested_by: str = "celery") -> dict:
    station = Station.objects.get(pk=station_id)
    result = send_command(station=station, action=action, payload=payload, timeout=timeout,
                          requested_by=requested_by)
    return {"command_id": result.command_id, "status": result.status,
            "response": result.response, "error_code": result.error_code}
