"""Command latency bench: how much time the platform adds to a command to a charger.

    process B (bench/command_driver.py)            process A (uvicorn, evpower.asgi)
    send_command(station, "TriggerMessage") --Redis channel layer--> consumer of the
    CommandRecord insert/update, PostgreSQL        charger's socket --WebSocket--> charger

Setup as in bench/ocpp_throughput.py (bench/common.py): a fresh database
`evpower_bench` with K stations, uvicorn serving evpower.asgi:application on
127.0.0.1 (process A). K simulated chargers, raw `websockets` clients living in this
process, connect to A and boot; from then on each answers every CALL at once with a
CALLRESULT for its action ({"status": "Accepted"} for TriggerMessage ...) and records
its own think time (CALL received -> answer sent). Process B, a separate Python
process under the same settings and environment, runs one thread per station; each
sends --warmup commands, then --commands more, sequentially, timing every
send_command() call.

Per command: platform-added = B's wall time of send_command - the charger's think time
for that command (matched by order per station: commands to one station are
sequential). The target is p99 <= 20 ms.

    .venv/bin/python bench/command_latency.py [--commands 500] [--concurrency 1]
        [--warmup 20] [--phases] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from collections import Counter

import loadgen
from common import (
    HOST,
    REPO,
    evpower_env,
    free_port,
    identity,
    launch_server,
    log,
    prepare_evpower,
    scan_server_log,
    stop_process,
    take_run_lock,
    uvicorn_command,
    wait_for_port,
)
from loadgen import percentile
from websockets.exceptions import ConnectionClosed

TARGET_P99_MS = 20.0
ACCEPTED = "accepted"  # CommandRecord.Status.ACCEPTED

# Answers a charger gives at once, per action; the message id is %-formatted in
# (ids from the central system are uuid4 strings: no escaping needed).
_ACCEPTED = '[3,"%s",{"status":"Accepted"}]'
REPLIES = {
    "TriggerMessage": _ACCEPTED,
    "Reset": _ACCEPTED,
    "ChangeConfiguration": _ACCEPTED,
    "ChangeAvailability": _ACCEPTED,
    "ClearCache": _ACCEPTED,
    "ClearChargingProfile": _ACCEPTED,
    "SetChargingProfile": _ACCEPTED,
    "RemoteStartTransaction": _ACCEPTED,
    "RemoteStopTransaction": _ACCEPTED,
    "CancelReservation": _ACCEPTED,
    "ReserveNow": _ACCEPTED,
    "SendLocalList": _ACCEPTED,
    "UnlockConnector": '[3,"%s",{"status":"Unlocked"}]',
    "GetConfiguration": '[3,"%s",{"configurationKey":[],"unknownKey":[]}]',
    "GetLocalListVersion": '[3,"%s",{"listVersion":0}]',
    "GetDiagnostics": '[3,"%s",{}]',
    "UpdateFirmware": '[3,"%s",{}]',
}
NOT_IMPLEMENTED = '[4,"%s","NotImplemented","bench charger",{}]'


class AnsweringCharger:
    """A booted charger that answers every CALL at once and logs its think time."""

    def __init__(self, index: int, ident: str, port: int):
        self.identity = ident
        self.charger = loadgen.Charger(
            index, ident, f"ws://{HOST}:{port}/ocpp/{ident}", 0.0, loadgen.Stats()
        )
        self.calls: list[tuple[str, str, float]] = []  # (message id, action, think seconds)
        self.unexpected: Counter = Counter()
        self.task: asyncio.Task | None = None

    async def connect_and_boot(self, open_timeout: float, reply_timeout: float) -> None:
        ch = self.charger
        await ch.open(open_timeout)
        mid = ch._next_id()
        reply = await ch.call(
            "BootNotification", mid, loadgen.BOOT % (mid, self.identity), reply_timeout
        )
        if reply.get("status") != "Accepted":
            raise RuntimeError(f"{self.identity}: BootNotification {reply.get('status')!r}")
        self.task = asyncio.get_running_loop().create_task(self._answer())

    async def _answer(self) -> None:
        ws, clock, calls = self.charger.ws, time.perf_counter, self.calls
        try:
            while True:
                raw = await ws.recv()
                t_in = clock()
                msg = json.loads(raw)
                if msg[0] != 2:
                    self.unexpected[f"message type {msg[0]}"] += 1
                    continue
                template = REPLIES.get(msg[2])
                if template is None:
                    self.unexpected[f"unanswerable {msg[2]}"] += 1
                    template = NOT_IMPLEMENTED
                await ws.send(template % msg[1])
                calls.append((msg[1], msg[2], clock() - t_in))
        except ConnectionClosed as exc:
            self.unexpected[loadgen.describe_error(exc)] += 1

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        await self.charger.close()


async def run_driver(env: dict, stations: list[str], server_pid: int, args) -> dict:
    """Process B; killed (whole process group) if it outlives the bench."""
    cmd = [
        sys.executable,
        str(REPO / "bench" / "command_driver.py"),
        "--stations",
        ",".join(stations),
        "--commands",
        str(args.commands),
        "--warmup",
        str(args.warmup),
        "--action",
        args.action,
        "--server-pid",
        str(server_pid),
    ]
    if args.phases:
        cmd.append("--phases")
    proc = await asyncio.create_subprocess_exec(
        *cmd,
        cwd=REPO,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        stdout, stderr = await proc.communicate()
    finally:
        if proc.returncode is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            await proc.wait()
    try:
        result = json.loads(stdout.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise RuntimeError(
            f"driver exited with code {proc.returncode} without a result:\n"
            f"{stderr.decode(errors='replace')[-3000:]}"
        ) from None
    result["returncode"] = proc.returncode
    result["stderr_tail"] = stderr.decode(errors="replace")[-2000:]
    return result


async def measure(port: int, server_pid: int, env: dict, args, out: dict) -> None:
    k = args.concurrency
    idents = [identity(i, k) for i in range(1, k + 1)]
    chargers = [AnsweringCharger(i, ident, port) for i, ident in enumerate(idents, 1)]
    try:
        await asyncio.gather(
            *(c.connect_and_boot(args.open_timeout, args.reply_timeout) for c in chargers)
        )
        log(f"  {k} charger(s) connected and booted; starting the driver (process B)")
        t0 = time.perf_counter()
        out["driver"] = await run_driver(env, idents, server_pid, args)
        log(f"  driver finished in {time.perf_counter() - t0:.1f}s")
        await asyncio.sleep(0.2)  # let the last answers' bookkeeping settle
    finally:
        out["charger_calls"] = {c.identity: c.calls for c in chargers}
        out["charger_unexpected"] = {
            c.identity: dict(c.unexpected) for c in chargers if c.unexpected
        }
        await asyncio.gather(*(c.close() for c in chargers))


# --------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------

# Phases measured one after the other by the calling thread (see command_driver.py);
# the others are nested inside async_to_sync_call.
TOP_LEVEL_PHASES = (
    "db_command_start",
    "precheck_validate_refresh",
    "async_to_sync_call",
    "db_command_finish",
)


def stats_ms(values: list[float], pcts=(50, 90, 99)) -> dict:
    values = sorted(values)
    if not values:
        return {}
    out = {f"p{p}": round(percentile(values, p), 3) for p in pcts}
    out["max"] = round(values[-1], 3)
    out["mean"] = round(sum(values) / len(values), 3)
    return out


def analyse(raw: dict, args) -> dict:
    driver = raw.get("driver") or {}
    rows_by_station = driver.get("stations") or {}
    calls_by_station = raw.get("charger_calls") or {}
    problems: list[str] = list(driver.get("errors") or [])
    wall, think, platform, duration = [], [], [], []
    statuses: Counter = Counter()
    error_samples: dict = {}
    phases: dict[str, list[float]] = {}
    for ident, rows in rows_by_station.items():
        calls = calls_by_station.get(ident, [])
        if len(calls) != len(rows):
            problems.append(
                f"{ident}: {len(rows)} commands sent but the charger got "
                f"{len(calls)} CALLs; platform-added time not computed for it"
            )
            calls = None
        for i, row in enumerate(rows):
            if row["warmup"]:
                continue
            statuses[row["status"]] += 1
            if row["status"] != ACCEPTED:
                error_samples.setdefault(row["status"], row.get("error", ""))
            wall.append(row["wall_ms"])
            if row.get("duration_ms") is not None:
                duration.append(row["duration_ms"])
            for name, ms in (row.get("phases") or {}).items():
                phases.setdefault(name, []).append(ms)
            if row.get("phases"):
                phases.setdefault("residual (wall - phases above)", []).append(
                    row["wall_ms"]
                    - sum(ms for name, ms in row["phases"].items() if name in TOP_LEVEL_PHASES)
                )
            if calls is not None:
                _mid, action, think_s = calls[i]
                if action != args.action:
                    problems.append(f"{ident}: command {i} arrived as {action}")
                think.append(think_s * 1000)
                platform.append(row["wall_ms"] - think_s * 1000)
    measured = sum(statuses.values())
    non_accepted = measured - statuses.get(ACCEPTED, 0)
    unexpected = raw.get("charger_unexpected") or {}
    for ident, counts in unexpected.items():
        problems.append(f"{ident}: charger saw {counts}")
    p99 = stats_ms(platform).get("p99")
    expected = args.commands * args.concurrency
    if measured != expected:
        problems.append(f"{measured} measured commands, expected {expected}")
    verdict = (
        "PASS"
        if p99 is not None
        and p99 <= TARGET_P99_MS
        and non_accepted == 0
        and len(platform) == expected
        else "FAIL"
    )
    measured_wall = driver.get("measured_wall_s")
    cpu = dict(driver.get("cpu") or {})
    if measured and measured_wall:
        for who in ("driver", "server"):
            if cpu.get(f"{who}_cpu_s") is not None:
                cpu[f"{who}_cpu_pct"] = round(100 * cpu[f"{who}_cpu_s"] / measured_wall, 1)
                cpu[f"{who}_cpu_ms_per_command"] = round(1000 * cpu[f"{who}_cpu_s"] / measured, 3)
    return {
        "action": args.action,
        "concurrency": args.concurrency,
        "commands_per_station": args.commands,
        "warmup_per_station": args.warmup,
        "measured_commands": measured,
        "platform_added_ms": stats_ms(platform),
        "charger_think_ms": stats_ms(think),
        "round_trip_ms": stats_ms(wall),
        "command_duration_ms_field": stats_ms(duration),
        "statuses": dict(statuses),
        "non_accepted": non_accepted,
        "non_accepted_samples": error_samples,
        "commands_per_second": (round(measured / measured_wall, 1) if measured_wall else None),
        "cpu": cpu,
        "phases_ms": {name: stats_ms(v) for name, v in phases.items()},
        "target_p99_ms": TARGET_P99_MS,
        "verdict": verdict,
        "problems": problems,
    }


def fmt(d: dict, key: str, spec: str = "8.2f") -> str:
    value = d.get(key)
    return format(value, spec) if isinstance(value, (int, float)) else format("-", ">8")


def print_report(res: dict) -> None:
    print(
        f"Command latency: {res['action']} via send_command, process B -> Redis channel "
        f"layer -> uvicorn process A -> charger and back, {res['concurrency']} station(s) "
        f"in parallel x {res['commands_per_station']} sequential commands "
        f"({res['warmup_per_station']} warm-up each), {os.cpu_count()} CPUs"
    )
    print(f"{'ms':<36} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8}")
    for label, key in (
        ("platform-added (round trip - think)", "platform_added_ms"),
        ("raw round trip (B's wall time)", "round_trip_ms"),
        ("charger think time", "charger_think_ms"),
        ("CommandResult.duration_ms", "command_duration_ms_field"),
    ):
        d = res[key]
        print(f"{label:<36} {fmt(d, 'p50')} {fmt(d, 'p90')} {fmt(d, 'p99')} {fmt(d, 'max')}")
    if res["phases_ms"]:
        print("phases inside send_command (ms):")
        for name, d in res["phases_ms"].items():
            indent = "  " if name in TOP_LEVEL_PHASES or name.startswith("residual") else "    "
            print(
                f"{indent + name:<36} {fmt(d, 'p50')} {fmt(d, 'p90')} {fmt(d, 'p99')} "
                f"{fmt(d, 'max')}"
            )
    d = res["platform_added_ms"]
    print(
        f"platform-added p50/p90/p99/max ms: {d.get('p50')} / {d.get('p90')} / "
        f"{d.get('p99')} / {d.get('max')}"
    )
    print(f"charger think p50 ms: {res['charger_think_ms'].get('p50')}")
    print(
        f"raw round trip p50/p99 ms: {res['round_trip_ms'].get('p50')} / "
        f"{res['round_trip_ms'].get('p99')}"
    )
    print(
        f"measured commands: {res['measured_commands']}, "
        f"throughput {res['commands_per_second']} commands/s"
    )
    cpu = res["cpu"]
    if cpu.get("driver_cpu_pct") is not None:
        print(
            f"CPU over the measured phase: process B (driver) {cpu['driver_cpu_pct']}% of a "
            f"core = {cpu['driver_cpu_ms_per_command']} ms/command; process A (uvicorn) "
            f"{cpu.get('server_cpu_pct')}% = {cpu.get('server_cpu_ms_per_command')} ms/command; "
            f"machine {cpu['machine_busy_pct']}% busy (all {os.cpu_count()} CPUs)"
        )
    print(
        f"non-accepted results: {res['non_accepted']}"
        + (f" {res['statuses']} e.g. {res['non_accepted_samples']}" if res["non_accepted"] else "")
    )
    for problem in res["problems"]:
        print(f"problem: {problem}")
    print(f"target p99 <= {TARGET_P99_MS:g} ms: {res['verdict']}")


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="Time the platform adds to a command to a charger")
    p.add_argument(
        "--commands", type=int, default=500, help="measured commands per station (default 500)"
    )
    p.add_argument(
        "--warmup", type=int, default=20, help="unmeasured commands per station first (default 20)"
    )
    p.add_argument(
        "--concurrency",
        type=int,
        default=1,
        help="driver threads, each with a station/charger of its own (default 1)",
    )
    p.add_argument(
        "--action",
        default="TriggerMessage",
        choices=["TriggerMessage", "Reset", "ChangeConfiguration", "GetConfiguration"],
        help="command sent (default TriggerMessage Heartbeat)",
    )
    p.add_argument(
        "--phases",
        action="store_true",
        help="also time the steps inside send_command (the driver wraps them)",
    )
    p.add_argument(
        "--open-timeout", type=float, default=30.0, help="WebSocket handshake timeout (s)"
    )
    p.add_argument(
        "--reply-timeout", type=float, default=10.0, help="BootNotification reply timeout (s)"
    )
    p.add_argument("--start-timeout", type=float, default=60.0, help="server start timeout (s)")
    p.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        help="upper bound for connecting and driving (s, default 600)",
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
    if args.commands < 1 or args.concurrency < 1 or args.warmup < 0:
        p.error("--commands and --concurrency must be >= 1, --warmup >= 0")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    lock = take_run_lock(args.lock_wait)  # noqa: F841 - released when the process exits
    # Turn SIGTERM into an exception so that the finally blocks stop the server.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    env = evpower_env()
    log(f"== command latency, {args.concurrency} station(s)")
    prepare_evpower(env, args.concurrency)
    port = free_port()
    raw: dict = {}
    failed = None
    proc, log_path = launch_server(uvicorn_command(port), env, "command-latency-evpower-")
    try:
        wait_for_port(port, proc, log_path, args.start_timeout)
        log(f"  uvicorn pid {proc.pid} (process A) listening on {HOST}:{port} (log {log_path})")
        asyncio.run(asyncio.wait_for(measure(port, proc.pid, env, args, raw), timeout=args.timeout))
    except Exception as exc:
        if isinstance(exc, TimeoutError):
            exc = RuntimeError(f"run exceeded --timeout {args.timeout:g}s")
        failed = f"{type(exc).__name__}: {exc}"
        log(f"  FAILED: {failed}")
    finally:
        shutdown = stop_process(proc)
        log(f"  server {shutdown}")
    res = analyse(raw, args)
    res["server_shutdown"] = shutdown
    res["server_log"] = scan_server_log(log_path)
    if failed:
        res["failed"] = failed
        res["verdict"] = "FAIL"
    driver = raw.get("driver") or {}
    if driver.get("returncode"):
        res["problems"].append(
            f"driver exited with code {driver['returncode']}: "
            f"{driver.get('stderr_tail', '')[-500:]}"
        )
    if res["server_log"]["error_lines"]:
        res["problems"].append(
            f"{res['server_log']['error_lines']} error-looking lines in "
            f"{log_path}, e.g. {res['server_log']['samples'][:2]}"
        )
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        print()
        if failed:
            print(f"FAILED: {failed.splitlines()[0]}")
        print_report(res)
    return 0 if res["verdict"] == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
