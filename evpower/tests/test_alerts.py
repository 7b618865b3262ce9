"""Operator alerts (evpower.alerts) against real local servers: an SMTP server (aiosmtpd)
and an HTTP server standing in for the Telegram Bot API. Also the hooks that raise them
(parked charger messages, new reconciliation discrepancies).

`HttpStub` is shared with the push tests (accounts/tests/test_notifications.py)."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.db import transaction
from tenacity import wait_fixed

from evpower import alerts
from evpower.alert_channels import Notice
from evpower.tests.support.processes import free_port
from evpower.tests.support.stand_ins import OK, SEND_PATH, telegram_texts

# -- stand-in servers: evpower/tests/support/stand_ins.py, fixtures in the root conftest


@pytest.fixture
def channels(settings, smtp_server, telegram, monkeypatch):
    """Both channels configured, a 60 s rate limit, and retries without real waiting. The
    rate limit lives in the shared Redis: each test gets its own key prefix there (another
    run's station 1 is not this run's)."""
    settings.ALERT_EMAILS = ["ops@evpower.kg", "duty@evpower.kg"]
    settings.ALERT_MIN_INTERVAL_SECONDS = 60
    monkeypatch.setattr(alerts, "RATE_LIMIT_PREFIX", f"test-alert-{uuid.uuid4().hex}:")
    monkeypatch.setattr(alerts, "RETRY_WAIT", wait_fixed(0.01))
    return smtp_server, telegram


def unique_key(name: str = "test") -> str:
    """Rate-limit keys live in the shared Redis: each test uses its own."""
    return f"{name}:{uuid.uuid4().hex}"


# -- sending -------------------------------------------------------------------------------


def test_an_alert_goes_out_by_email_and_telegram(channels):
    mailbox, telegram_stub = channels

    sent = alerts.operator_alert(
        key=unique_key(), subject="Station CP-1 offline", text="No heartbeat since 03:12 UTC."
    )

    assert sent is True
    [message] = mailbox.messages
    assert message["Subject"] == "[EvPower] Station CP-1 offline"
    assert sorted(mailbox.envelopes[0].rcpt_tos) == ["duty@evpower.kg", "ops@evpower.kg"]
    assert message.get_content().strip() == "No heartbeat since 03:12 UTC."
    [request] = telegram_stub.to(SEND_PATH)
    payload = json.loads(request["body"])
    assert payload["chat_id"] == "-100200300"
    assert payload["text"] == "Station CP-1 offline\n\nNo heartbeat since 03:12 UTC."
    assert request["headers"]["content-type"].startswith("application/json")


def test_the_same_key_twice_within_the_interval_sends_one_alert(channels):
    mailbox, telegram_stub = channels
    key = unique_key("station-offline")

    first = alerts.operator_alert(key=key, subject="Station CP-1 offline", text="1")
    second = alerts.operator_alert(key=key, subject="Station CP-1 offline", text="2")
    other = alerts.operator_alert(
        key=unique_key("station-offline"), subject="CP-2 offline", text="3"
    )

    assert (first, second, other) == (True, False, True)
    assert [m["Subject"] for m in mailbox.messages] == [
        "[EvPower] Station CP-1 offline",
        "[EvPower] CP-2 offline",
    ]
    assert telegram_texts(telegram_stub) == ["Station CP-1 offline\n\n1", "CP-2 offline\n\n3"]


def test_after_the_interval_the_same_key_alerts_again(channels, settings, monkeypatch):
    """On a cache whose clock the test moves: a slow machine changes nothing."""
    from django.core.cache.backends import base, locmem

    mailbox, _ = channels
    settings.ALERT_MIN_INTERVAL_SECONDS = 60
    now = [1_000_000.0]
    clock = SimpleNamespace(time=lambda: now[0])
    monkeypatch.setattr(base, "time", clock)
    monkeypatch.setattr(locmem, "time", clock)
    monkeypatch.setattr(alerts, "cache", locmem.LocMemCache(f"alerts-{uuid.uuid4().hex}", {}))
    key = unique_key()

    assert alerts.operator_alert(key=key, subject="flap", text="down") is True
    now[0] += 59
    assert alerts.operator_alert(key=key, subject="flap", text="down") is False
    now[0] += 2
    assert alerts.operator_alert(key=key, subject="flap", text="down again") is True

    assert len(mailbox.messages) == 2


def test_two_racing_callers_send_one_alert(channels):
    mailbox, telegram_stub = channels
    key = unique_key()
    results = []
    threads = [
        threading.Thread(
            target=lambda: results.append(alerts.operator_alert(key=key, subject="race", text="x"))
        )
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(results) == [False, False, False, True]
    assert len(mailbox.messages) == 1 and len(telegram_stub.to(SEND_PATH)) == 1


def test_telegram_5xx_is_retried_then_delivered(channels):
    _, telegram_stub = channels
    telegram_stub.answer(SEND_PATH, (502, {"ok": False, "description": "Bad Gateway"}), OK)

    assert alerts.operator_alert(key=unique_key(), subject="s", text="t") is True

    assert len(telegram_stub.to(SEND_PATH)) == 2


def test_telegram_429_waits_as_asked(channels, monkeypatch):
    _, telegram_stub = channels
    telegram_stub.answer(
        SEND_PATH,
        (
            429,
            {"ok": False, "description": "Too Many Requests", "parameters": {"retry_after": 0.3}},
        ),
        OK,
    )

    assert alerts.operator_alert(key=unique_key(), subject="s", text="t") is True

    first, second = telegram_stub.to(SEND_PATH)
    assert second["at"] - first["at"] >= 0.3


def test_a_channel_that_is_down_does_not_stop_the_other(channels, settings):
    mailbox, telegram_stub = channels
    telegram_stub.answer(SEND_PATH, (500, {"ok": False}))

    assert alerts.operator_alert(key=unique_key(), subject="s", text="t") is True

    assert len(mailbox.messages) == 1
    assert len(telegram_stub.to(SEND_PATH)) == alerts.SYNC_ATTEMPTS


def test_nothing_delivered_returns_false_never_raises_and_frees_the_key(channels, settings):
    mailbox, telegram_stub = channels
    settings.EMAIL_PORT = free_port()  # nobody listens there
    telegram_stub.answer(SEND_PATH, (401, {"ok": False, "description": "Unauthorized"}))
    key = unique_key()

    assert alerts.operator_alert(key=key, subject="s", text="t") is False
    assert len(telegram_stub.to(SEND_PATH)) == 1  # a refusal is not retried

    telegram_stub.answer(SEND_PATH, OK)  # the next alert about it is not rate limited away
    assert alerts.operator_alert(key=key, subject="s", text="t") is True


def test_no_channel_configured_sends_nothing(settings):
    settings.ALERT_EMAILS = []
    settings.TELEGRAM = {"bot_token": "", "chat_id": "", "api_url": "http://127.0.0.1:9"}

    assert alerts.operator_alert(key=unique_key(), subject="s", text="t") is False


# -- after commit (what services call inside their transactions) ---------------------------


@pytest.mark.django_db
# Alerts queued after a commit are sent (and kept in the history) on the alerts' own
# thread and its own database connection: these tests commit for real (transaction=True),
# so what that thread writes is flushed with the rest afterwards.


@pytest.mark.django_db(transaction=True)
def test_an_alert_from_a_rolled_back_transaction_is_never_sent(channels, eager_celery):
    from evpower.models import Alert

    mailbox, telegram_stub = channels

    with pytest.raises(RuntimeError), transaction.atomic():
        alerts.operator_alert_after_commit(key=unique_key(), subject="rolled back", text="x")
        raise RuntimeError("the service failed")
    with transaction.atomic():
        alerts.operator_alert_after_commit(key=unique_key(), subject="committed", text="y")
    alerts.background_flushed()

    assert list(Alert.objects.values_list("subject", "outcome")) == [("committed", "sent")]
    assert telegram_texts(telegram_stub) == ["committed\n\ny"]
    assert [m["Subject"] for m in mailbox.messages] == ["[EvPower] committed"]


@pytest.mark.django_db(transaction=True)
def test_parked_charger_messages_alert_operators_once_per_interval(
    channels, eager_celery, make_station
):
    from charging.parked import park_message
    from charging.parked_models import ParkedMessage

    _, telegram_stub = channels
    station = make_station(f"CP-{uuid.uuid4().hex[:8]}")
    for tx in (101, 102):
        with transaction.atomic():
            park_message(
                station_id=station.pk,
                action="StopTransaction",
                payload={"transactionId": tx},
                reason=ParkedMessage.Reason.UNBILLED_TRANSACTION,
                transaction_id=tx,
                detail="id tag ABC has no owner to bill",
            )
    alerts.background_flushed()

    assert ParkedMessage.objects.filter(station=station).count() == 2
    [text] = telegram_texts(telegram_stub)
    assert text.startswith(
        f"Parked StopTransaction at station {station.identity}: unbilled_transaction"
    )
    assert "transaction 101" in text and "id tag ABC has no owner to bill" in text


@pytest.mark.django_db(transaction=True)
def test_new_reconciliation_discrepancies_alert_and_known_ones_do_not(
    channels, eager_celery, settings, monkeypatch
):
    from payments import providers
    from payments.providers.base import PAID, StatementLine
    from payments.reconciliation import reconcile

    _, telegram_stub = channels
    settings.ALERT_MIN_INTERVAL_SECONDS = 0  # no rate limit: only newness stops a repeat
    monkeypatch.setitem(providers.IMPLEMENTATIONS, "odengi", f"{__name__}.StatementProvider")
    settings.PAYMENT_PROVIDERS = ["odengi"]
    day = datetime.now(UTC).date() - timedelta(days=1)
    StatementProvider.lines = [
        StatementLine(
            provider_transaction_id="T-unknown",
            order_id="EVP-NOT-OURS",
            amount=Decimal("250.00"),
            state=PAID,
            at=datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=10),
        )
    ]

    first = reconcile("odengi", day)
    again = reconcile("odengi", day)
    alerts.background_flushed()

    assert [i.kind for i in first] == [i.kind for i in again] == ["missing_credit"]
    [text] = telegram_texts(telegram_stub)
    assert text.startswith(f"Reconciliation odengi {day}: 1 new issue(s)")
    assert "missing_credit" in text and "EVP-NOT-OURS" in text


class StatementProvider:
    """A provider whose statement the test writes (only what reconcile asks of it)."""

    code = "odengi"
    currencies = ("KGS",)
    lines: list = []

    def __init__(self, *args, **kwargs):
        pass

    def statement(self, since, until):
        return [line for line in StatementProvider.lines if since <= line.at < until]


def test_an_alert_after_commit_never_waits_for_redis(settings, monkeypatch):
    """The claim (the cache) and the queueing (the broker) run on the alerts' own thread:
    the committing caller (a charger's message being answered) goes on at once."""
    settings.ALERT_EMAILS = ["ops@example.com"]
    redis_back, claimed = threading.Event(), []

    def hanging_claim(key):
        redis_back.wait(60)  # a Redis that does not answer
        claimed.append(key)
        return False

    monkeypatch.setattr(alerts, "_claim", hanging_claim)
    alerts._queue_in_background(Notice(subject="s", text="t", key="parked:1:implausible_meter"))
    assert claimed == []  # returned while the claim still hangs
    redis_back.set()
    alerts.background_flushed()
    assert claimed == ["parked:1:implausible_meter"]
