"""/health/detailed: who may read it, each dependency with its latency, degraded versus
down, connected chargers and beat's heartbeat."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from evpower.celery import app as celery_app
from evpower.probes.beat import beat_last_tick, beat_tick_record
from maintenance.scheduler import CodeDefinedScheduler
from stations.models import Station

TOKEN = "health-token-for-tests-0123456789"  # noqa: S105 - test credential
URL = "/health/detailed"


@pytest.fixture(autouse=True)
def health_token(settings):
    settings.HEALTH_TOKEN = TOKEN


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def make_user(*, staff: bool):
    return get_user_model().objects.create_user(
        f"user-{time.monotonic_ns()}", "u@example.kg", "pw-0123456789", is_staff=staff
    )


@pytest.mark.django_db
def test_detailed_refuses_callers_without_credentials():
    response = Client().get(URL)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "FORBIDDEN"
    assert "checks" not in response.json()


@pytest.mark.django_db
@pytest.mark.parametrize("token", ["wrong-token", TOKEN[:-1], TOKEN + "x", ""])
def test_detailed_refuses_a_wrong_token_with_401(token):
    response = Client().get(URL, **bearer(token))

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.django_db
def test_detailed_accepts_no_token_at_all_when_none_is_configured(settings):
    settings.HEALTH_TOKEN = ""

    assert Client().get(URL, **bearer("")).status_code == 401
    assert Client().get(URL, HTTP_AUTHORIZATION="Bearer ").status_code == 401


@pytest.mark.django_db
def test_detailed_refuses_a_logged_in_non_staff_user():
    client = Client()
    client.force_login(make_user(staff=False))

    assert client.get(URL).status_code == 403


@pytest.mark.django_db
def test_detailed_reports_each_dependency_with_its_latency_to_staff():
    client = Client()
    client.force_login(make_user(staff=True))

    response = client.get(URL)

    checks = response.json()["checks"]
    for name in ("database", "channel_layer", "cache", "chargers"):
        assert checks[name]["ok"] is True, (name, checks[name])
        assert isinstance(checks[name]["latency_ms"], float)
    assert {"celery", "beat"} <= set(checks)


@pytest.mark.django_db
def test_detailed_is_degraded_but_200_without_celery_workers(settings):
    if not settings.REDIS_URL:
        pytest.skip("needs Redis as the broker (run scripts/test.sh)")
    # given a broker on which no worker listens (the test Redis database)

    response = Client().get(URL, **bearer())

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["redis"]["ok"] is True
    assert body["checks"]["celery"] == {**body["checks"]["celery"], "ok": False, "workers": []}


@pytest.mark.django_db
def test_detailed_is_503_when_redis_is_down(settings):
    if not settings.REDIS_URL:
        pytest.skip("needs Redis (run scripts/test.sh)")
    settings.REDIS_URL = "redis://127.0.0.1:1/0"

    response = Client().get(URL, **bearer())

    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert response.json()["checks"]["redis"]["ok"] is False


@pytest.mark.django_db(transaction=True)  # the checks read on threads of their own
def test_detailed_counts_connected_chargers_only(make_station):
    now = timezone.now()
    for identity, connected, seen in [
        ("CP-ON", True, now),
        ("CP-STALE", True, now - timedelta(hours=1)),
        ("CP-OFF", False, now),
    ]:
        station = make_station(identity)
        Station.objects.filter(pk=station.pk).update(connected=connected, last_seen_at=seen)

    response = Client().get(URL, **bearer())

    assert response.json()["checks"]["chargers"]["connected"] == 1


@pytest.mark.django_db(transaction=True)  # beat closes connections it thinks are stale
def test_beat_records_a_tick_that_detailed_reports(settings):
    settings.CELERY_BROKER_URL = settings.REDIS_URL or "redis://127.0.0.1:6379/11"
    PeriodicTask.objects.update(enabled=False)  # this tick must send nothing to the broker
    beat_tick_record(now=time.time() - 3600)  # an old tick, from a beat long gone
    scheduler = CodeDefinedScheduler(app=celery_app, lazy=True)
    before = time.time()

    scheduler.tick()

    assert beat_last_tick() >= before  # this tick replaced the old one
    beat = Client().get(URL, **bearer()).json()["checks"]["beat"]
    assert beat["ok"] is True and beat["last_tick_age_seconds"] <= time.time() - before


@pytest.mark.django_db
def test_a_stale_beat_is_degraded_not_down(settings):
    settings.CELERY_BROKER_URL = settings.REDIS_URL or "redis://127.0.0.1:6379/11"
    beat_tick_record(now=time.time() - settings.HEALTH_BEAT_MAX_AGE_SECONDS - 30)

    response = Client().get(URL, **bearer())

    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["checks"]["beat"]["ok"] is False
