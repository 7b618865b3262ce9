"""python manage.py sync_local_list <identity> [--full]"""

import json

from django.core.management.base import BaseCommand, CommandError

from stations.local_list import local_list_sync
from stations.selectors import station_by_identity


class Command(BaseCommand):
    help = (
        "Send a station its local authorisation list (differential when possible) and "
        "print the charger's answer. Exit code 0 when the charger accepted it, else 1."
    )

    def add_arguments(self, parser):
        parser.add_argument("identity")
        parser.add_argument("--full", action="store_true", help="send the whole list")

    def handle(self, *args, **opts):
        station = station_by_identity(opts["identity"])
        if station is None:
            raise CommandError(f"no station {opts['identity']}")
        result = local_list_sync(
            station=station, full=opts["full"], requested_by="manage.py sync_local_list"
        )
        self.stdout.write(
            json.dumps(
                {
                    "status": result.status,
                    "response": result.response,
                    "update_type": result.update_type,
                    "list_version": result.list_version,
                    "entries": result.entries,
                    "truncated": result.truncated,
                    "note": result.note or None,
                    "error_code": result.error_code or None,
                    "error_description": result.error_description or None,
                    "command_id": result.command_id,
                },
                indent=2,
            )
        )
        if (result.response or {}).get("status") != "Accepted":
            raise SystemExit(1)
