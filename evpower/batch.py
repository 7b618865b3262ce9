"""One bad row must not stop a batch job (an hourly expiry, a sweep): each row is handled
on its own, a failure is logged with the row and counted, and the job goes on.

    for payment in each_row(payments, job="payments.expire"):
        ...  # an exception here is logged and counted; the next row follows

The count is `evpower_batch_row_failures_total{job}`; a job returns how many it did."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from evpower.metrics.registry import batch_row_failed

log = logging.getLogger("evpower.batch")
T = TypeVar("T")


@contextmanager
def row_guard(job: str, row: object) -> Iterator[None]:
    """Log and count what fails inside; never raise (the job goes on)."""
    try:
        yield
    except Exception:
        batch_row_failed(job=job)
        log.exception("%s: row %s failed; going on with the next", job, _name(row))


def each_row(rows: Iterable[T], fn: Callable[[T], object], *, job: str) -> tuple[list, int]:
    """fn(row) for every row; ([each result], failures). A failed row is logged with its
    id, counted, and skipped."""
    results, failures = [], 0
    for row in rows:
        try:
            results.append(fn(row))
        except Exception:
            failures += 1
            batch_row_failed(job=job)
            log.exception("%s: row %s failed; going on with the next", job, _name(row))
    return results, failures


def _name(row: object) -> str:
    return str(getattr(row, "pk", row))
