"""Correlation ids outside HTTP: charger frames (and the database threads that apply them),
commands sent to chargers, and Celery tasks run by a real worker process."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import uuid

import pytest
from django.conf import settings
from django.http import JsonResponse
from django.urls import path

from evpower.correlation import (
    correlation,
    current_correlation_id,
    frame_correlation_id,
    socket_correlation_id,
)
from evpower.tests.support.celery_worker import TASK_WAIT, CeleryProcess
from evpower.tests.support.processes import database_url


def test_a_frames_id_is_the_charger_and_its_message_id():
    assert frame_correlation_id("CP-1", '[2,"19223201","Heartbeat",{}]') == "CP-1:19223201"
    assert frame_correlation_id("CP-1", ' [ 3 , "a-b.c" , {}]') == "CP-1:a-b.c"


def test_a_frame_without_a_safe_message_id_gets_a_random_one():
    # given: no id, an id with a newline, an id longer than OCPP allows, and an odd identity
    ids = [
        frame_correlation_id("CP 1\n", text)
        for text in ("not json", '[2,"a\\nb","Heartbeat",{}]', f'[2,"{"x" * 37}","Heartbeat",{{}}]')
    ]
    for made in ids:
        identity, random_part = made.split(":")
        assert identity == "CP_1_"
        assert len(random_part) == 12
    assert len(set(ids)) == 3


def test_every_socket_gets_a_fresh_id():
    assert socket_correlation_id("app") != socket_correlation_id("app")
    assert socket_correlation_id("CP/1").startswith("CP_1:")


def test_database_threads_log_with_the_id_of_the_frame_they_work_for(json_log):  # noqa: F811
    from ocpp_bridge.db import run_db

    def apply_frame() -> str:
        logging.getLogger("ocpp_bridge").info("applied in the database thread")
        return threading.current_thread().name

    async def two_frames() -> list[str]:
        async def frame(message_id: str) -> str:
            with correlation(f"CP-7:{message_id}"):
                return await run_db(apply_frame)

        return await asyncio.gather(frame("m1"), frame("m2"))

    threads = asyncio.run(two_frames())

    assert all(name.startswith("ocpp-db") for name in threads)
    ids = sorted(line["correlation_id"] for line in json_log.lines())
    assert ids == ["CP-7:m1", "CP-7:m2"]
    assert current_correlation_id() is None  # nothing leaks out of the block


# -- Celery: a real worker ------------------------------------------------------------------

_worker_queue: dict[str, str] = {}


def _queue_an_alert(request):
    from evpower.celery import app

    task = app.send_task(
        "evpower.alert_send", args=["subject", "text"], queue=_worker_queue["name"]
    )
    return JsonResponse({"task": task.id})


urlpatterns = [path("queue-a-task", _queue_an_alert)]


@pytest.mark.urls(__name__)
@pytest.mark.django_db
def test_a_task_queued_in_a_request_logs_with_the_requests_id(client, tmp_path):
    if not settings.REDIS_URL:
        pytest.skip("needs Redis")
    # given: a worker (JSON logs) on a queue of its own, on this test run's Redis database
    queue = _worker_queue["name"] = f"test-guid-{uuid.uuid4().hex[:12]}"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("ALERT_EMAILS", "TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID")
    }
    env.update(
        {
            "DATABASE_URL": database_url(),
            "LOG_FORMAT": "json",
            "DJANGO_SETTINGS_MODULE": "evpower.settings",
        }
    )
    worker = CeleryProcess(
        "worker",
        [
            "--pool=solo",
            "-Q",
            queue,
            "-n",
            f"{queue}@%h",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
        ],
        env,
        tmp_path / "worker.log",
    )
    try:
        worker.wait_for(" ready.")

        # when: a request with an id queues a task
        answer = client.get("/queue-a-task", HTTP_X_REQUEST_ID="req-celery-42")

        # then: the worker's lines about that task carry the request's id
        task_id = answer.json()["task"]
        worker.wait_for(f"[{task_id}] succeeded", timeout=TASK_WAIT)
        lines = [json.loads(line) for line in worker.output().splitlines() if line.startswith("{")]
        assert lines, worker.output()
        done = [line for line in lines if f"[{task_id}] succeeded" in line["message"]]
        assert [line["correlation_id"] for line in done] == ["req-celery-42"]
        assert done[0]["logger"].startswith("celery")
    finally:
        worker.stop()
