"""Process B of bench/command_latency.py: sends commands with `send_command` and times them.

Runs under the project's Django settings (environment from bench/common.EVPOWER_ENV,
passed by the bench) in a process of its own, as a view, an admin action or a worker
would: the command reaches the process holding the charger's socket only through the
Redis channel layer.

One thread per station: each sends `--warmup` commands, waits for the others (barrier),
then sends `--commands` commands, one after the other (the next once the previous has
returned), timing each call with time.perf_counter. The result goes to stdout as one
JSON object:

    {"stations": {"BENCH-0001": [{"wall_ms": .., "status": .., "duration_ms": ..,
                                  "command_id": .., "warmup": bool, "phases": {..}}, ...]},
     "measured_wall_s": .., "pid": ..}

With --phases, the steps of send_command are timed by wrapping the module globals it
looks up at call time (ocpp_bridge.commands.command_start, _precheck, async_to_sync,
_deliver, _reply_layer, command_finish) and the channel layer's send/receive; without
it the code runs unpatched.

    .venv/bin/python bench/command_driver.py --stations BENCH-0001[,BENCH-0002...]
        [--commands 500] [--warmup 20] [--action TriggerMessage] [--phases]
"""

from __future__ import annotations

import argparse
import contextvars
import functools
import json
import os
import sys
import threading
import time
from pathlib import Path

from common import cpu_seconds, machine_cpu

REPO = Path(__file__).resolve().parent.parent
PAYLOADS = {
    "TriggerMessage": {"requestedMessage": "Heartbeat"},
    "Reset": {"type": "Soft"},
    "ChangeConfiguration": {"key": "HeartbeatInterval", "value": "300"},
    "GetConfiguration": {},
}

# The phase dict of the command being timed. async_to_sync runs _deliver in a thread
# and event loop of its own but copies the caller's context, so the same dict is seen
# on both sides.
_phases: contextvars.ContextVar[dict | None] = contextvars.ContextVar("phases", default=None)


def _add(name: str, seconds: float) -> None:
    phases = _phases.get()
    if phases is not None:
        phases[name] = phases.get(name, 0.0) + seconds * 1000


def _timed_sync(name: str, fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            _add(name, time.perf_counter() - t0)

    return wrapper


def _timed_async(name: str, fn):
    @functools.wraps(fn)
    async def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return await fn(*args, **kwargs)
        finally:
            _add(name, time.perf_counter() - t0)

    return wrapper


def install_phase_timers() -> None:
    """Wrap the steps of send_command (module globals, looked up at call time)."""
    from channels_redis.core import RedisChannelLayer

    from ocpp_bridge import commands

    commands.command_start = _timed_sync("db_command_start", commands.command_start)
    commands._precheck = _timed_sync("precheck_validate_refresh", commands._precheck)
    commands.command_finish = _timed_sync("db_command_finish", commands.command_finish)
    commands._reply_layer = _timed_sync("layer_make", commands._reply_layer)
    # The whole async_to_sync(_deliver)(...) call, as seen by the calling thread ...
    real_a2s = commands.async_to_sync
    commands.async_to_sync = lambda fn: _timed_sync("async_to_sync_call", real_a2s(fn))
    # ... and the coroutine inside its event loop; the difference is async_to_sync's own
    # cost: a new thread, a new event loop, and closing the loop (which flushes the
    # layer's Redis connections of that loop).
    commands._deliver = _timed_async("deliver_coroutine", commands._deliver)

    real_send, real_receive = RedisChannelLayer.send, RedisChannelLayer.receive

    async def send(self, channel, message):
        t0 = time.perf_counter()
        try:
            return await real_send(self, channel, message)
        finally:
            _add("redis_send_command", time.perf_counter() - t0)

    async def receive(self, channel):
        t0 = time.perf_counter()
        phases = _phases.get()
        first = phases is not None and "redis_receive_ack" not in phases
        try:
            return await real_receive(self, channel)
        finally:
            _add("redis_receive_ack" if first else "redis_receive_final", time.perf_counter() - t0)

    RedisChannelLayer.send, RedisChannelLayer.receive = send, receive


def cpu_snapshot(server_pid: int | None) -> dict:
    total, idle = machine_cpu()
    return {
        "wall": time.perf_counter(),
        "self": sum(os.times()[:2]),
        "server": cpu_seconds(server_pid) if server_pid else None,
        "machine": total,
        "machine_idle": idle,
    }


def cpu_use(before: dict, after: dict) -> dict:
    """CPU seconds of this process and of the server, and the machine's busy share."""
    dt, di = after["machine"] - before["machine"], after["machine_idle"] - before["machine_idle"]
    return {
        "driver_cpu_s": round(after["self"] - before["self"], 3),
        "server_cpu_s": (
            round(after["server"] - before["server"], 3) if before["server"] is not None else None
        ),
        "machine_busy_pct": round(100 * (dt - di) / dt, 1) if dt else None,
    }


def run_station(identity: str, args, barrier: threading.Barrier, out: list, errors: list) -> None:
    from django.db import connections

    from ocpp_bridge.commands import send_command
    from stations.models import Station

    try:
        station = Station.objects.get(identity=identity)
        payload = PAYLOADS[args.action]
        for i in range(args.warmup + args.commands):
            if i == args.warmup:
                barrier.wait(timeout=args.barrier_timeout)
            phases: dict | None = {} if args.phases else None
            token = _phases.set(phases)
            t0 = time.perf_counter()
            result = send_command(
                station=station, action=args.action, payload=payload, requested_by="bench"
            )
            wall = time.perf_counter() - t0
            _phases.reset(token)
            row = {
                "wall_ms": round(wall * 1000, 4),
                "status": str(result.status),
                "duration_ms": result.duration_ms,
                "command_id": result.command_id,
                "warmup": i < args.warmup,
            }
            if result.error_description:
                row["error"] = f"{result.error_code} {result.error_description}".strip()
            if phases is not None:
                row["phases"] = {k: round(v, 4) for k, v in phases.items()}
            out.append(row)
    except threading.BrokenBarrierError:
        errors.append(f"{identity}: another station's thread failed before the measured phase")
    except Exception as exc:
        errors.append(f"{identity}: {type(exc).__name__}: {exc}")
        barrier.abort()
    finally:
        connections.close_all()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--stations", required=True, help="comma-separated station identities")
    p.add_argument("--commands", type=int, default=500, help="measured commands per station")
    p.add_argument("--warmup", type=int, default=20, help="unmeasured commands per station first")
    p.add_argument("--action", choices=sorted(PAYLOADS), default="TriggerMessage")
    p.add_argument(
        "--phases", action="store_true", help="time the steps inside send_command (wraps them)"
    )
    p.add_argument(
        "--server-pid",
        type=int,
        help="process A, whose CPU use over the measured phase is reported too",
    )
    p.add_argument("--barrier-timeout", type=float, default=120.0)
    args = p.parse_args(argv)

    sys.path.insert(0, str(REPO))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evpower.settings")
    import django

    django.setup()
    if args.phases:
        install_phase_timers()

    identities = args.stations.split(",")
    barrier = threading.Barrier(len(identities) + 1)
    rows: dict[str, list] = {ident: [] for ident in identities}
    errors: list[str] = []
    threads = [
        threading.Thread(
            target=run_station,
            name=f"driver-{ident}",
            args=(ident, args, barrier, rows[ident], errors),
            daemon=True,
        )
        for ident in identities
    ]
    for t in threads:
        t.start()
    measured_wall = cpu = None
    try:
        barrier.wait(timeout=args.barrier_timeout)  # every thread has finished its warm-up
        before = cpu_snapshot(args.server_pid)
        for t in threads:
            t.join()
        after = cpu_snapshot(args.server_pid)
        measured_wall = after["wall"] - before["wall"]
        cpu = cpu_use(before, after)
    except threading.BrokenBarrierError:
        for t in threads:
            t.join(timeout=5)
    json.dump(
        {
            "pid": os.getpid(),
            "action": args.action,
            "stations": rows,
            "errors": errors,
            "measured_wall_s": measured_wall,
            "cpu": cpu,
        },
        sys.stdout,
    )
    sys.stdout.write("\n")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
