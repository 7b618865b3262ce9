"""python manage.py station_reset <identity> [--hard] [--timeout S] [--yes] [--dry-run]"""

from __future__ import annotations

from charging.session.models import ChargingSession
from evpower.management_support import (
    SupportCommand,
    not_found,
)
from stations.management.station_command import send_to_station
from stations.selectors import station_by_identity, station_is_online


class Command(SupportCommand):
    help = """Reset a charger (OCPP Reset) and print its answer.

Soft by default (the charger ends its transactions and restarts its software); --hard
power-cycles it. Sessions charging on it are stopped by the charger and billed from its
StopTransaction; the prompt says how many there are."""
    examples = ("CP-0042 --dry-run", "CP-0042", "CP-0042 --hard --yes")
    supports_dry_run = True

    def add_arguments(self, parser):
        parser.add_argument("identity", help="the station's OCPP identity")
        parser.add_argument("--hard", action="store_true", help="a hard reset (reboot)")
        parser.add_argument(
            "--timeout",
            type=float,
            default=None,
            help="seconds to wait for the answer (default OCPP_CALL_TIMEOUT)",
        )

    def handle(self, *args, identity: str, hard: bool, timeout: float | None, **options):
        station = station_by_identity(identity)
        if station is None:
            raise not_found(f"station {identity}")
        payload = {"type": "Hard" if hard else "Soft"}
        active = ChargingSession.objects.filter(
            station=station, status__in=ChargingSession.ACTIVE_STATUSES
        ).count()
        online = station_is_online(station)
        self.say(
            f"station {station.identity}: {'online' if online else 'OFFLINE'}, "
            f"{active} active session(s)"
        )
        send_to_station(
            self,
            station=station,
            action="Reset",
            payload=payload,
            online=online,
            timeout=timeout,
            question=f"{payload['type']} reset {station.identity}"
            + (f" ({active} active session(s) will be stopped)" if active else "")
            + "?",
            done=f"{station.identity}: {payload['type']} reset accepted",
        )
