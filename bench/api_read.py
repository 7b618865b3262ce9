"""Map API read bench: the drivers' map under concurrent load.

Setup: a fresh database `evpower_bench` (bench/common.py) holding a realistic map of
Bishkek: N locations (default 200) with coordinates within ~11 km of the centre, 1-4
stations each, 1-3 connectors per station with mixed types, powers and statuses, about
two thirds of the stations online (connected, heard from just now) and the rest offline,
a few stations in maintenance, a few locations inactive or under construction, and a
default tariff plan with three rules (AC, DC, a night discount) plus a location-assigned
plan on some locations. uvicorn serves evpower.asgi:application on 127.0.0.1 with the
bench environment, DEBUG=false and THROTTLE_RATE_ANON raised (every client comes from
127.0.0.1, which the default 120/minute would answer with 429s).

Load: --clients keep-alive HTTP/1.1 connections (a minimal client over asyncio streams,
nothing beyond the standard library), each sending its next GET as soon as the previous
answer is in (closed loop), for --warmup + --duration seconds per endpoint:

  map       GET /api/v1/locations?lat=42.87&lon=74.6&radius_km=10   (the target)
  location  GET /api/v1/locations/{id}    random visible location ids
  station   GET /api/v1/stations/{id}     random visible station ids

Printed per endpoint: req/s, p50/p95/p99 latency, non-200 answers, CPU of uvicorn and
of this process, and the verdict `map read >= 1000 req/s with p95 < 200 ms`.

    .venv/bin/python bench/api_read.py [--clients 50] [--duration 10] [--warmup 2]
        [--workers 1] [--workers 1,2] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sys
import time

from common import (
    BENCH_DB,
    HOST,
    PG_ADMIN_DSN,
    CpuMeter,
    evpower_env,
    free_port,
    launch_server,
    log,
    process_tree,
    run_checked,
    scan_server_log,
    stop_process,
    take_run_lock,
    uvicorn_command,
    wait_for_port,
)
from loadgen import percentile

TARGET_RPS = 1000.0
TARGET_P95_MS = 200.0
MAP_PATH = "/api/v1/locations?lat=42.87&lon=74.6&radius_km=10"
# All clients share 127.0.0.1: the per-IP anonymous limit (default 120/minute;2000/hour)
# would answer almost everything with 429.
SERVER_ENV = {"DEBUG": "false", "THROTTLE_RATE_ANON": "1000000/minute"}

# Run with `manage.py shell -c` under the bench environment; %(n)d locations, seed %(seed)d.
# Prints the ids the detail endpoints may ask for (visible ones) as JSON on its last line.
FIXTURES = """
import json, random
from datetime import time as dtime, timedelta
from decimal import Decimal
from django.core.cache import cache
from django.utils import timezone
from stations.models import Connector, Location, Station
from stations.tariff_models import TariffAssignment, TariffPlan, TariffRule

rng = random.Random(%(seed)d)
now = timezone.now()
cache.clear()  # Redis db of the bench: stale map summaries and throttle counters
statuses = ["Available"] * 5 + ["Charging"] * 3 + ["Preparing", "Finishing", "SuspendedEV",
            "Faulted", "Unavailable", "Unknown"]
ac, dc = ["Type2", "GB/T AC", "Type1"], ["CCS2", "CHAdeMO", "GB/T DC"]
locations = []
for i in range(1, %(n)d + 1):
    r = rng.random()
    status = ("inactive" if r < 0.04 else "under_construction" if r < 0.08 else "active")
    locations.append(Location(
        name="Bishkek %%03d" %% i, address="%%d Chui Avenue" %% i, city="Bishkek",
        latitude=Decimal("%%.6f" %% (42.87 + rng.uniform(-0.10, 0.10))),
        longitude=Decimal("%%.6f" %% (74.60 + rng.uniform(-0.13, 0.13))),
        status=status, opening_hours=rng.choice(["24/7", "08:00-22:00"])))
Location.objects.bulk_create(locations)
stations = []
for loc in locations:
    for k in range(rng.randint(1, 4)):
        online = rng.random() < 0.65
        dc_station = rng.random() < 0.4
        stations.append(Station(
            identity="BKK-%%03d-%%d" %% (loc.pk, k + 1), location=loc,
            admin_status="maintenance" if rng.random() < 0.05 else "active",
            max_power_kw=Decimal(rng.choice([60, 120, 150])) if dc_station
            else Decimal(rng.choice([7, 11, 22])),
            vendor="BenchVendor", model="DC-%%d" %% k if dc_station else "AC-%%d" %% k,
            connected=online or rng.random() < 0.3,
            last_seen_at=now if online else now - timedelta(hours=rng.randint(1, 72)),
            status="Available" if rng.random() < 0.9 else "Faulted"))
Station.objects.bulk_create(stations)
connectors = []
for st in stations:
    kinds = dc if st.model.startswith("DC") else ac
    for n in range(1, rng.randint(1, 3) + 1):
        connectors.append(Connector(
            station=st, number=n, connector_type=rng.choice(kinds),
            max_power_kw=None if rng.random() < 0.5 else st.max_power_kw,
            status=rng.choice(statuses), status_at=now - timedelta(minutes=rng.randint(0, 600))))
Connector.objects.bulk_create(connectors)
default = TariffPlan.objects.create(name="Default", is_default=True)
TariffRule.objects.create(plan=default, name="AC", price_per_kwh=Decimal("12.00"),
                          connector_types=ac)
TariffRule.objects.create(plan=default, name="DC", price_per_kwh=Decimal("18.00"),
                          session_fee=Decimal("20.00"), idle_fee_per_minute=Decimal("5.00"),
                          idle_grace_minutes=10, connector_types=dc)
TariffRule.objects.create(plan=default, name="Night", priority=10,
                          price_per_kwh=Decimal("9.00"), start_time=dtime(23, 0),
                          end_time=dtime(7, 0))
mall = TariffPlan.objects.create(name="Mall parking")
TariffRule.objects.create(plan=mall, name="Mall", price_per_kwh=Decimal("14.00"),
                          price_per_minute=Decimal("1.00"))
TariffAssignment.objects.bulk_create(TariffAssignment(plan=mall, location=loc)
                                     for loc in locations[::10])
visible_locations = [loc.pk for loc in locations if loc.status != "inactive"]
visible = set(visible_locations)
print(json.dumps({
    "locations": len(locations), "stations": len(stations), "connectors": len(connectors),
    "online_stations": sum(1 for s in stations if s.last_seen_at == now and s.connected),
    "visible_location_ids": visible_locations,
    "visible_station_ids": [s.pk for s in stations if s.location_id in visible],
}))
"""


# --------------------------------------------------------------------------
# database
# --------------------------------------------------------------------------


def prepare_database(env: dict, n_locations: int, seed: int) -> dict:
    """Fresh evpower_bench, migrated, with the map fixtures; returns their ids."""
    import psycopg

    t0 = time.monotonic()
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")
    run_checked([sys.executable, "manage.py", "migrate", "--noinput"], env, 900, "migrate")
    out = run_checked(
        [sys.executable, "manage.py", "shell", "-c", FIXTURES % {"n": n_locations, "seed": seed}],
        env,
        900,
        "fixtures",
    )
    data = json.loads(out.strip().splitlines()[-1])
    log(
        f"  prepared database {BENCH_DB} in {time.monotonic() - t0:.1f}s: "
        f"{data['locations']} locations ({len(data['visible_location_ids'])} visible), "
        f"{data['stations']} stations ({data['online_stations']} online), "
        f"{data['connectors']} connectors"
    )
    return data


def flush_bench_redis(env: dict) -> None:
    """Empty the bench's Redis db (map summaries, throttle counters): each server run
    starts from the same cold cache."""
    import redis

    client = redis.Redis.from_url(env["REDIS_URL"])
    try:
        client.flushdb()
    finally:
        client.close()


# --------------------------------------------------------------------------
# a minimal keep-alive HTTP/1.1 client
# --------------------------------------------------------------------------


class HttpError(Exception):
    pass


class Connection:
    """One keep-alive HTTP/1.1 connection; GET only. Reads Content-Length and chunked
    bodies; reconnects after `Connection: close` or an error."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.host_header = f"{host}:{port}".encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        reader = self.reader
        self.writer.write(
            b"GET %s HTTP/1.1\r\nHost: %s\r\nAccept: application/json\r\n\r\n"
            % (path.encode(), self.host_header)
        )
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise HttpError(f"bad status line {lines[0][:80]!r}")
        status = int(parts[1])
        length, chunked, close = None, False, parts[0] == b"HTTP/1.0"
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                close = value.strip().lower() == b"close"
        if chunked:
            body = await self._chunked()
        elif length is not None:
            body = await reader.readexactly(length)
        else:  # delimited by the end of the connection
            body, close = await reader.read(), True
        if close:
            await self.close()
        return status, body

    async def _chunked(self) -> bytes:
        reader, chunks = self.reader, []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                    pass
                return b"".join(chunks)
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)

    async def close(self) -> None:
        writer, self.reader, self.writer = self.writer, None, None
        if writer is not None:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass


# --------------------------------------------------------------------------
# one endpoint under load
# --------------------------------------------------------------------------


async def run_endpoint(name: str, make_path, port: int, server_pid: int, args) -> dict:
    """--clients closed-loop clients for warm-up + duration; statistics over the
    answers received within the measured window."""
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    errors: dict[str, int] = {}
    body_bytes = [0]
    meter_box: dict = {}
    loop_start = time.perf_counter() + 0.2
    w0 = loop_start + args.warmup
    w1 = w0 + args.duration
    first_bodies: list[bytes] = []

    async def client(i: int) -> None:
        conn = Connection(HOST, port)
        rng = random.Random(args.seed * 1000 + i)
        clock = time.perf_counter
        try:
            await asyncio.sleep(max(0.0, loop_start - clock()))
            while True:
                t0 = clock()
                if t0 >= w1:
                    break
                try:
                    async with asyncio.timeout(args.request_timeout):
                        status, body = await conn.get(make_path(rng))
                except (
                    OSError,
                    TimeoutError,
                    asyncio.IncompleteReadError,
                    asyncio.LimitOverrunError,
                    HttpError,
                    ValueError,
                ) as exc:
                    await conn.close()
                    t1 = clock()
                    if w0 <= t1 <= w1:
                        key = type(exc).__name__
                        errors[key] = errors.get(key, 0) + 1
                    if t1 < w1:
                        await asyncio.sleep(0.01)  # no hot loop against a dead server
                    continue
                t1 = clock()
                if not first_bodies:
                    first_bodies.append(body)
                if w0 <= t1 <= w1:
                    latencies.append(t1 - t0)
                    key = str(status)
                    statuses[key] = statuses.get(key, 0) + 1
                    body_bytes[0] += len(body)
        finally:
            await conn.close()

    async def meter() -> None:
        await asyncio.sleep(max(0.0, w0 - time.perf_counter()))
        m = CpuMeter(server_pid)
        await asyncio.sleep(max(0.0, w1 - time.perf_counter()))
        meter_box.update(m.read())

    await asyncio.gather(meter(), *(client(i) for i in range(args.clients)))
    lat = sorted(latencies)
    answered = len(lat)
    non_200 = answered - statuses.get("200", 0) + sum(errors.values())
    result = {
        "endpoint": name,
        "requests": answered,
        "req_s": round(answered / args.duration, 1),
        "p50_ms": round(1000 * percentile(lat, 50), 2) if lat else None,
        "p95_ms": round(1000 * percentile(lat, 95), 2) if lat else None,
        "p99_ms": round(1000 * percentile(lat, 99), 2) if lat else None,
        "max_ms": round(1000 * lat[-1], 2) if lat else None,
        "non_200": non_200,
        "statuses": statuses,
        "errors": errors,
        "mean_body_bytes": round(body_bytes[0] / answered) if answered else None,
        **meter_box,
    }
    if first_bodies:
        result["sample"] = first_bodies[0][:200].decode(errors="replace")
    return result


# --------------------------------------------------------------------------
# one server run
# --------------------------------------------------------------------------


def endpoints(ids: dict) -> list[tuple[str, object]]:
    locs, stations = ids["visible_location_ids"], ids["visible_station_ids"]
    return [
        (f"GET {MAP_PATH}", lambda rng: MAP_PATH),
        ("GET /api/v1/locations/{id}", lambda rng: f"/api/v1/locations/{rng.choice(locs)}"),
        ("GET /api/v1/stations/{id}", lambda rng: f"/api/v1/stations/{rng.choice(stations)}"),
    ]


async def wait_ready(port: int, timeout: float) -> None:
    """Until the map answers 200 (uvicorn's workers may still be importing Django)."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        conn = Connection(HOST, port)
        try:
            async with asyncio.timeout(5):
                status, body = await conn.get(MAP_PATH)
            if status == 200:
                return
            last = f"HTTP {status}: {body[:300]!r}"
        except (OSError, TimeoutError, asyncio.IncompleteReadError, HttpError) as exc:
            last = f"{type(exc).__name__}: {exc}"
        finally:
            await conn.close()
        await asyncio.sleep(0.2)
    raise RuntimeError(f"the map did not answer 200 within {timeout:g}s: {last}")


def run_server(workers: int, env: dict, ids: dict, args) -> dict:
    log(f"\n== uvicorn, {workers} worker{'s' if workers > 1 else ''}")
    result: dict = {"workers": workers, "endpoints": []}
    flush_bench_redis(env)
    port = free_port()
    cmd = uvicorn_command(port) + (["--workers", str(workers)] if workers > 1 else [])
    result["command"] = " ".join(cmd)
    proc, log_path = launch_server(cmd, env, "api-read-bench-")
    try:
        wait_for_port(port, proc, log_path, args.start_timeout)
        asyncio.run(wait_ready(port, args.start_timeout))
        log(
            f"  uvicorn pid {proc.pid} on {HOST}:{port} (log {log_path}), "
            f"processes {process_tree(proc.pid)}"
        )
        for name, make_path in endpoints(ids):
            if args.pause_before:
                log(
                    f"  {name}: starting in {args.pause_before:g}s (e.g. attach a profiler "
                    f"to {process_tree(proc.pid)})"
                )
                time.sleep(args.pause_before)
            r = asyncio.run(run_endpoint(name, make_path, port, proc.pid, args))
            result["endpoints"].append(r)
            log(
                f"  {name}: {r['req_s']} req/s, p50 {r['p50_ms']} p95 {r['p95_ms']} "
                f"p99 {r['p99_ms']} ms, non-200 {r['non_200']}, srv cpu "
                f"{r.get('server_cpu_pct')}% {r.get('server_cpu_pct_per_process')}"
            )
            if r["non_200"]:
                log(f"    statuses {r['statuses']}, errors {r['errors']}, sample {r.get('sample')}")
    except Exception as exc:
        result["failed"] = f"{type(exc).__name__}: {exc}"
        log(f"  FAILED: {result['failed']}")
    finally:
        result["shutdown"] = stop_process(proc)
        log(f"  server {result['shutdown']}")
    result["server_log"] = scan_server_log(log_path)
    if result["server_log"]["error_lines"]:
        log(f"  server log has {result['server_log']['error_lines']} error-looking lines, e.g.:")
        for line in result["server_log"]["samples"]:
            log(f"    {line[:300]}")
    target = result["endpoints"][0] if result["endpoints"] else None
    result["pass"] = bool(
        target
        and not result.get("failed")
        and target["non_200"] == 0
        and target["req_s"] >= TARGET_RPS
        and target["p95_ms"] is not None
        and target["p95_ms"] < TARGET_P95_MS
    )
    return result


# --------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------


def fmt(value, spec: str) -> str:
    if isinstance(value, (int, float)):
        return format(value, spec)
    return format("-", ">" + spec.split(".")[0])


def print_report(ids: dict, runs: list[dict], args) -> None:
    print(
        f"EvPower map API read: {ids['locations']} locations, {ids['stations']} stations "
        f"({ids['online_stations']} online), {ids['connectors']} connectors; "
        f"{args.clients} keep-alive clients, {args.duration:g}s measured after "
        f"{args.warmup:g}s warm-up per endpoint; {os.cpu_count()} CPUs"
    )
    print(
        "server env: DEBUG=false, THROTTLE_RATE_ANON=1000000/minute (raised: all clients "
        "share 127.0.0.1, the default 120/minute;2000/hour would answer 429)"
        + "".join(f", {item}" for item in args.evpower_env)
    )
    for run in runs:
        print(f"\nuvicorn --workers {run['workers']}  ({run['command']})")
        header = (
            f"{'endpoint':<58} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} "
            f"{'non-200':>7} {'srv cpu%':>8} {'gen cpu%':>8} {'mach%':>6}"
        )
        print(header)
        print("-" * len(header))
        for r in run["endpoints"]:
            print(
                f"{r['endpoint']:<58} {fmt(r['req_s'], '7.1f')} {fmt(r['p50_ms'], '7.1f')} "
                f"{fmt(r['p95_ms'], '7.1f')} {fmt(r['p99_ms'], '7.1f')} {r['non_200']:>7} "
                f"{fmt(r.get('server_cpu_pct'), '8.1f')} "
                f"{fmt(r.get('loadgen_cpu_pct'), '8.1f')} "
                f"{fmt(r.get('machine_busy_pct'), '6.1f')}"
            )
        if run["workers"] > 1:
            for r in run["endpoints"]:
                print(
                    f"  {r['endpoint'][:40]}: cpu% per process "
                    f"{r.get('server_cpu_pct_per_process')}"
                )
        for r in run["endpoints"]:
            if r["non_200"]:
                print(f"  {r['endpoint']}: statuses {r['statuses']} errors {r['errors']}")
        if run.get("failed"):
            print(f"  FAILED: {run['failed'].splitlines()[0]}")
        if run["server_log"]["error_lines"]:
            print(
                f"  {run['server_log']['error_lines']} error-looking lines in "
                f"{run['server_log']['path']}"
            )
        target = run["endpoints"][0] if run["endpoints"] else {}
        print(
            f"map read >= {TARGET_RPS:g} req/s with p95 < {TARGET_P95_MS:g} ms: "
            f"{'PASS' if run['pass'] else 'FAIL'} ({fmt(target.get('req_s'), '.1f')} req/s, "
            f"p95 {fmt(target.get('p95_ms'), '.1f')} ms, --workers {run['workers']})"
        )


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="EvPower map API read bench")
    p.add_argument("--clients", type=int, default=50, help="concurrent keep-alive clients (50)")
    p.add_argument(
        "--duration", type=float, default=10.0, help="measured seconds per endpoint (10)"
    )
    p.add_argument(
        "--warmup",
        type=float,
        default=2.0,
        help="unmeasured seconds before each endpoint's window (2)",
    )
    p.add_argument(
        "--workers",
        default="1",
        help="uvicorn --workers; a comma-separated list runs one server per value "
        "on the same data, e.g. 1,2 (default 1)",
    )
    p.add_argument("--locations", type=int, default=200, help="locations in the data (200)")
    p.add_argument("--seed", type=int, default=1, help="random seed of data and ids (1)")
    p.add_argument(
        "--request-timeout", type=float, default=10.0, help="per-request timeout (s, 10)"
    )
    p.add_argument("--start-timeout", type=float, default=60.0, help="server start timeout (s)")
    p.add_argument(
        "--pause-before",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="sleep before each endpoint (time to attach a profiler; default 0)",
    )
    p.add_argument(
        "--evpower-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra server environment (repeatable), e.g. DB_CONN_MAX_AGE=0",
    )
    p.add_argument(
        "--lock-wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait that long for another bench run to finish (default: fail)",
    )
    p.add_argument("--json", action="store_true", help="print machine-readable results on stdout")
    args = p.parse_args(argv)
    for item in args.evpower_env:
        if "=" not in item:
            p.error(f"--evpower-env expects KEY=VALUE, got {item!r}")
    try:
        args.workers = [int(w) for w in args.workers.split(",")]
    except ValueError:
        p.error(f"--workers expects N or N,M,...: {args.workers!r}")
    if (
        args.clients < 1
        or args.duration <= 0
        or args.warmup < 0
        or args.locations < 1
        or any(w < 1 for w in args.workers)
    ):
        p.error("--clients, --duration, --locations and --workers must be positive")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    lock = take_run_lock(args.lock_wait)  # noqa: F841 - released when the process exits
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    extra = dict(item.split("=", 1) for item in args.evpower_env)
    env = evpower_env({**SERVER_ENV, **extra})
    ids = prepare_database(env, args.locations, args.seed)
    runs = [run_server(w, env, ids, args) for w in args.workers]
    if args.json:
        print(
            json.dumps(
                {
                    "clients": args.clients,
                    "duration_s": args.duration,
                    "warmup_s": args.warmup,
                    "cpus": os.cpu_count(),
                    "server_env": SERVER_ENV,
                    "extra_env": extra,
                    "target": {
                        "endpoint": MAP_PATH,
                        "min_req_s": TARGET_RPS,
                        "max_p95_ms": TARGET_P95_MS,
                    },
                    "data": {k: v for k, v in ids.items() if not k.endswith("_ids")},
                    "runs": runs,
                },
                indent=2,
            )
        )
    else:
        print()
        print_report(ids, runs, args)
    return 0 if all(r["pass"] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
