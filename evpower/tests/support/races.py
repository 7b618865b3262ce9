"""Helpers for race tests on PostgreSQL: real threads, each with its own connection."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable

from django.db import OperationalError, connection


def connect() -> None:
    """Open this thread's connection before the race starts. The database server may be
    shared with benches or other suites that briefly use up its connection slots."""
    deadline = time.monotonic() + 60
    while True:
        try:
            connection.ensure_connection()
            return
        except OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def run_in_threads(
    tasks: Iterable[tuple[Callable, ...]], threads: int, timeout: float = 120
) -> None:
    """Run `(fn, *args)` tasks on `threads` threads that all start at the same moment;
    fails when a thread is still running after `timeout` (a deadlock, say)."""
    work: queue.Queue = queue.Queue()
    for task in tasks:
        work.put(task)
    start = threading.Barrier(threads)

    def worker():
        try:
            connect()
            start.wait()
            while True:
                try:
                    fn, *args = work.get_nowait()
                except queue.Empty:
                    return
                fn(*args)
        finally:
            connection.close()

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=timeout)
    if any(thread.is_alive() for thread in pool):
        raise AssertionError("a worker is stuck (deadlock?)")
