"""Real Celery processes (worker, beat) for tests, on the test database and a Redis broker
database of the suite's own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings

from .processes import ROOT

BROKER_DB = 7
# seconds before Redis hands a task whose worker died to a worker again: longer than a
# task runs in these tests (no second delivery while the first still runs), short enough
# to wait for (production: BACKUP_TIME_LIMIT + 600 s)
VISIBILITY_TIMEOUT = 4
TASK_WAIT = 30.0  # seconds a test waits for a worker to do something before failing


def broker_url() -> str:
    if not settings.REDIS_URL:
        pytest.skip("needs Redis (run scripts/test.sh)")
    # suites run side by side on one Redis with REDIS_URL databases of their own (0, 1, 2...):
    # each gets its own broker database too, as BROKER_DB is flushed per test
    url = urlsplit(settings.REDIS_URL)
    suite_db = int(url.path.strip("/") or 0)
    return urlunsplit(url._replace(path=f"/{BROKER_DB + suite_db}"))  # Redis has 0..15


class CeleryProcess:
    """`python -m celery -A evpower worker|beat ...` on the test database, in a session
    (process group) of its own, so that a kill takes a prefork worker's children too."""

    def __init__(self, kind: str, args: list[str], env: dict[str, str], log_path: Path):
        self.kind, self.log_path = kind, log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "evpower", kind, "--loglevel=INFO", *args],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = TASK_WAIT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"celery {self.kind}: no {text!r} in:\n{self.output()[-5000:]}")

    def kill(self) -> None:
        """SIGKILL to the whole worker (main process and pool children), as when its
        machine or container dies: no warm shutdown, no acknowledgement, no cleanup."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def pool_children(self) -> list[int]:
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        return [int(pid) for pid in path.read_text().split()]

    def kill_pool_child(self) -> int:
        """SIGKILL to the pool process running the task (the OOM killer's choice, say);
        the worker's main process lives on and sees its child lost."""
        [child] = self.pool_children()
        os.kill(child, signal.SIGKILL)
        return child

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()
