"""What a storm of wrong-password handshakes does to a healthy charger and to /health/live.

    .venv/bin/python bench/handshake_storm.py [--concurrency 500] [--storm 10] \
        [--repo /path/to/another/checkout ...]

Each `--repo` (default: this checkout) is measured in turn, same database, same load, so
an old and a new checkout compare in one run. The server trusts forwarded addresses from
127.0.0.1 (FORWARDED_ALLOW_IPS), and every storm handshake claims an address of its own
(X-Forwarded-For), as many real sources would: the per-address limits do not apply. A
healthy charger sends a Heartbeat every 50 ms and /health/live is asked every 50 ms, at
rest (--rest seconds) and while --concurrency wrong-password handshakes are kept in flight
(--storm seconds; each one reconnects as soon as it is answered; --wave: one wave of
them, as after a power cut). Handshakes are raw HTTP
upgrade requests (cheap for the client); the answers are counted by status.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
import loadgen  # noqa: E402

STATIONS = 50


async def _http_status(port: int, request: bytes) -> int:
    reader, writer = await asyncio.open_connection(common.HOST, port)
    try:
        writer.write(request)
        await writer.drain()
        line = await reader.readline()
        return int(line.split()[1])
    finally:
        writer.close()


def _upgrade_request(port: int, identity: str, forwarded_for: str) -> bytes:
    token = base64.b64encode(f"{identity}:wrong-password-0000".encode()).decode()
    return (
        f"GET /ocpp/{identity} HTTP/1.1\r\nHost: {common.HOST}:{port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        f"Sec-WebSocket-Protocol: ocpp1.6\r\nAuthorization: Basic {token}\r\n"
        f"X-Forwarded-For: {forwarded_for}\r\n\r\n"
    ).encode()


async def storm_worker(
    port: int, worker: int, stop: asyncio.Event, statuses: Counter, once: bool = False
) -> None:
    attempt = 0
    while not stop.is_set() and not (once and attempt):
        attempt += 1
        address = f"10.{worker // 250}.{worker % 250}.{attempt % 250 + 1}"
        identity = common.identity(worker % STATIONS + 1, STATIONS)
        try:
            statuses[await _http_status(port, _upgrade_request(port, identity, address))] += 1
        except (OSError, ValueError, IndexError):
            statuses["error"] += 1


async def heartbeats(port: int, phase: dict, samples: list, stop: asyncio.Event) -> None:
    name = common.identity(1, STATIONS)
    auth = base64.b64encode(f"{name}:{loadgen.PASSWORD}".encode()).decode()
    async with connect(
        f"ws://{common.HOST}:{port}/ocpp/{name}",
        subprotocols=["ocpp1.6"],
        additional_headers={"Authorization": f"Basic {auth}"},
        compression=None,
        ping_interval=None,
    ) as ws:
        await ws.send(
            json.dumps(
                [
                    2,
                    "boot",
                    "BootNotification",
                    {"chargePointVendor": "Bench", "chargePointModel": "X"},
                ]
            )
        )
        await ws.recv()
        n = 0
        while not stop.is_set():
            n += 1
            began = time.monotonic()
            await ws.send(json.dumps([2, f"h{n}", "Heartbeat", {}]))
            await ws.recv()
            samples.append((phase["now"], time.monotonic() - began))
            await asyncio.sleep(0.05)


async def health(port: int, phase: dict, samples: list, stop: asyncio.Event) -> None:
    request = f"GET /health/live HTTP/1.1\r\nHost: {common.HOST}\r\nConnection: close\r\n\r\n"
    while not stop.is_set():
        began = time.monotonic()
        status = await _http_status(port, request.encode())
        samples.append((phase["now"], time.monotonic() - began, status))
        await asyncio.sleep(0.05)


def _profile(pid: int, args) -> subprocess.Popen | None:
    """py-spy on the server for the storm (--py-spy FILE: collapsed stacks, and the top
    frames printed by --py-spy-top)."""
    if not args.py_spy:
        return None
    return subprocess.Popen(  # noqa: S603
        [
            str(common.BIN / "py-spy"),
            "record",
            "--nonblocking",  # noqa: S603
            "--format",
            "raw",
            "-o",
            args.py_spy,
            "-d",
            str(int(args.storm)),
            "-p",
            str(pid),
            "--threads",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def measure(port: int, args, pid: int = 0) -> dict:
    phase, stop, storm_stop = {"now": "rest"}, asyncio.Event(), asyncio.Event()
    beats, lives, statuses = [], [], Counter()
    tasks = [
        asyncio.create_task(heartbeats(port, phase, beats, stop)),
        asyncio.create_task(health(port, phase, lives, stop)),
    ]
    await asyncio.sleep(args.rest)
    phase["now"] = "storm"
    spy = _profile(pid, args)
    storm = [
        asyncio.create_task(storm_worker(port, i, storm_stop, statuses, args.wave))
        for i in range(args.concurrency)
    ]
    await asyncio.sleep(args.storm)
    storm_stop.set()
    await asyncio.gather(*storm, return_exceptions=True)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    if spy is not None:
        spy.wait(60)
    return {
        "heartbeat": _quantiles(beats),
        "health_live": _quantiles(lives),
        "handshakes": dict(statuses),
    }


def _quantiles(samples: list) -> dict:
    out = {}
    for name in ("rest", "storm"):
        ordered = sorted(s[1] for s in samples if s[0] == name)
        out[name] = {
            "n": len(ordered),
            **{
                key: (
                    ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000
                    if ordered
                    else None
                )
                for key, q in (("p50_ms", 0.5), ("p99_ms", 0.99))
            },
            "max_ms": ordered[-1] * 1000 if ordered else None,
        }
    return out


def bench_repo(repo: Path, args) -> dict:
    env = common.evpower_env({"FORWARDED_ALLOW_IPS": "127.0.0.1"})
    common.prepare_evpower(env, STATIONS)
    port = common.free_port()
    proc, log_path = common.launch_server(
        common.uvicorn_command(port), env, "handshake-storm-", cwd=repo
    )
    try:
        common.wait_for_port(port, proc, log_path, 60)
        result = asyncio.run(measure(port, args, proc.pid))
    finally:
        common.stop_process(proc)
    return {"repo": str(repo), **result}


def print_report(results: list[dict], args) -> None:
    storm = (
        f"one wave of {args.concurrency} wrong-password handshakes"
        if args.wave
        else f"{args.concurrency} wrong-password handshakes kept in flight for {args.storm:g} s"
    )
    print(
        f"\n{storm} (distinct forwarded addresses); a healthy charger's Heartbeat and "
        "/health/live every 50 ms"
    )
    print(
        f"{'checkout':32} {'what':12} {'phase':6} {'n':>5} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'max ms':>8}"
    )
    for r in results:
        for what in ("heartbeat", "health_live"):
            for phase, f in r[what].items():

                def cell(v):
                    return f"{v:8.1f}" if v is not None else f"{'-':>8}"

                print(
                    f"{r['repo'][-32:]:32} {what:12} {phase:6} {f['n']:5d} "
                    f"{cell(f['p50_ms'])} {cell(f['p99_ms'])} {cell(f['max_ms'])}"
                )
        print(f"{'':32} handshakes answered: {r['handshakes']}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--concurrency", type=int, default=500)
    parser.add_argument("--rest", type=float, default=5)
    parser.add_argument("--storm", type=float, default=10)
    parser.add_argument(
        "--repo",
        action="append",
        type=Path,
        help="a checkout to run the server from (repeatable; default: this one)",
    )
    parser.add_argument(
        "--wave",
        action="store_true",
        help="one wave of --concurrency handshakes instead of keeping them in flight",
    )
    parser.add_argument(
        "--py-spy", metavar="FILE", help="profile the server during the storm (collapsed stacks)"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = common.each_checkout(args.repo, lambda repo: bench_repo(repo, args))
    print(json.dumps(results, indent=2) if args.json else "", end="")
    if not args.json:
        print_report(results, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
