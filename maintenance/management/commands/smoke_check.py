"""After a deploy: is the new process really serving? Four checks against its URL, as the
outside world uses it, each printed with its time; exit code 0 when all passed, 1 when one
failed (a deploy script stops or rolls back on 1):

1. `/health/ready` answers 200 "ok" (database and Redis reachable from the process);
2. the drivers' map (`/api/v1/locations`) answers a page of locations;
3. a login-code request as a dry run (`X-Smoke-Check: <SMOKE_CHECK_TOKEN>`): routing,
   validation and the rate limits run, no code is stored and no SMS is sent;
4. with `--charger`, a charger connects over OCPP 1.6 with its password and boots
   (BootNotification Accepted or Pending). Use a station kept for this (say SMOKE-001):
   its boot is recorded as any charger's.

    python manage.py smoke_check --url https://evpower.example --token "$SMOKE_CHECK_TOKEN" \\
        --charger SMOKE-001 --charger-password "$SMOKE_CHARGER_PASSWORD"
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import Callable

import httpx
import websockets
from django.core.management.base import BaseCommand, CommandError

TIMEOUT = 10.0
SMOKE_PHONE = "+996700000000"  # well-formed; a dry run sends nothing to it


class Failed(Exception):
    pass


def _expect(response: httpx.Response, status: int) -> dict:
    if response.status_code != status:
        raise Failed(f"HTTP {response.status_code} (expected {status}): {response.text[:200]}")
    try:
        return response.json()
    except ValueError:
        raise Failed(f"not JSON: {response.text[:200]}") from None


class Command(BaseCommand):
    help = "Check a freshly deployed process from outside: health, map, login code, charger."

    def add_arguments(self, parser):
        parser.add_argument("--url", required=True, help="the process's base URL")
        parser.add_argument("--token", default="", help="SMOKE_CHECK_TOKEN of that process")
        parser.add_argument("--charger", default="", help="identity of a station kept for this")
        parser.add_argument("--charger-password", default="")

    def handle(self, *args, **options):
        base = options["url"].rstrip("/")
        checks: list[tuple[str, Callable[[], str]]] = [
            ("health", lambda: self._health(base)),
            ("map", lambda: self._map(base)),
            ("login code (dry run)", lambda: self._login_code(base, options["token"])),
        ]
        if options["charger"]:
            checks.append(
                (
                    "charger boot",
                    lambda: asyncio.run(
                        self._charger(base, options["charger"], options["charger_password"])
                    ),
                )
            )
        failed = 0
        for name, check in checks:
            began = time.perf_counter()
            try:
                detail = check()
                verdict = "ok"
            except (Failed, httpx.HTTPError, OSError, TimeoutError) as exc:
                detail, verdict = str(exc) or type(exc).__name__, "FAILED"
                failed += 1
            except websockets.exceptions.WebSocketException as exc:
                detail, verdict = f"{type(exc).__name__}: {exc}", "FAILED"
                failed += 1
            ms = (time.perf_counter() - began) * 1000
            self.stdout.write(f"{verdict:6} {name:22} {ms:7.0f} ms  {detail}")
        if failed:
            raise CommandError(f"smoke check: {failed} of {len(checks)} failed", returncode=1)
        self.stdout.write(f"smoke check: all {len(checks)} passed")

    def _health(self, base: str) -> str:
        body = _expect(httpx.get(f"{base}/health/ready", timeout=TIMEOUT), 200)
        if body.get("status") != "ok":
            raise Failed(f"status {body.get('status')!r}")
        return ", ".join(sorted(body.get("checks", {})))

    def _map(self, base: str) -> str:
        body = _expect(httpx.get(f"{base}/api/v1/locations", timeout=TIMEOUT), 200)
        if not isinstance(body.get("results"), list):
            raise Failed("no list of locations")
        return f"{body.get('count', len(body['results']))} location(s)"

    def _login_code(self, base: str, token: str) -> str:
        if not token:
            raise Failed("--token (the process's SMOKE_CHECK_TOKEN) is needed")
        response = httpx.post(
            f"{base}/api/v1/auth/otp/request",
            json={"phone": SMOKE_PHONE},
            headers={"X-Smoke-Check": token},
            timeout=TIMEOUT,
        )
        body = _expect(response, 202)
        if body.get("dry_run") is not True:
            # the token was not taken: a real code went out; say so loudly
            raise Failed("answered as a real request (token not accepted): a code was sent")
        return "validated and rate-limited, nothing sent"

    async def _charger(self, base: str, identity: str, password: str) -> str:
        url = base.replace("https://", "wss://").replace("http://", "ws://") + f"/ocpp/{identity}"
        auth = base64.b64encode(f"{identity}:{password}".encode()).decode()
        async with websockets.connect(
            url,
            subprotocols=["ocpp1.6"],
            additional_headers={"Authorization": f"Basic {auth}"},
            open_timeout=TIMEOUT,
        ) as ws:
            message_id = uuid.uuid4().hex[:20]
            boot = {"chargePointVendor": "EvPower", "chargePointModel": "smoke-check"}
            await ws.send(json.dumps([2, message_id, "BootNotification", boot]))
            answer = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        if answer[:2] != [3, message_id]:
            raise Failed(f"unexpected answer {answer!r:.200}")
        status = answer[2].get("status")
        if status not in ("Accepted", "Pending"):
            raise Failed(f"BootNotification {status}")
        return f"BootNotification {status}"
