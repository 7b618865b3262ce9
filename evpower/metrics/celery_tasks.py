"""Celery task outcomes counted by the workers into the shared cache (Redis in production),
so that any web process's /metrics reports the whole fleet's counts. Workers serve no
/metrics of their own; an in-process counter there would never be scraped."""

from __future__ import annotations

import logging

from celery.signals import task_failure, task_retry, task_success

log = logging.getLogger("evpower.metrics")
OUTCOMES = ("success", "failure", "retry")


def counter_key(task_name: str, outcome: str) -> str:
    return f"evpower:metrics:celery:{outcome}:{task_name}"


def task_outcome_count(task_name: str, outcome: str) -> None:
    from django.core.cache import cache

    key = counter_key(task_name, outcome)
    try:
        cache.add(key, 0, timeout=None)  # incr needs the key to exist; add keeps a count
        cache.incr(key)
    except Exception as exc:  # counting must never fail a task
        log.warning("could not count %s of %s: %s", outcome, task_name, exc)


def _name(sender) -> str:
    return getattr(sender, "name", None) or str(sender)


def _on_success(sender=None, **kwargs) -> None:
    task_outcome_count(_name(sender), "success")


def _on_failure(sender=None, **kwargs) -> None:
    task_outcome_count(_name(sender), "failure")


def _on_retry(sender=None, **kwargs) -> None:
    task_outcome_count(_name(sender), "retry")


def connect_task_counters() -> None:
    """Called where the Celery app is configured (evpower/celery.py), in every process."""
    task_success.connect(_on_success, weak=False, dispatch_uid="evpower-metrics-success")
    task_failure.connect(_on_failure, weak=False, dispatch_uid="evpower-metrics-failure")
    task_retry.connect(_on_retry, weak=False, dispatch_uid="evpower-metrics-retry")
