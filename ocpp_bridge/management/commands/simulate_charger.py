"""python manage.py simulate_charger <identity> --password <pw> [--url ws://...]
[--connectors 2] [--id-tag DEMO-TAG-1] [--heartbeat 30] [--meter-interval 5]
[--session-seconds 60] [--pause 10] [--once]"""

import argparse
import asyncio
import sys
from datetime import datetime

from django.core.management.base import BaseCommand, CommandError

from ocpp_bridge.simulator import SimulatorConfig, SimulatorError, default_url, run_simulator


def _seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return value


def build_config(options: dict) -> SimulatorConfig:
    if not 1 <= options["connectors"] <= 32:
        raise CommandError("--connectors must be between 1 and 32")
    return SimulatorConfig(
        identity=options["identity"], password=options["password"],
        url=options["url"] or default_url(options["identity"]),
        connectors=options["connectors"], id_tag=options["id_tag"],
        heartbeat=options["heartbeat"], meter_interval=options["meter_interval"],
        session_seconds=options["session_seconds"], pause_seconds=options["pause"],
        once=options["once"])


class Command(BaseCommand):
    help = ("Run a simulated OCPP 1.6J charge point: boot, heartbeat and charging sessions "
            "with meter values, reconnecting when the connection drops.")
    # a network client of the server: it needs no database and no system checks
    requires_system_checks = []
    requires_migrations_checks = False

    def add_arguments(self, parser):
        parser.add_argument("identity", help="charge point identity")
        parser.add_argument("--password", required=True, help="HTTP Basic password")
        parser.add_argument("--url", help="default: ws://127.0.0.1:8000/ocpp/<identity>")
        parser.add_argument("--connectors", type=int, default=2)
        parser.add_argument("--id-tag", default="DEMO-TAG-1", help="id tag that charges")
        parser.add_argument("--heartbeat", type=_seconds, default=30.0,
                            help="seconds between Heartbeats")
        parser.add_argument("--meter-interval", type=_seconds, default=5.0,
                            help="seconds between MeterValues")
        parser.add_argument("--session-seconds", type=_seconds, default=60.0,
                            help="length of each charging session")
        parser.add_argument("--pause", type=_seconds, default=10.0,
                            help="seconds between sessions (without --once)")
        parser.add_argument("--once", action="store_true",
                            help="charge one session, then exit 0")

    def handle(self, *args, **options):
        config = build_config(options)
        try:
            asyncio.run(run_simulator(config, log=self._log))
        except SimulatorError as exc:
            raise CommandError(str(exc)) from exc
        except KeyboardInterrupt:
            self.stderr.write("simulator stopped")
            sys.exit(130)

    def _log(self, line: str) -> None:
        self.stdout.write(f"{datetime.now():%H:%M:%S} {line}")
        self.stdout.flush()  # shown live when piped (run.sh runs it in the background)
