"""OCPP throughput bench: EvPower (1.6J, 2.0.1 or both) vs. a bare `ocpp`-library central
system (1.6J).

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
        [--ocpp 1.6|2.0.1|both]   (2.0.1: Heartbeat / TransactionEvent Updated alternating)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path

from common import (
    BIN,
    EVPOWER_ENV,
    HOST,
    REPO,
    CpuMeter,
    free_port,
    identity,
    launch_server,
    log,
    prepare_evpower,
    rss_kib,
    scan_server_log,
    stop_process,
    take_run_lock,
    uvicorn_command,
    wait_for_port,
)
from loadgen import Charger, Charger201, Stats, StepRecorder, percentile

P99_LIMIT_MS = 50.0
MIN_ACHIEVED_FRACTION = 0.90
# Roughly geometric (+20..50 % per rung) so the sustained figure has a similar
# relative resolution for a slow and for a fast server.
DEFAULT_RATES = [
    50,
    75,
    100,
    150,
    200,
    250,
    300,
    400,
    500,
    600,
    800,
    1000,
    1250,
    1500,
    2000,
    2500,
    3000,
    3500,
    4000,
    5000,
    6000,
    8000,
    10000,
    12000,
    16000,
]


# --------------------------------------------------------------------------
# server processes
# --------------------------------------------------------------------------


def server_command(kind: str, port: int, server_cmd: str) -> list[str]:
    if kind == "baseline":
        return [
            sys.executable,
            str(REPO / "bench" / "baseline_server.py"),
            "--host",
            HOST,
            "--port",
            str(port),
        ]
    if server_cmd == "daphne":
        return [str(BIN / "daphne"), "-b", HOST, "-p", str(port), "evpower.asgi:application"]
    return uvicorn_command(port)


# --------------------------------------------------------------------------
# the measurement for one server
# --------------------------------------------------------------------------


def summarize_step(rate: float, rec: StepRecorder, window: tuple[float, float], cpu: dict) -> dict:
    w0, w1 = window
    lat = sorted(
        latency for t, latency in zip(rec.recv_times, rec.latencies, strict=True) if w0 <= t <= w1
    )
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
        reasons.append(
            f"achieved {achieved:.0f} msg/s < {MIN_ACHIEVED_FRACTION:.0%} of offered {rate:g}"
        )
    step["stop_reasons"] = reasons
    # A step qualifies for the "sustained" figure if latency is fine and it had no errors.
    step["qualifies"] = (
        not step["errors"] and step["p99_ms"] is not None and step["p99_ms"] < P99_LIMIT_MS
    )
    return step


async def measure_server(result: dict, port: int, pid: int, args, rates: list[float]) -> None:
    """Fill `result` in place, so that a failure or timeout keeps what was measured."""
    n = args.chargers
    stats = Stats()
    # Charger i sends at phase (i-1)/n of the common interval: sends are spread evenly.
    kind = Charger201 if result.get("ocpp") == "2.0.1" else Charger
    chargers = [
        kind(i, identity(i, n), f"ws://{HOST}:{port}/ocpp/{identity(i, n)}", (i - 1) / n, stats)
        for i in range(1, n + 1)
    ]
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
        result.update(
            {
                "connected": len(live),
                "connect_boot_seconds": round(connect_s, 2),
                "rss_before_kib": rss_before,
                "rss_after_kib": rss_after,
                "rss_per_charger_kib": round((rss_after - rss_before) / len(live), 1)
                if live
                else None,
                "rss_marginal_per_charger_kib": (
                    round((rss_after - rss_first) / (len(live) - 1), 1)
                    if len(live) > 1 and not chargers[0].dead
                    else None
                ),
            }
        )
        log(
            f"  connected+booted {len(live)}/{n} chargers in {connect_s:.1f}s; "
            f"RSS {rss_before} -> {rss_after} KiB "
            f"({result['rss_per_charger_kib']} KiB/charger, "
            f"marginal {result['rss_marginal_per_charger_kib']})"
        )
        if stats.errors:
            for reason, count in stats.errors.most_common(5):
                log(f"  connect/boot error x{count}: {stats.error_samples[reason]}")
        if not live:
            raise RuntimeError("no charger could connect and boot")

        # --- stepped load (steps are appended to the result as they finish, so a
        # timeout still reports what was measured)
        steps = result["steps"] = []
        log(
            f"  {'offered':>8} {'achieved':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
            f"{'err':>5} {'srv cpu%':>8} {'gen cpu%':>8} {'mach%':>6}"
        )
        for rate in rates:
            live = [ch for ch in chargers if not ch.dead]
            if not live:
                break
            rec = StepRecorder()
            meter = CpuMeter(pid)
            start = time.perf_counter() + 0.05
            end = start + args.step_seconds
            await asyncio.gather(
                *(ch.run_step(rate / len(live), start, end, rec, args.reply_timeout) for ch in live)
            )
            step = summarize_step(rate, rec, (start + args.warmup_seconds, end), meter.read())
            steps.append(step)
            log(
                f"  {rate:>8g} {step['achieved']:>9.1f} {step['p50_ms'] or float('nan'):>8.2f} "
                f"{step['p99_ms'] or float('nan'):>8.2f} {step['max_ms'] or float('nan'):>8.2f} "
                f"{step['errors']:>5} {step['server_cpu_pct']:>8.1f} "
                f"{step['loadgen_cpu_pct']:>8.1f} {step['machine_busy_pct']:>6.1f}"
            )
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


def bench_one(kind: str, args, rates: list[float], ocpp: str = "1.6") -> dict:
    name = f"EvPower {ocpp} ({args.server_cmd})" if kind == "evpower" else "baseline (ocpp lib)"
    log(f"\n== {name}")
    result: dict = {"server": name, "kind": kind, "ocpp": ocpp}
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
    # Own session: the whole server process group can be signalled at the end.
    proc, log_path = launch_server(cmd, env, f"ocpp-bench-{kind}-")
    try:
        wait_for_port(port, proc, log_path, args.start_timeout)
        log(f"  {Path(cmd[0]).name} pid {proc.pid} listening on {HOST}:{port} (log {log_path})")
        asyncio.run(
            asyncio.wait_for(
                measure_server(result, port, proc.pid, args, rates), timeout=args.timeout
            )
        )
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
    print(
        f"OCPP throughput, {args.chargers} chargers, Heartbeat and MeterValues (1.6) or "
        f"TransactionEvent Updated (2.0.1) alternating, "
        f"steps of {args.step_seconds:g}s ({args.warmup_seconds:g}s warm-up), "
        f"pass = p99 < {P99_LIMIT_MS:g} ms and no errors, {os.cpu_count()} CPUs"
    )
    header = (
        f"{'server':<22} {'sustained msg/s':>16} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'RSS/charger KiB':>16} {'marginal KiB':>13} {'connected':>10}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        connected = f"{r.get('connected', 0)}/{args.chargers}"
        print(
            f"{r['server']:<22} {fmt(r.get('sustained_msg_s'), '16.1f')} "
            f"{fmt(r.get('p50_ms'), '8.2f')} "
            f"{fmt(r.get('p99_ms'), '8.2f')} {fmt(r.get('rss_per_charger_kib'), '16.1f')} "
            f"{fmt(r.get('rss_marginal_per_charger_kib'), '13.1f')} {connected:>10}"
        )
        if r.get("failed"):
            print(f"{'':<22} FAILED: {r['failed'].splitlines()[0]}")
        if r.get("steps") and not r.get("saturated") and not r.get("failed"):
            print(
                f"{'':<22} (not saturated by the highest offered rate: sustained is a lower bound)"
            )
        elif r.get("steps"):
            print(
                f"{'':<22} stopped at {r['steps'][-1]['offered']:g} msg/s: "
                + "; ".join(r["steps"][-1]["stop_reasons"])
            )
    for r in results:
        notes = [f"{count}x {reason}" for reason, count in (r.get("errors") or {}).items()]
        if r.get("server_log", {}).get("error_lines"):
            notes.append(
                f"{r['server_log']['error_lines']} error-looking lines in {r['server_log']['path']}"
            )
        if r.get("shutdown", "").startswith("did not exit"):
            notes.append(f"server {r['shutdown']}")
        if notes:
            print(f"{r['server']} problems: " + "; ".join(notes))
    by_version = version_ratio(results)
    if by_version is not None:
        print(f"ratio EvPower 2.0.1/1.6 (sustained msg/s): {by_version:.2f}")
    if any(r["kind"] == "baseline" for r in results):
        value = ratio(results)
        print(
            f"ratio EvPower 1.6/baseline (sustained msg/s): {value:.2f}"
            if value is not None
            else "ratio EvPower 1.6/baseline (sustained msg/s): n/a"
        )


def version_ratio(results: list[dict]) -> float | None:
    """EvPower's 2.0.1 figure over its 1.6 figure, when both ran."""
    ours = {r["ocpp"]: r.get("sustained_msg_s") for r in results if r["kind"] == "evpower"}
    old, new = ours.get("1.6"), ours.get("2.0.1")
    return new / old if old and new else None


def ratio(results: list[dict]) -> float | None:
    by_kind = {r["kind"]: r for r in results if r.get("ocpp", "1.6") == "1.6"}
    ev = by_kind.get("evpower", {}).get("sustained_msg_s")
    base = by_kind.get("baseline", {}).get("sustained_msg_s")
    return ev / base if ev is not None and base else None


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="OCPP 1.6J throughput: EvPower vs. ocpp-library baseline"
    )
    p.add_argument("--chargers", type=int, default=200, help="simulated chargers (default 200)")
    p.add_argument(
        "--step-seconds", type=float, default=5.0, help="duration of each rate step (default 5)"
    )
    p.add_argument(
        "--warmup-seconds",
        type=float,
        default=1.0,
        help="start of each step excluded from the statistics (default 1)",
    )
    p.add_argument(
        "--max-rate", type=float, default=16000, help="highest offered msg/s (default 16000)"
    )
    p.add_argument("--rates", help="comma-separated offered rates, overrides the default ladder")
    p.add_argument("--only", choices=["evpower", "baseline"], help="bench one server only")
    p.add_argument(
        "--server-cmd",
        choices=["uvicorn", "daphne"],
        default="uvicorn",
        help="ASGI server for EvPower (default uvicorn)",
    )
    p.add_argument(
        "--connect-concurrency",
        type=int,
        default=50,
        help="chargers connecting/booting at the same time (default 50)",
    )
    p.add_argument(
        "--open-timeout", type=float, default=60.0, help="WebSocket handshake timeout (s)"
    )
    p.add_argument("--reply-timeout", type=float, default=10.0, help="per-CALL reply timeout (s)")
    p.add_argument(
        "--settle-seconds", type=float, default=1.0, help="pause before each RSS reading (s)"
    )
    p.add_argument("--start-timeout", type=float, default=60.0, help="server start timeout (s)")
    p.add_argument(
        "--timeout",
        type=float,
        default=900.0,
        help="upper bound for one server's connect+measure phase (s, default 900)",
    )
    p.add_argument(
        "--evpower-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for EvPower (repeatable), e.g. DEBUG=true",
    )
    p.add_argument(
        "--lock-wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait that long for another bench run to finish (default: fail)",
    )
    p.add_argument(
        "--ocpp",
        choices=["1.6", "2.0.1", "both"],
        default="1.6",
        help="EvPower's protocol: 1.6 (Heartbeat + MeterValues), 2.0.1 (Heartbeat + "
        "TransactionEvent Updated), or both in the same run (default 1.6)",
    )
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


def main(argv=None) -> int:
    args = parse_args(argv)
    lock = take_run_lock(args.lock_wait)  # noqa: F841 - released when the process exits
    rates = [float(r) for r in args.rates.split(",")] if args.rates else DEFAULT_RATES
    rates = [r for r in rates if r <= args.max_rate] or [args.max_rate]
    # Turn SIGTERM into an exception so that the finally blocks stop the servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    kinds = [args.only] if args.only else ["evpower", "baseline"]
    versions = ["1.6", "2.0.1"] if args.ocpp == "both" else [args.ocpp]
    results = []
    for kind in kinds:
        # the baseline is the bare library's 1.6 central system
        for version in versions if kind == "evpower" else ["1.6"]:
            results.append(bench_one(kind, args, rates, version))
    if args.json:
        out = {
            "chargers": args.chargers,
            "step_seconds": args.step_seconds,
            "warmup_seconds": args.warmup_seconds,
            "p99_limit_ms": P99_LIMIT_MS,
            "cpus": os.cpu_count(),
            "results": results,
        }
        value = ratio(results)
        out["ratio_evpower_baseline"] = round(value, 3) if value is not None else None
        by_version = version_ratio(results)
        out["ratio_evpower_201_16"] = round(by_version, 3) if by_version is not None else None
        print(json.dumps(out, indent=2))
    else:
        print()
        print_report(results, args)
    return 0 if all(not r.get("failed") for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
