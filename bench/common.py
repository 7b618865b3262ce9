"""Pieces shared by the EvPower benches (bench/ocpp_throughput.py, bench/command_latency.py).

* the bench database and environment: `prepare_evpower` drops and recreates the
  PostgreSQL database `evpower_bench`, migrates it and creates the bench stations
  `BENCH-0001` ... (password `loadgen.PASSWORD`) and the id tag `loadgen.ID_TAG`;
  `EVPOWER_ENV` is the environment every EvPower process of a bench runs with;
* /proc readings (no psutil): `rss_kib`, `cpu_seconds` of a process tree, `machine_cpu`;
* server subprocesses on 127.0.0.1: `launch_server` (own session, output to a temp
  log), `wait_for_port`, `stop_process` (SIGTERM to the process group, then SIGKILL),
  `scan_server_log`;
* `take_run_lock`: one bench run at a time, since they all drop the same database.
"""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import loadgen

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"

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
    # Every simulated charger connects from 127.0.0.1 (evpower/ws_guard.py counts per address).
    "WS_MAX_CONNECTIONS_PER_IP": "100000",
    "WS_CONNECT_RATE_PER_IP": "",
}

# Two runs at once would drop each other's database and share the CPUs, so a
# run holds this lock for its whole duration (the same lock for every bench).
LOCK_PATH = Path(tempfile.gettempdir()) / "evpower-ocpp-throughput.lock"

CLK_TCK = os.sysconf("SC_CLK_TCK")


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
    return data[data.rindex(")") + 2 :].split()


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


# --------------------------------------------------------------------------
# server processes
# --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def uvicorn_command(port: int) -> list[str]:
    # the production runner: uvicorn with the WebSocket drain on shutdown
    return [
        str(BIN / "python"),
        "-m",
        "evpower.serve",
        "evpower.asgi:application",
        "--host",
        HOST,
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]


def launch_server(
    cmd: list[str], env: dict, log_prefix: str, cwd: Path | None = None
) -> tuple[subprocess.Popen, str]:
    """Start a server in its own session (so that its whole process group can be
    signalled at the end), output to a temp log. Returns the process and the log path;
    the caller stops it with stop_process() in a finally. `cwd`: the checkout to serve
    (default: this one)."""
    with tempfile.NamedTemporaryFile(prefix=log_prefix, suffix=".log", delete=False) as f:
        log_path = f.name
    with open(log_path, "wb") as log_file:
        # Commands are built here from fixed parts, never from outside input.
        proc = subprocess.Popen(  # noqa: S603
            cmd,
            cwd=cwd or REPO,
            env=env,
            stdin=subprocess.DEVNULL,  # noqa: S603
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return proc, log_path


def wait_for_port(port: int, proc: subprocess.Popen, log_path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"server exited with code {proc.returncode} before listening:\n"
                + tail(log_path, 30)
            )
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(
        f"server did not listen on {HOST}:{port} within {timeout:g}s:\n" + tail(log_path, 30)
    )


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
    return {
        "path": path,
        "lines": len(lines),
        "error_lines": len(hits),
        "samples": hits[:5] + (["..."] + hits[-5:] if len(hits) > 10 else hits[5:10]),
    }


def run_checked(cmd: list[str], env: dict, timeout: float, what: str) -> str:
    # Commands are built here from fixed parts, never from outside input.
    res = subprocess.run(  # noqa: S603
        cmd,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,  # noqa: S603
        timeout=timeout,
    )
    if res.returncode != 0:
        raise RuntimeError(
            f"{what} failed (exit {res.returncode}):\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
        )
    return res.stdout


# --------------------------------------------------------------------------
# the bench database
# --------------------------------------------------------------------------


def prepare_evpower(env: dict, n: int) -> None:
    """Fresh database, migrations, N stations and the bench id tag."""
    import psycopg  # only needed for the EvPower side

    t0 = time.monotonic()
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")
    run_checked([sys.executable, "manage.py", "migrate", "--noinput"], env, 900, "migrate")
    snippet = "\n".join(
        [
            "from stations.services import station_create",
            "from stations.models import IdTag",
            f"for i in range(1, {n} + 1):",
            f"    station_create(identity='BENCH-%0{max(4, len(str(n)))}d' % i, location_name='Bench',",  # noqa: E501
            f"                   connectors=1, password={loadgen.PASSWORD!r})",
            f"IdTag.objects.create(id_tag={loadgen.ID_TAG!r}, status='Accepted')",
            f"print('bench fixtures created:', {n})",
        ]
    )
    run_checked([sys.executable, "manage.py", "shell", "-c", snippet], env, 900, "fixture creation")
    log(f"  prepared database {BENCH_DB}: migrate + {n} stations in {time.monotonic() - t0:.1f}s")


def evpower_env(extra: dict | None = None) -> dict:
    """This process's environment plus EVPOWER_ENV (plus `extra`)."""
    env = dict(os.environ)
    env.update(EVPOWER_ENV)
    env.update(extra or {})
    return env


# --------------------------------------------------------------------------
# one run at a time
# --------------------------------------------------------------------------


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
                raise SystemExit(
                    f"another bench run is in progress (pid {holder}, lock "
                    f"{LOCK_PATH}); use --lock-wait SECONDS to wait for it"
                ) from None
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


def cpu_seconds_one(pid: int) -> float:
    """utime + stime of one process (cpu_seconds sums a whole tree)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


class CpuMeter:
    """CPU use of the server process tree (and per process), of this (load generator)
    process and of the machine (all cores: includes PostgreSQL and Redis)."""

    def __init__(self, server_pid: int):
        self.server_pid = server_pid
        self.t0 = time.perf_counter()
        self.procs0 = {pid: cpu_seconds_one(pid) for pid in process_tree(server_pid)}
        self.server0 = cpu_seconds(server_pid)
        self.self0 = sum(os.times()[:2])
        self.machine0 = machine_cpu()

    def read(self) -> dict:
        wall = time.perf_counter() - self.t0
        total, idle = machine_cpu()
        dt, di = total - self.machine0[0], idle - self.machine0[1]
        per_process = {
            str(pid): round(100 * (cpu_seconds_one(pid) - self.procs0.get(pid, 0.0)) / wall, 1)
            for pid in process_tree(self.server_pid)
        }
        return {
            "server_cpu_pct": round(100 * (cpu_seconds(self.server_pid) - self.server0) / wall, 1),
            "server_cpu_pct_per_process": per_process,
            "loadgen_cpu_pct": round(100 * (sum(os.times()[:2]) - self.self0) / wall, 1),
            "machine_busy_pct": round(100 * (dt - di) / dt, 1) if dt else 0.0,
        }


def each_checkout(checkouts: list[Path] | None, bench) -> list:
    """bench(checkout) for each checkout (default: this one), one run at a time (the run
    lock): an old and a new checkout measured on the same machine, in the same run."""
    lock = take_run_lock(600)
    try:
        return [bench(path.resolve()) for path in (checkouts or [REPO])]
    finally:
        lock.close()
