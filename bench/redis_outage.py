"""What a Redis outage does to chargers' answers: MeterValues latency before, during and
after Redis hangs (SIGSTOP: connections stay open, nothing answers — the worst case).

    .venv/bin/python bench/redis_outage.py [--chargers 50] [--outage 45] \
        [--repo /path/to/another/checkout ...]

Each `--repo` (default: this checkout) is measured in turn on the same database, the
same machine and the same load, so an old and a new checkout compare in one run. Every
charger has an open transaction whose id tag has an owner, so each MeterValues moves a
session and produces news for the driver's app (the path that used to wait for Redis).
A private redis-server (its own port) is paused and resumed; the shared one is never
touched. Chargers send one MeterValues a second, one call in flight each (OCPP), and
give up on an answer after --reply-timeout (30 s, a common charger default).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
import loadgen  # noqa: E402

TAG = "OUTAGE-TAG"


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def prepare(env: dict, n: int) -> None:
    common.prepare_evpower(env, n)
    snippet = "\n".join(
        [
            "from decimal import Decimal",
            "from accounts.models import Client",
            "from payments.wallet import wallet_credit_topup",
            "from stations.models import IdTag",
            "from stations.tariff_models import TariffPlan, TariffRule",
            "plan = TariffPlan.objects.create(name='bench', is_default=True)",
            "TariffRule.objects.create(plan=plan, price_per_kwh=Decimal('12.00'))",
            "owner = Client.objects.create(phone='+996700999001')",
            "wallet_credit_topup(client=owner, amount=Decimal('100000.00'), payment_ref='b',"
            " key='bench:topup')",
            f"IdTag.objects.create(id_tag={TAG!r}, client=owner)",
        ]
    )
    common.run_checked(
        [sys.executable, "manage.py", "shell", "-c", snippet], env, 300, "outage fixtures"
    )


def start_redis() -> tuple[subprocess.Popen, int]:
    port = common.free_port()
    proc = subprocess.Popen(  # noqa: S603
        [  # noqa: S607
            "redis-server",
            "--port",
            str(port),
            "--bind",
            common.HOST,  # noqa: S603, S607
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
    )
    for _ in range(100):
        if (
            subprocess.run(  # noqa: S603
                ["redis-cli", "-p", str(port), "ping"],  # noqa: S607
                capture_output=True,
            ).returncode
            == 0
        ):
            return proc, port
        time.sleep(0.1)
    raise RuntimeError("private redis did not start")


async def charger(
    port: int, name: str, phases: dict, samples: list, stop: asyncio.Event, reply_timeout: float
) -> None:
    auth = base64.b64encode(f"{name}:{loadgen.PASSWORD}".encode()).decode()
    async with connect(
        f"ws://{common.HOST}:{port}/ocpp/{name}",
        subprotocols=["ocpp1.6"],
        additional_headers={"Authorization": f"Basic {auth}"},
        compression=None,
        ping_interval=None,
        max_size=None,
    ) as ws:

        async def call(action: str, payload: dict) -> list | None:
            message_id = os.urandom(8).hex()
            await ws.send(json.dumps([2, message_id, action, payload]))
            while True:
                reply = json.loads(await asyncio.wait_for(ws.recv(), reply_timeout))
                if reply[1] == message_id:
                    return reply

        await call("BootNotification", {"chargePointVendor": "Bench", "chargePointModel": "X"})
        start = await call(
            "StartTransaction",
            {"connectorId": 1, "idTag": TAG, "meterStart": 0, "timestamp": now_iso()},
        )
        tx, wh = start[2]["transactionId"], 0
        while not stop.is_set():
            wh += 2  # 7.2 kW for a second: plausible
            sent = time.monotonic()
            phase = phases["now"]
            try:
                await call(
                    "MeterValues",
                    {
                        "connectorId": 1,
                        "transactionId": tx,
                        "meterValue": [
                            {
                                "timestamp": now_iso(),
                                "sampledValue": [
                                    {"value": str(wh), "measurand": "Energy.Active.Import.Register"}
                                ],
                            }
                        ],
                    },
                )
                samples.append((phase, time.monotonic() - sent))
            except TimeoutError:
                samples.append((phase, None))
            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - sent)))


async def measure(port: int, redis: subprocess.Popen, args) -> dict:
    phases, samples, stop = {"now": "before"}, [], asyncio.Event()
    names = [common.identity(i, args.chargers) for i in range(1, args.chargers + 1)]
    tasks = [
        asyncio.create_task(charger(port, name, phases, samples, stop, args.reply_timeout))
        for name in names
    ]
    await asyncio.sleep(args.before)
    phases["now"] = "outage"
    redis.send_signal(signal.SIGSTOP)
    try:
        await asyncio.sleep(args.outage)
    finally:
        redis.send_signal(signal.SIGCONT)
    phases["now"] = "after"
    await asyncio.sleep(args.after)
    stop.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    errors = [repr(r) for r in results if isinstance(r, BaseException)]
    return {"phases": summarise(samples), "charger_errors": errors}


def quantile_ms(ordered: list[float], fraction: float) -> float | None:
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000


def summarise(samples: list) -> dict:
    out = {}
    for phase in ("before", "outage", "after"):
        answered = sorted(s for p, s in samples if p == phase and s is not None)
        missed = sum(1 for p, s in samples if p == phase and s is None)
        out[phase] = {
            "answered": len(answered),
            "timed_out": missed,
            "p50_ms": quantile_ms(answered, 0.5),
            "p99_ms": quantile_ms(answered, 0.99),
            "max_ms": answered[-1] * 1000 if answered else None,
            "mean_ms": statistics.fmean(answered) * 1000 if answered else None,
        }
    return out


def bench_repo(repo: Path, args) -> dict:
    redis, redis_port = start_redis()
    env = common.evpower_env({"REDIS_URL": f"redis://{common.HOST}:{redis_port}/0"})
    try:
        prepare(env, args.chargers)
        port = common.free_port()
        cmd = common.uvicorn_command(port)
        proc, log_path = common.launch_server(cmd, env, "redis-outage-", cwd=repo)
        try:
            common.wait_for_port(port, proc, log_path, 60)
            result = asyncio.run(measure(port, redis, args))
        finally:
            common.stop_process(proc)
    finally:
        redis.send_signal(signal.SIGCONT)
        redis.kill()
        redis.wait()
    return {"repo": str(repo), **result}


def print_report(results: list[dict], args) -> None:
    print(
        f"\nRedis paused (SIGSTOP) for {args.outage:g} s; {args.chargers} chargers, "
        f"MeterValues 1/s each, reply timeout {args.reply_timeout:g} s"
    )
    print(
        f"{'checkout':40} {'phase':7} {'answered':>8} {'timed out':>9} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'max ms':>8}"
    )
    for r in results:
        for phase, f in r["phases"].items():

            def cell(v):
                return f"{v:8.1f}" if v is not None else f"{'-':>8}"

            print(
                f"{r['repo'][-40:]:40} {phase:7} {f['answered']:8d} {f['timed_out']:9d} "
                f"{cell(f['p50_ms'])} {cell(f['p99_ms'])} {cell(f['max_ms'])}"
            )
        if r["charger_errors"]:
            print(f"  charger errors: {r['charger_errors'][:3]}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chargers", type=int, default=50)
    parser.add_argument("--before", type=float, default=10)
    parser.add_argument("--outage", type=float, default=45)
    parser.add_argument("--after", type=float, default=15)
    parser.add_argument("--reply-timeout", type=float, default=30)
    parser.add_argument(
        "--repo",
        action="append",
        type=Path,
        help="a checkout to run the server from (repeatable; default: this one)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = common.each_checkout(args.repo, lambda repo: bench_repo(repo, args))
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print_report(results, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
