"""/metrics: who may scrape it, and each of our metrics moving when the real thing happens
(read back through /metrics itself)."""

from __future__ import annotations

import base64
import json
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from accounts.models import Client as Driver
from charging.session.models import ChargingSession
from evpower.celery import app as celery_app
from ocpp_bridge.commands import send_command
from payments.models import Wallet
from payments.providers.http import breaker
from payments.topups import topup_create

TOKEN = "metrics-token-for-tests-0123456789"  # noqa: S105 - test credential
PAYME_KEY = "metrics-test-payme-key"  # noqa: S105 - test credential


@pytest.fixture(autouse=True)
def metrics_token(settings):
    settings.METRICS_TOKEN = TOKEN


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def scrape(**extra) -> dict[tuple[str, frozenset], float]:
    response = Client().get("/metrics", **(extra or bearer()))
    assert response.status_code == 200, response.content
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def new_driver() -> Driver:
    return Driver.objects.create(phone=f"+99677{time.monotonic_ns() % 10**7:07d}")


# -- access --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_metrics_refuses_callers_without_credentials():
    response = Client().get("/metrics")

    assert response.status_code == 403
    assert b"django_http" not in response.content


@pytest.mark.django_db
@pytest.mark.parametrize("token", ["wrong", TOKEN.upper(), "x" + TOKEN, TOKEN[:-1]])
def test_metrics_refuses_a_wrong_token(token):
    assert Client().get("/metrics", **bearer(token)).status_code == 401


@pytest.mark.django_db
def test_metrics_refuses_every_token_when_none_is_configured(settings):
    settings.METRICS_TOKEN = ""

    assert Client().get("/metrics", **bearer("")).status_code == 401
    assert Client().get("/metrics").status_code == 403


@pytest.mark.django_db
def test_metrics_are_served_to_a_staff_session_but_not_to_other_users():
    users = get_user_model().objects
    staff = Client()
    staff.force_login(users.create_user("ops", "ops@example.kg", "pw-0123456789", is_staff=True))
    other = Client()
    other.force_login(users.create_user("someone", "s@example.kg", "pw-0123456789"))

    assert staff.get("/metrics").status_code == 200
    assert other.get("/metrics").status_code == 403


@pytest.mark.django_db
def test_metrics_allow_list_refuses_other_addresses_even_with_the_token(settings):
    settings.METRICS_ALLOWED_IPS = ["10.1.0.0/16", "192.0.2.7"]

    assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics", **bearer()).status_code == 200
    assert Client(REMOTE_ADDR="192.0.2.7").get("/metrics", **bearer()).status_code == 200
    assert Client(REMOTE_ADDR="10.2.0.1").get("/metrics", **bearer()).status_code == 403


@pytest.mark.django_db
def test_metrics_hold_http_and_database_metrics_and_each_of_ours():
    Client().get("/api/v1/version")

    text = Client().get("/metrics", **bearer()).content.decode()

    families = {family.name for family in text_string_to_metric_families(text)}
    assert {"django_http_requests_total_by_method", "django_db_execute"} <= families
    assert {
        "evpower_ocpp_messages",
        "evpower_ocpp_handling_seconds",
        "evpower_ocpp_commands",
        "evpower_payment_auth_failures",
        "evpower_rate_limit_rejections",
        "evpower_chargers_connected",
        "evpower_charging_sessions",
        "evpower_payments",
        "evpower_payment_circuit_breaker_state",
        "evpower_celery_tasks",
        "evpower_outbound_calls",
        "evpower_alerts",
        "evpower_ocpp_handshake_refusals",
        "evpower_disk_free_bytes",
        "evpower_disk_size_bytes",
        "evpower_dependency_up",
    } <= families


# -- counting ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_database_queries_are_counted_by_the_instrumented_engine():
    before = scrape()
    for _ in range(5):
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")

    after = scrape()

    labels = {"alias": "default", "vendor": connection.vendor}
    assert (
        value(after, "django_db_execute_total", **labels)
        >= value(before, "django_db_execute_total", **labels) + 5
    )


@pytest.mark.django_db
def test_a_throttled_request_counts_a_rejection_for_its_scope(settings):
    rest = dict(settings.REST_FRAMEWORK)
    rest["DEFAULT_THROTTLE_RATES"] = {**rest["DEFAULT_THROTTLE_RATES"], "anon": "1/minute"}
    settings.REST_FRAMEWORK = rest
    before = value(scrape(), "evpower_rate_limit_rejections_total", scope="anon")

    codes = [Client().get("/api/v1/version").status_code for _ in range(3)]

    assert codes == [200, 429, 429]
    assert value(scrape(), "evpower_rate_limit_rejections_total", scope="anon") == before + 2


@pytest.mark.django_db
def test_a_forged_payme_request_counts_an_auth_failure(settings):
    settings.PAYMENT_PROVIDERS = ["payme"]
    settings.PAYME = {
        "merchant_id": "m-1",
        "key": PAYME_KEY,
        "checkout_url": "https://checkout.test.paycom.uz",
    }
    forged = "Basic " + base64.b64encode(b"Paycom:not-the-key").decode()
    before = value(scrape(), "evpower_payment_auth_failures_total", provider="payme")

    answer = Client().post(
        "/api/v1/payments/payme",
        content_type="application/json",
        data=json.dumps({"method": "CheckPerformTransaction", "id": 1, "params": {}}),
        HTTP_AUTHORIZATION=forged,
    )

    assert answer.json()["error"]["code"] == -32504
    assert value(scrape(), "evpower_payment_auth_failures_total", provider="payme") == before + 1


@pytest.mark.django_db
def test_sessions_and_payments_show_in_their_gauges(settings, make_station):
    settings.PAYMENT_PROVIDERS = ["payme"]
    settings.PAYME = {
        "merchant_id": "m-1",
        "key": PAYME_KEY,
        "checkout_url": "https://checkout.test.paycom.uz",
    }
    before = scrape()
    station = make_station("CP-GAUGE")
    driver = new_driver()
    ChargingSession.objects.create(
        client=driver,
        station=station,
        connector=station.connectors.get(number=1),
        connector_number=1,
        id_tag="GAUGE1",
        status=ChargingSession.Status.FAILED,
        settled=True,
        limit_type=ChargingSession.LimitType.NONE,
        tariff={},
    )
    Wallet.objects.create(client=driver, currency="UZS")
    payment = topup_create(client=driver, provider="payme", amount=Decimal("15000.00"))

    after = scrape()

    assert (
        value(after, "evpower_charging_sessions", status="failed")
        == value(before, "evpower_charging_sessions", status="failed") + 1
    )
    labels = {"provider": "payme", "status": payment.status}
    assert (
        value(after, "evpower_payments", **labels)
        == value(before, "evpower_payments", **labels) + 1
    )


@pytest.mark.django_db
def test_a_command_to_an_offline_charger_is_counted_with_its_result(make_station):
    station = make_station("CP-OFFLINE")
    before = scrape()

    result = send_command(station=station, action="Reset", payload={"type": "Soft"})

    assert result.status == "offline"
    labels = {"action": "Reset", "result": "offline"}
    assert (
        value(scrape(), "evpower_ocpp_commands_total", **labels)
        == value(before, "evpower_ocpp_commands_total", **labels) + 1
    )


@pytest.mark.django_db
def test_an_open_circuit_breaker_shows_as_2_and_closed_as_0():
    provider_breaker = breaker("metrics-test")
    try:
        provider_breaker.open()
        opened = value(scrape(), "evpower_payment_circuit_breaker_state", provider="metrics-test")
        provider_breaker.close()
        closed = value(scrape(), "evpower_payment_circuit_breaker_state", provider="metrics-test")
    finally:
        provider_breaker.close()

    assert (opened, closed) == (2, 0)


@pytest.mark.django_db
def test_celery_task_runs_and_failures_are_counted_by_task(make_station):
    task = celery_app.tasks["stations.reservations_expire"]
    labels = {"task": task.name}
    before = scrape()

    task.apply()
    task.apply()
    task.apply(args=("an argument it does not take",))  # fails inside the task's run

    after = scrape()
    assert (
        value(after, "evpower_celery_tasks_total", outcome="success", **labels)
        == value(before, "evpower_celery_tasks_total", outcome="success", **labels) + 2
    )
    assert (
        value(after, "evpower_celery_tasks_total", outcome="failure", **labels)
        == value(before, "evpower_celery_tasks_total", outcome="failure", **labels) + 1
    )


def test_both_ocpp_versions_actions_are_labels_and_anything_else_is_unknown():
    from evpower.metrics.registry import action_label

    assert action_label("StartTransaction") == "StartTransaction"  # 1.6
    assert action_label("TransactionEvent") == "TransactionEvent"  # 2.0.1
    assert action_label("NotifyEvent") == "NotifyEvent"
    assert action_label("DropTables") == "unknown"


@pytest.mark.django_db
def test_backup_age_and_free_disk_are_gauges(settings, tmp_path):
    from django.utils import timezone

    from maintenance.models import Backup

    settings.BACKUP_DIR = str(tmp_path / "not-made-yet" / "backups")  # its file system all the same
    assert not any(name == "evpower_backup_age_seconds" for name, _ in scrape())  # none yet
    Backup.objects.create(
        slot="s1", status=Backup.Status.OK, finished_at=timezone.now() - timedelta(hours=3)
    )
    Backup.objects.create(slot="s2", status=Backup.Status.FAILED, finished_at=timezone.now())

    samples = scrape()

    age = value(samples, "evpower_backup_age_seconds")
    assert 3 * 3600 <= age < 3 * 3600 + 120  # the newest good one, not the failed one
    for path in ("backups", "app"):
        free = value(samples, "evpower_disk_free_bytes", path=path)
        assert 0 < free <= value(samples, "evpower_disk_size_bytes", path=path)


@pytest.mark.django_db
def test_outbound_calls_and_alerts_are_counted_by_target_result_and_severity(
    settings, telegram, monkeypatch
):
    import uuid

    from evpower import alerts

    monkeypatch.setattr(alerts, "RATE_LIMIT_PREFIX", f"test-alert-{uuid.uuid4().hex}:")
    settings.ALERT_EMAILS = []
    settings.ALERT_ROUTES = {**settings.ALERT_ROUTES, "medium": ("telegram",)}
    before = scrape()

    alerts.operator_alert(key=f"m:{uuid.uuid4().hex}", subject="a", text="b", severity="medium")
    alerts.operator_alert(key=f"l:{uuid.uuid4().hex}", subject="a", text="b", severity="low")
    repeat = f"r:{uuid.uuid4().hex}"
    alerts.operator_alert(key=repeat, subject="a", text="b", severity="medium")
    alerts.operator_alert(key=repeat, subject="a", text="b", severity="medium")

    after = scrape()
    for name, labels, more in (
        ("evpower_outbound_calls_total", {"target": "telegram", "result": "ok"}, 2),
        ("evpower_alerts_total", {"severity": "medium", "outcome": "sent"}, 2),
        ("evpower_alerts_total", {"severity": "medium", "outcome": "suppressed"}, 1),
        ("evpower_alerts_total", {"severity": "low", "outcome": "not_routed"}, 1),
    ):
        assert value(after, name, **labels) == value(before, name, **labels) + more, labels


def test_provider_calls_are_counted_by_result_and_an_open_breaker_as_not_tried(http_stub, settings):
    from payments.providers.base import ProviderUnavailable
    from payments.providers.http import call

    settings.PAYMENT_HTTP_ATTEMPTS = 1
    http_stub.answer("/ok", (200, {"ok": True}))
    http_stub.answer("/no", (403, {"error": "forbidden"}))
    http_stub.answer("/down", (503, {"error": "down"}))
    provider = "metrics-calls"
    before = scrape()

    for path in ("/ok", "/no"):
        call(provider, lambda client, p=path: client.post(http_stub.url + p), idempotent=False)
    with pytest.raises(ProviderUnavailable):
        call(provider, lambda client: client.post(http_stub.url + "/down"), idempotent=False)
    breaker(provider).open()
    try:
        with pytest.raises(ProviderUnavailable):
            call(provider, lambda client: client.post(http_stub.url + "/ok"), idempotent=False)
    finally:
        breaker(provider).close()

    after = scrape()
    counted = "evpower_outbound_calls_total"
    for result in ("ok", "rejected", "failed", "circuit_open"):
        labels = {"target": provider, "result": result}
        assert value(after, counted, **labels) == value(before, counted, **labels) + 1, result


@pytest.mark.django_db
def test_the_readiness_checks_and_beats_last_tick_are_gauges(settings):
    from evpower.probes.beat import beat_tick_record
    from evpower.probes.memo import memo

    beat_tick_record(now=1_800_000_000.0)
    memo.clear()
    samples = scrape()
    assert value(samples, "evpower_dependency_up", dependency="database") == 1
    assert value(samples, "evpower_dependency_up", dependency="redis") == 1
    assert value(samples, "evpower_beat_last_tick_timestamp_seconds") == 1_800_000_000.0

    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    memo.clear()
    assert value(scrape(), "evpower_dependency_up", dependency="redis") == 0


@pytest.mark.parametrize(
    "files, expected",
    [
        ({"v2/memory.current": "104857600", "v2/memory.max": "536870912"}, (104857600, 536870912)),
        ({"v2/memory.current": "104857600", "v2/memory.max": "max"}, None),  # no limit
        ({"v1/memory.usage_in_bytes": "2048", "v1/memory.limit_in_bytes": "4096"}, (2048, 4096)),
        ({"v1/memory.usage_in_bytes": "2048", "v1/memory.limit_in_bytes": str(2**63 - 4096)}, None),
        ({}, None),  # not in a container
    ],
)
def test_the_containers_memory_and_limit_are_read_from_its_cgroup(tmp_path, files, expected):
    from evpower.probes.metrics import container_memory

    for name, content in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(content + "\n")
    assert container_memory(tmp_path / "v2", tmp_path / "v1") == expected
