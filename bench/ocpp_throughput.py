"""OCPP 1.6J throughput bench: EvPower vs. a bare `ocpp`-library central system.

Runs, in one invocation and under the same load, two central systems as
subprocesses on 127.0.0.1 and drives them with the load generator in
bench/loadgen.py:

  evpower   uvicorn (or daphne) serving evpower.asgi:application, with a fresh
            PostgreSQL database `evpower_bench`, Redis db 5, N stations and
            one id tag;
  baseline  bench/baseline_server.py (ocpp.v16.ChargePoint on websockets.serve).

For each server: connect N chargers (Boot, StatusNotification,
StartTransaction), measure server RSS before/after, then step the offered
Heartbeat/MeterValues rate until p99 >= 50 ms, achieved < 90 % of offered, or
a step has errors. See bench/README.md for the method.

    .venv/bin/python bench/ocpp_throughput.py [--chargers 200] [--step-seconds 5]
        [--max-rate 16000] [--only evpower|baseline] [--server-cmd uvicorn|daphne] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import loadgen
from loadgen import Charger, Stats, StepRecorder, percentile

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"

P99_LIMIT_MS = 50.0
MIN_ACHIEVED_FRACTION = 0.90
# Roughly geometric (+20..50 % per rung) so the sustained figure has a similar
# relative resolution for a slow and for a fast server.
DEFAULT_RATES = [50, 75, 100, 150, 200, 250, 300, 400, 500, 600, 800, 1000, 1250, 1500, 2000,
                 2500, 3000, 3500, 4000, 5000, 6000, 8000, 10000, 12000, 16000]

PG_ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
BENCH_DB = "evpower_bench"
EVPOWER_ENV = {
    "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{BENCH_DB}",
    "REDIS_URL": "redis://127.0.0.1:6379/5",
    "DJANGO_SETTINGS_MODULE": "evpower.settings",
    # Production-like: DEBUG on validates every answer against the schema and keeps a
    # query log, which no deployment runs with.
    "DEBUG": "false",
    # The per-charger flood limiter would throttle the bench itself.
    "OCPP_RATE_PER_SECOND": "1000",
    "OCPP_RATE_BURST": "1000",
}

CLK_TCK = os.sysconf("SC_CLK_TCK")

# Two runs at once would drop each other's database and share the CPUs, so a
# run holds this lock for its whole duration.
LOCK_PATH = Path(tempfile.gettempdir()) / "evpower-ocpp-throughput.lock"


def log(msg: str = "") -> None:
    """Progress goes to stderr so that --json output on stdout stays clean."""
    print(msg, file=sys.stderr, flush=True)


def identity(i: int, n: int) -> str:
    return f"BENCH-{i:0{max(4, len(str(n)))}d}"


# --------------------------------------------------------------------------
# /proc helpers (no psutil): process tree, RSS, CPU time
# --------------------------------------------------------------------------

def _stat_fields(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    # The command name (field 2) may contain spaces; everything after the last
    # ')' is space separated, starting with field 3 (state).
    return data[data.rindex(")") + 2:].split()


def process_tree(root: int) -> list[int]:
    """root and all its descendants (uvicorn/daphne do not fork here, but be safe)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(_stat_fields(int(entry))[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def rss_kib(root: int) -> int:
    """VmRSS summed over the process tree, in KiB."""
    total = 0
    for pid in process_tree(root):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total


def cpu_seconds(root: int) -> float:
    """utime + stime of the process tree, in seconds."""
    ticks = 0
    for pid in process_tree(root):
        try:
            fields = _stat_fields(pid)
            ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
        except (OSError, ValueError, IndexError):
            pass
    return ticks / CLK_TCK


def machine_cpu() -> tuple[int, int]:
    """(total, idle+iowait) jiffies of all CPUs, from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    return sum(values), values[3] + values[4]


class CpuMeter:
    """CPU use of the server, of this (load generator) process and of the machine."""

    def __init__(self, server_pid: int):
        self.server_pid = server_pid
        self.t0 = time.perf_counter()
        self.server0 = cpu_seconds(server_pid)
        self.self0 = sum(os.times()[:2])
        self.machine0 = machine_cpu()

    def read(self) -> dict:
        wall = time.perf_counter() - self.t0
        total, idle = machine_cpu()
        dt, di = total - self.machine0[0], idle - self.machine0[1]
        return {
            # percent of one core
            "server_cpu_pct": round(100 * (cpu_seconds(self.server_pid) - self.server0) / wall, 1),
            "loadgen_cpu_pct": round(100 * (sum(os.times()[:2]) - self.self0) / wall, 1),
            # percent of the whole machine (all cores), includes PostgreSQL/Redis
            "machine_busy_pct": round(100 * (dt - di) / dt, 1) if dt else 0.0,
        }


# --------------------------------------------------------------------------
# server processes
# --------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, log_path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode} before listening:\n"
                               + tail(log_path, 30))
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server did not listen on {HOST}:{port} within {timeout:g}s:\n"
                       + tail(log_path, 30))


def stop_process(proc: subprocess.Popen, grace: float = 10.0) -> str:
    """SIGTERM the server's process group (it runs in its own session), then SIGKILL.

    Returns how it ended, for the report."""
    if proc.poll() is not None:
        return f"had already exited with code {proc.returncode}"
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return "had already exited"
    try:
        proc.wait(timeout=grace)
        return f"exited after SIGTERM (code {proc.returncode})"
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)
        return f"did not exit within {grace:g}s of SIGTERM, killed"


def tail(path: str, n: int) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def scan_server_log(path: str) -> dict:
    """Count error-looking lines in the server's output and keep a few."""
    try:
        with open(path, errors="replace") as f:
            lines = f.readlines()
    except OSError:
        return {"path": path, "error_lines": 0, "samples": []}
    markers = ("Traceback", "ERROR", "Error", "Exception", "CRITICAL")
    hits = [line.rstrip() for line in lines if any(m in line for m in markers)]
    return {"path": path, "lines": len(lines), "error_lines": len(hits),
            "samples": hits[:5] + (["..."] + hits[-5:] if len(hits) > 10 else hits[5:10])}


def run_checked(cmd: list[str], env: dict, timeout: float, what: str) -> str:
    # Commands are built here from fixed parts, never from outside input.
    res = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True,  # noqa: S603
                         timeout=timeout)
    if res.returncode != 0:
        raise RuntimeError(f"{what} failed (exit {res.returncode}):\n"
                           f"{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
    return res.stdout


def prepare_evpower(env: dict, n: int) -> None:
    """Fresh database, migrations, N stations and the bench id tag."""
    import psycopg  # only needed for the EvPower side

    t0 = time.monotonic()
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")
    run_checked([sys.executable, "manage.py", "migrate", "--noinput"], env, 900, "migrate")
    snippet = "\n".join([
        "from stations.services import station_create",
        "from stations.models import IdTag",
        f"for i in range(1, {n} + 1):",
        f"    station_create(identity='BENCH-%0{max(4, len(str(n)))}d' % i, location_name='Bench',",
        f"                   connectors=1, password={loadgen.PASSWORD!r})",
        f"IdTag.objects.create(id_tag={loadgen.ID_TAG!r}, status='Accepted')",
        f"print('bench fixtures created:', {n})",
    ])
    run_checked([sys.executable, "manage.py", "shell", "-c", snippet], env, 900, "fixture creation")
    log(f"  prepared database {BENCH_DB}: migrate + {n} stations in {time.monotonic() - t0:.1f}s")


def server_command(kind: str, port: int, server_cmd: str) -> list[str]:
    if kind == "baseline":
        return [sys.executable, str(REPO / "bench" / "baseline_server.py"),
                "--host", HOST, "--port", str(port)]
    if server_cmd == "daphne":
        return [str(BIN / "daphne"), "-b", HOST, "-p", str(port), "evpower.asgi:application"]
    return [str(BIN / "uvicorn"), "evpower.asgi:application", "--host", HOST, "--port", str(port),
            "--log-level", "warning"]


# --------------------------------------------------------------------------
# the measurement for one server
# --------------------------------------------------------------------------

def summarize_step(rate: float, rec: StepRecorder, window: tuple[float, float], cpu: dict) -> dict:
    w0, w1 = window
    lat = sorted(latency for t, latency in zip(rec.recv_times, rec.latencies, strict=True)
                 if w0 <= t <= w1)
    achieved = len(lat) / (w1 - w0)
    step = {
        "offered": rate,
        "achieved": round(achieved, 1),
        "replies_in_window": len(lat),
        "sent": rec.sent,
        "p50_ms": round(1000 * percentile(lat, 50), 2) if lat else None,
        "p99_ms": round(1000 * percentile(lat, 99), 2) if lat else None,
        "max_ms": round(1000 * lat[-1], 2) if lat else None,
        "errors": sum(rec.errors.values()),
        "error_reasons": dict(rec.errors.most_common(5)),
        **cpu,
    }
    reasons = []
    if step["errors"]:
        top, count = rec.errors.most_common(1)[0]
        reasons.append(f"{step['errors']} errors (most: {count}x {top})")
    if step["p99_ms"] is None or step["p99_ms"] >= P99_LIMIT_MS:
        reasons.append(f"p99 {step['p99_ms']} ms >= {P99_LIMIT_MS:g} ms")
    if achieved < MIN_ACHIEVED_FRACTION * rate:
        reasons.append(f"achieved {achieved:.0f} msg/s < {MIN_ACHIEVED_FRACTION:.0%} "
                       f"of offered {rate:g}")
    step["stop_reasons"] = reasons
    # A step qualifies for the "sustained" figure if latency is fine and it had no errors.
    step["qualifies"] = (not step["errors"] and step["p99_ms"] is not None
                         and step["p99_ms"] < P99_LIMIT_MS)
    return step


async def measure_server(result: dict, port: int, pid: int, args, rates: list[float]) -> None:
    """Fill `result` in place, so that a failure or timeout keeps what was measured."""
    n = args.chargers
    stats = Stats()
    # Charger i sends at phase (i-1)/n of the common interval: sends are spread evenly.
    chargers = [Charger(i, identity(i, n), f"ws://{HOST}:{port}/ocpp/{identity(i, n)}",
                        (i - 1) / n, stats)
                for i in range(1, n + 1)]
    sem = asyncio.Semaphore(args.connect_concurrency)

    async def connect_and_boot(ch: Charger) -> None:
        async with sem:
            try:
                await ch.open(args.open_timeout)
                await ch.boot(args.reply_timeout)
            except Exception as exc:
                ch.dead = stats.error("connect/boot", exc)
                await ch.close()

    result["chargers"] = n
    try:
        # --- connect phase, RSS before/after
        await asyncio.sleep(args.settle_seconds)
        rss_before = rss_kib(pid)
        t0 = time.perf_counter()
        # The first charger alone: its RSS delta includes one-off lazy
        # initialisation (imports, DB connections, caches), which the
        # "marginal" figure leaves out.
        await connect_and_boot(chargers[0])
        first_s = time.perf_counter() - t0
        await asyncio.sleep(args.settle_seconds)
        rss_first = rss_kib(pid)
        t1 = time.perf_counter()
        await asyncio.gather(*(connect_and_boot(ch) for ch in chargers[1:]))
        connect_s = first_s + time.perf_counter() - t1
        await asyncio.sleep(args.settle_seconds)
        rss_after = rss_kib(pid)
        live = [ch for ch in chargers if not ch.dead]
        result.update({
            "connected": len(live),
            "connect_boot_seconds": round(connect_s, 2),
            "rss_before_kib": rss_before, "rss_after_kib": rss_after,
            "rss_per_charger_kib": round((rss_after - rss_before) / len(live), 1) if live else None,
            "rss_marginal_per_charger_kib": (round((rss_after - rss_first) / (len(live) - 1), 1)
                                             if len(live) > 1 and not chargers[0].dead else None),
        })
        log(f"  connected+booted {len(live)}/{n} chargers in {connect_s:.1f}s; "
            f"RSS {rss_before} -> {rss_after} KiB "
            f"({result['rss_per_charger_kib']} KiB/charger, "
            f"marginal {result['rss_marginal_per_charger_kib']})")
        if stats.errors:
            for reason, count in stats.errors.most_common(5):
                log(f"  connect/boot error x{count}: {stats.error_samples[reason]}")
        if not live:
            raise RuntimeError("no charger could connect and boot")

        # --- stepped load (steps are appended to the result as they finish, so a
        # timeout still reports what was measured)
        steps = result["steps"] = []
        log(f"  {'offered':>8} {'achieved':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
            f"{'err':>5} {'srv cpu%':>8} {'gen cpu%':>8} {'mach%':>6}")
        for rate in rates:
            live = [ch for ch in chargers if not ch.dead]
            if not live:
                break
            rec = StepRecorder()
            meter = CpuMeter(pid)
            start = time.perf_counter() + 0.05
            end = start + args.step_seconds
            await asyncio.gather(*(
                ch.run_step(rate / len(live), start, end, rec, args.reply_timeout)
                for ch in live))
            step = summarize_step(rate, rec, (start + args.warmup_seconds, end), meter.read())
            steps.append(step)
            log(f"  {rate:>8g} {step['achieved']:>9.1f} {step['p50_ms'] or float('nan'):>8.2f} "
                f"{step['p99_ms'] or float('nan'):>8.2f} {step['max_ms'] or float('nan'):>8.2f} "
                f"{step['errors']:>5} {step['server_cpu_pct']:>8.1f} "
                f"{step['loadgen_cpu_pct']:>8.1f} {step['machine_busy_pct']:>6.1f}")
            if step["stop_reasons"]:
                log(f"  step {rate:g} msg/s stops the ramp: " + "; ".join(step["stop_reasons"]))
                for reason, count in rec.errors.most_common(5):
                    log(f"    x{count} {stats.error_samples.get(reason, reason)}")
                break
        else:
            log("  highest offered rate reached without saturating the server")

        # --- finish: StopTransaction on every live charger
        async def finish(ch: Charger) -> None:
            async with sem:
                try:
                    await ch.stop(args.reply_timeout)
                except Exception as exc:
                    stats.error("stop", exc)
        await asyncio.gather(*(finish(ch) for ch in chargers if not ch.dead))
    finally:
        await asyncio.gather(*(ch.close() for ch in chargers))
        for reason, count in stats.errors.most_common():
            if reason.startswith("stop:"):
                log(f"  StopTransaction error x{count}: {stats.error_samples[reason]}")
        if stats.server_calls:
            log(f"  server-initiated CALLs answered: {dict(stats.server_calls)}")
        result["errors"] = dict(stats.errors.most_common())
        result["error_samples"] = stats.error_samples
        result["server_initiated_calls"] = dict(stats.server_calls)


def add_verdict(result: dict) -> None:
    """Sustained rate = highest achieved msg/s of a step with p99 < limit and no errors."""
    steps = result.get("steps") or []
    best = max((s for s in steps if s["qualifies"]), key=lambda s: s["achieved"], default=None)
    result["sustained_msg_s"] = best["achieved"] if best else (0.0 if steps else None)
    result["sustained_step"] = best["offered"] if best else None
    result["p50_ms"] = best["p50_ms"] if best else None
    result["p99_ms"] = best["p99_ms"] if best else None
    result["saturated"] = bool(steps and steps[-1]["stop_reasons"])


def bench_one(kind: str, args, rates: list[float]) -> dict:
    name = f"EvPower ({args.server_cmd})" if kind == "evpower" else "baseline (ocpp lib)"
    log(f"\n== {name}")
    result: dict = {"server": name, "kind": kind}
    env = dict(os.environ)
    if kind == "evpower":
        env.update(EVPOWER_ENV)
        env.update(item.split("=", 1) for item in args.evpower_env)
        if args.evpower_env:
            result["extra_env"] = args.evpower_env
        try:
            prepare_evpower(env, args.chargers)
        except Exception as exc:
            result["failed"] = f"preparing EvPower: {type(exc).__name__}: {exc}"
            log(f"  FAILED: {result['failed']}")
            return result
    port = free_port()
    cmd = server_command(kind, port, args.server_cmd)
    result["command"] = " ".join(cmd)
    with tempfile.NamedTemporaryFile(prefix=f"ocpp-bench-{kind}-", suffix=".log",
                                     delete=False) as f:
        log_path = f.name
    with open(log_path, "wb") as log_file:
        # Own session: the whole server process group can be signalled at the end.
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdin=subprocess.DEVNULL,  # noqa: S603
                                stdout=log_file, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        wait_for_port(port, proc, log_path, args.start_timeout)
        log(f"  {Path(cmd[0]).name} pid {proc.pid} listening on {HOST}:{port} "
            f"(log {log_path})")
        asyncio.run(asyncio.wait_for(measure_server(result, port, proc.pid, args, rates),
                                     timeout=args.timeout))
    except Exception as exc:
        if isinstance(exc, TimeoutError):
            exc = RuntimeError(f"run exceeded --timeout {args.timeout:g}s")
        result["failed"] = f"{type(exc).__name__}: {exc}"
        log(f"  FAILED: {result['failed']}")
    finally:
        result["shutdown"] = stop_process(proc)
        log(f"  server {result['shutdown']}")
    add_verdict(result)
    result["server_log"] = scan_server_log(log_path)
    if result["server_log"]["error_lines"]:
        log(f"  server log has {result['server_log']['error_lines']} error-looking lines, e.g.:")
        for line in result["server_log"]["samples"]:
            log(f"    {line[:300]}")
    return result


# --------------------------------------------------------------------------
# reporting
# --------------------------------------------------------------------------

def fmt(value, spec: str) -> str:
    """Format a number; "-" (same width) when it is missing."""
    if isinstance(value, (int, float)):
        return format(value, spec)
    return format("-", ">" + spec.split(".")[0])


def print_report(results: list[dict], args) -> None:
    print(f"OCPP 1.6J throughput, {args.chargers} chargers, Heartbeat/MeterValues alternating, "
          f"steps of {args.step_seconds:g}s ({args.warmup_seconds:g}s warm-up), "
          f"pass = p99 < {P99_LIMIT_MS:g} ms and no errors, {os.cpu_count()} CPUs")
    header = (f"{'server':<22} {'sustained msg/s':>16} {'p50 ms':>8} {'p99 ms':>8} "
              f"{'RSS/charger KiB':>16} {'marginal KiB':>13} {'connected':>10}")
    print(header)
    print("-" * len(header))
    for r in results:
        connected = f"{r.get('connected', 0)}/{args.chargers}"
        print(f"{r['server']:<22} {fmt(r.get('sustained_msg_s'), '16.1f')} "
              f"{fmt(r.get('p50_ms'), '8.2f')} "
              f"{fmt(r.get('p99_ms'), '8.2f')} {fmt(r.get('rss_per_charger_kib'), '16.1f')} "
              f"{fmt(r.get('rss_marginal_per_charger_kib'), '13.1f')} {connected:>10}")
        if r.get("failed"):
            print(f"{'':<22} FAILED: {r['failed'].splitlines()[0]}")
        if r.get("steps") and not r.get("saturated") and not r.get("failed"):
            print(f"{'':<22} (not saturated by the highest offered rate: "
                  "sustained is a lower bound)")
        elif r.get("steps"):
            print(f"{'':<22} stopped at {r['steps'][-1]['offered']:g} msg/s: "
                  + "; ".join(r["steps"][-1]["stop_reasons"]))
    for r in results:
        notes = [f"{count}x {reason}" for reason, count in (r.get("errors") or {}).items()]
        if r.get("server_log", {}).get("error_lines"):
            notes.append(f"{r['server_log']['error_lines']} error-looking lines in "
                         f"{r['server_log']['path']}")
        if r.get("shutdown", "").startswith("did not exit"):
            notes.append(f"server {r['shutdown']}")
        if notes:
            print(f"{r['server']} problems: " + "; ".join(notes))
    if len(results) == 2:
        value = ratio(results)
        print(f"ratio EvPower/baseline (sustained msg/s): {value:.2f}" if value is not None
              else "ratio EvPower/baseline (sustained msg/s): n/a")


def ratio(results: list[dict]) -> float | None:
    by_kind = {r["kind"]: r for r in results}
    ev = by_kind.get("evpower", {}).get("sustained_msg_s")
    base = by_kind.get("baseline", {}).get("sustained_msg_s")
    return ev / base if ev is not None and base else None


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="OCPP 1.6J throughput: EvPower vs. ocpp-library baseline")
    p.add_argument("--chargers", type=int, default=200, help="simulated chargers (default 200)")
    p.add_argument("--step-seconds", type=float, default=5.0,
                   help="duration of each rate step (default 5)")
    p.add_argument("--warmup-seconds", type=float, default=1.0,
                   help="start of each step excluded from the statistics (default 1)")
    p.add_argument("--max-rate", type=float, default=16000,
                   help="highest offered msg/s (default 16000)")
    p.add_argument("--rates", help="comma-separated offered rates, overrides the default ladder")
    p.add_argument("--only", choices=["evpower", "baseline"], help="bench one server only")
    p.add_argument("--server-cmd", choices=["uvicorn", "daphne"], default="uvicorn",
                   help="ASGI server for EvPower (default uvicorn)")
    p.add_argument("--connect-concurrency", type=int, default=50,
                   help="chargers connecting/booting at the same time (default 50)")
    p.add_argument("--open-timeout", type=float, default=60.0,
                   help="WebSocket handshake timeout (s)")
    p.add_argument("--reply-timeout", type=float, default=10.0, help="per-CALL reply timeout (s)")
    p.add_argument("--settle-seconds", type=float, default=1.0,
                   help="pause before each RSS reading (s)")
    p.add_argument("--start-timeout", type=float, default=60.0, help="server start timeout (s)")
    p.add_argument("--timeout", type=float, default=900.0,
                   help="upper bound for one server's connect+measure phase (s, default 900)")
    p.add_argument("--evpower-env", action="append", default=[], metavar="KEY=VALUE",
                   help="extra environment for EvPower (repeatable), e.g. DEBUG=false")
    p.add_argument("--lock-wait", type=float, default=0.0, metavar="SECONDS",
                   help="wait that long for another bench run to finish (default: fail)")
    p.add_argument("--json", action="store_true", help="print machine-readable results on stdout")
    args = p.parse_args(argv)
    if args.chargers < 1:
        p.error("--chargers must be >= 1")
    for item in args.evpower_env:
        if "=" not in item:
            p.error(f"--evpower-env expects KEY=VALUE, got {item!r}")
    if args.warmup_seconds >= args.step_seconds:
        p.error("--warmup-seconds must be shorter than --step-seconds")
    return args


def take_run_lock(wait_seconds: float):
    """Exclusive lock against concurrent bench runs; returns the open lock file."""
    lock_file = open(LOCK_PATH, "a+")  # held open until the process exits
    deadline = time.monotonic() + wait_seconds
    announced = False
    while True:
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock_file.seek(0)
            holder = lock_file.read().strip() or "?"
            if time.monotonic() >= deadline:
                raise SystemExit(f"another bench run is in progress (pid {holder}, lock "
                                 f"{LOCK_PATH}); use --lock-wait SECONDS to wait for it") from None
            if not announced:
                log(f"waiting for the bench run of pid {holder} to finish ...")
                announced = True
            time.sleep(1)
            continue
        lock_file.seek(0)
        lock_file.truncate()
        lock_file.write(str(os.getpid()))
        lock_file.flush()
        return lock_file


def main(argv=None) -> int:
    args = parse_args(argv)
    lock = take_run_lock(args.lock_wait)  # noqa: F841 - released when the process exits
    rates = ([float(r) for r in args.rates.split(",")] if args.rates else DEFAULT_RATES)
    rates = [r for r in rates if r <= args.max_rate] or [args.max_rate]
    # Turn SIGTERM into an exception so that the finally blocks stop the servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    kinds = [args.only] if args.only else ["evpower", "baseline"]
    results = []
    for kind in kinds:
        results.append(bench_one(kind, args, rates))
    if args.json:
        out = {"chargers": args.chargers, "step_seconds": args.step_seconds,
               "warmup_seconds": args.warmup_seconds, "p99_limit_ms": P99_LIMIT_MS,
               "cpus": os.cpu_count(), "results": results}
        if len(results) == 2:
            value = ratio(results)
            out["ratio_evpower_baseline"] = round(value, 3) if value is not None else None
        print(json.dumps(out, indent=2))
    else:
        print()
        print_report(results, args)
    return 0 if all(not r.get("failed") for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
