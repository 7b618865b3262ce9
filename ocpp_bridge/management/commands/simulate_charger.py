"""python manage.py simulate_charger <identity> --password <pw> [--url ws://...]
[--connectors 2] [--id-tag DEMO-TAG-1] [--rfid-connectors 1] [--state-file PATH]
[--heartbeat 30] [--meter-interval 5] [--session-seconds 60] [--pause 10] [--once]"""

import argparse
import asyncio
import signal
import sys
from datetime import datetime

from django.core.management.base import BaseCommand, CommandError

from ocpp_bridge.simulator import SimulatorConfig, SimulatorError, default_url, run_simulator

SHUTDOWN_SECONDS = 10  # after Ctrl-C / SIGTERM: time to end the transactions, then exit


def _seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return value


def _connectors(text: str) -> tuple[int, ...]:
    if text.strip().lower() == "none":
        return ()
    try:
        return tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    except ValueError:
        raise argparse.ArgumentTypeError(
            "a comma-separated list of connector numbers, or 'none'"
        ) from None


def build_config(options: dict) -> SimulatorConfig:
    if not 1 <= options["connectors"] <= 32:
        raise CommandError("--connectors must be between 1 and 32")
    own = options.get("rfid_connectors")
    if own and not all(1 <= n <= options["connectors"] for n in own):
        raise CommandError(f"--rfid-connectors must be between 1 and {options['connectors']}")
    return SimulatorConfig(
        identity=options["identity"],
        password=options["password"],
        url=options["url"] or default_url(options["identity"]),
        connectors=options["connectors"],
        id_tag=options["id_tag"],
        heartbeat=options["heartbeat"],
        meter_interval=options["meter_interval"],
        session_seconds=options["session_seconds"],
        pause_seconds=options["pause"],
        once=options["once"],
        rfid_connectors=own,
        state_file=options.get("state_file"),
        ocpp=options.get("ocpp") or "1.6",
    )


class Command(BaseCommand):
    help = (
        "Run a simulated OCPP 1.6J (or, with --ocpp 2.0.1, 2.0.1) charge point: boot, "
        "heartbeat and charging sessions with meter values, reconnecting when the "
        "connection drops."
    )
    # a network client of the server: it needs no database and no system checks
    requires_system_checks = []
    requires_migrations_checks = False

    def add_arguments(self, parser):
        parser.add_argument("identity", help="charge point identity")
        parser.add_argument("--password", required=True, help="HTTP Basic password")
        parser.add_argument("--url", help="default: ws://127.0.0.1:8000/ocpp/<identity>")
        parser.add_argument("--connectors", type=int, default=2)
        parser.add_argument(
            "--ocpp",
            choices=["1.6", "2.0.1"],
            default="1.6",
            help="the OCPP version to speak (2.0.1: TransactionEvents, EVSEs)",
        )
        parser.add_argument("--id-tag", default="DEMO-TAG-1", help="id tag that charges")
        parser.add_argument(
            "--rfid-connectors",
            type=_connectors,
            default=None,
            help="connectors the simulator charges on by itself with --id-tag, "
            "e.g. '1' or '1,2' or 'none' (default: all but the last, "
            "which stays free for starts from the app)",
        )
        parser.add_argument(
            "--state-file",
            help="keep open transactions and meter registers here, so that "
            "after a restart the interrupted ones end (PowerLoss)",
        )
        parser.add_argument(
            "--heartbeat", type=_seconds, default=30.0, help="seconds between Heartbeats"
        )
        parser.add_argument(
            "--meter-interval", type=_seconds, default=5.0, help="seconds between MeterValues"
        )
        parser.add_argument(
            "--session-seconds", type=_seconds, default=60.0, help="length of each charging session"
        )
        parser.add_argument(
            "--pause", type=_seconds, default=10.0, help="seconds between sessions (without --once)"
        )
        parser.add_argument("--once", action="store_true", help="charge one session, then exit 0")

    def handle(self, *args, **options):
        config = build_config(options)
        try:
            asyncio.run(self._run(config))
        except SimulatorError as exc:
            raise CommandError(str(exc)) from exc
        except (KeyboardInterrupt, asyncio.CancelledError):
            self.stderr.write("simulator stopped")
            sys.exit(130)

    async def _run(self, config: SimulatorConfig) -> None:
        """The first Ctrl-C or SIGTERM ends the open transactions (reason Reboot) and
        exits; a second one, or SHUTDOWN_SECONDS later, exits at once."""
        shutdown = asyncio.Event()
        loop = asyncio.get_running_loop()
        main = asyncio.current_task()

        def on_signal() -> None:
            if shutdown.is_set():
                main.cancel()
                return
            self._log("stopping: ending open transactions (Ctrl-C again to quit at once)")
            shutdown.set()
            loop.call_later(SHUTDOWN_SECONDS, main.cancel)

        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(signum, on_signal)
            except (NotImplementedError, RuntimeError):  # no signal handlers here (Windows)
                pass
        await run_simulator(config, log=self._log, shutdown=shutdown)
        if shutdown.is_set():
            self._log("simulator stopped")

    def _log(self, line: str) -> None:
        self.stdout.write(f"{datetime.now():%H:%M:%S} {line}")
        self.stdout.flush()  # shown live when piped (run.sh runs it in the background)
