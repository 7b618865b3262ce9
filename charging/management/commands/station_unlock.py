"""python manage.py station_unlock <identity> <connector> [--timeout S] [--yes] [--dry-run]"""

from __future__ import annotations

from charging.session.models import ChargingSession
from evpower.management_support import (
    SupportCommand,
    not_found,
)
from stations.management.station_command import send_to_station
from stations.models import Connector
from stations.selectors import station_by_identity, station_is_online


class Command(SupportCommand):
    help = """Unlock a connector's cable (OCPP UnlockConnector) and print the charger's answer.

For a driver whose cable is stuck. A session charging on that connector is stopped by the
charger (and billed from its StopTransaction); the prompt says so."""
    examples = ("CP-0042 1 --dry-run", "CP-0042 2", "CP-0042 2 --yes")
    supports_dry_run = True

    def add_arguments(self, parser):
        parser.add_argument("identity", help="the station's OCPP identity")
        parser.add_argument("connector", type=int, help="the connector number (1 and up)")
        parser.add_argument(
            "--timeout",
            type=float,
            default=None,
            help="seconds to wait for the answer (default OCPP_CALL_TIMEOUT)",
        )

    def handle(self, *args, identity: str, connector: int, timeout: float | None, **options):
        station = station_by_identity(identity)
        if station is None:
            raise not_found(f"station {identity}")
        plug = Connector.objects.filter(station=station, number=connector).first()
        if plug is None:
            raise not_found(f"connector {connector} on {station.identity}")
        session = ChargingSession.objects.filter(
            connector=plug, status__in=ChargingSession.ACTIVE_STATUSES
        ).first()
        online = station_is_online(station)
        self.say(
            f"station {station.identity}: {'online' if online else 'OFFLINE'}; "
            f"connector {connector}: {plug.status or 'unknown'}"
            + (f", session {session.pk} {session.status}" if session else "")
        )
        send_to_station(
            self,
            station=station,
            action="UnlockConnector",
            payload={"connectorId": connector},
            online=online,
            timeout=timeout,
            question=f"Unlock connector {connector} of {station.identity}"
            + (f" (session {session.pk} on it will be stopped)" if session else "")
            + "?",
            done=f"{station.identity}: connector {connector} unlocked",
        )
