"""python manage.py ocpp_command <identity> <Action> [--json '{...}'] [--timeout s]"""

import json

from django.core.management.base import BaseCommand, CommandError

from ocpp_bridge.commands import send_command
from ocpp_bridge.models import CommandRecord
from stations.selectors import station_by_identity

Status = CommandRecord.Status
EXIT_CODES = {
    Status.ACCEPTED: 0,
    Status.REJECTED: 1,
    Status.CALL_ERROR: 1,
    Status.INVALID: 2,
    Status.OFFLINE: 3,
    Status.BUSY: 4,
    Status.TIMEOUT: 5,
    Status.UNREACHABLE: 6,
}


class Command(BaseCommand):
    help = (
        "Send an OCPP 1.6 call to a charger and print its answer. Exit code: 0 accepted, "
        "1 rejected or CALLERROR, 2 invalid payload, 3 offline, 4 busy, 5 timeout, "
        "6 unreachable (connected to a process this one cannot reach: set REDIS_URL)."
    )

    def add_arguments(self, parser):
        parser.add_argument("identity")
        parser.add_argument("action", help="e.g. Reset, GetConfiguration, TriggerMessage")
        parser.add_argument("--json", default="{}", help="the call's payload as JSON")
        parser.add_argument("--timeout", type=float, default=None, help="seconds (default 30)")

    def handle(self, *args, **opts):
        station = station_by_identity(opts["identity"])
        if station is None:
            raise CommandError(f"no station {opts['identity']}")
        try:
            payload = json.loads(opts["json"])
        except json.JSONDecodeError as exc:
            raise CommandError(f"--json is not valid JSON: {exc}") from exc
        if not isinstance(payload, dict):
            raise CommandError("--json must be a JSON object")
        result = send_command(
            station=station,
            action=opts["action"],
            payload=payload,
            timeout=opts["timeout"],
            requested_by="manage.py ocpp_command",
        )
        self.stdout.write(
            json.dumps(
                {
                    "status": result.status,
                    "response": result.response,
                    "error_code": result.error_code or None,
                    "error_description": result.error_description or None,
                    "duration_ms": result.duration_ms,
                    "command_id": result.command_id,
                },
                indent=2,
            )
        )
        code = EXIT_CODES[result.status]
        if code:
            raise SystemExit(code)
