"""Alerts by severity to the channels each severity is routed to (e-mail with a login over
STARTTLS, Telegram, a signed webhook), the alert history, Alertmanager's webhook, and the
security-event bursts that raise alerts. Real local servers stand in for the outside world
(evpower/tests/support/stand_ins.py)."""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import time
import uuid

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.test import Client as HttpClient
from tenacity import wait_fixed

from evpower import alerts
from evpower.alert_channels import webhook_signature
from evpower.models import Alert, SecurityEvent
from evpower.security_events import CONNECTION_REFUSED, PAYMENT_AUTH_FAILED, security_event_record
from evpower.tests.support.processes import free_port
from evpower.tests.support.stand_ins import Mailbox, telegram_texts

pytestmark = pytest.mark.django_db

HOOK_PATH = "/hooks/evpower"
HOOK_SECRET = "hook-secret-0123456789"  # noqa: S105 - test credential
AM_TOKEN = "am-token-0123456789"  # noqa: S105 - test credential


@pytest.fixture
def channels(settings, smtp_server, telegram, monkeypatch):
    """All three channels configured, every severity routed as by default."""
    settings.ALERT_EMAILS = ["ops@evpower.kg"]
    settings.ALERT_WEBHOOK = {"url": telegram.url + HOOK_PATH, "secret": HOOK_SECRET}
    settings.ALERT_MIN_INTERVAL_SECONDS = 60
    telegram.answer(HOOK_PATH, (204, b""))
    monkeypatch.setattr(alerts, "RATE_LIMIT_PREFIX", f"test-alert-{uuid.uuid4().hex}:")
    monkeypatch.setattr(alerts, "RETRY_WAIT", wait_fixed(0.01))
    return smtp_server, telegram


def key(name: str = "test") -> str:
    return f"{name}:{uuid.uuid4().hex}"


def test_each_severity_goes_where_it_is_routed_and_every_alert_is_in_the_history(
    channels, settings
):
    mailbox, stub = channels
    settings.ALERT_ROUTES = {**settings.ALERT_ROUTES, "medium": ("telegram",)}

    assert alerts.operator_alert(key=key(), subject="Payments down", text="t", severity="critical")
    assert alerts.operator_alert(key=key(), subject="Disk 86 %", text="t", severity="medium")
    assert not alerts.operator_alert(key=key(), subject="Note", text="t", severity="low")

    assert [m["Subject"] for m in mailbox.messages] == ["[EvPower] [CRITICAL] Payments down"]
    assert [t.split("\n")[0] for t in telegram_texts(stub)] == ["Payments down", "Disk 86 %"]
    [hook] = stub.to(HOOK_PATH)
    assert json.loads(hook["body"])["severity"] == "critical"
    history = {a.subject: a for a in Alert.objects.all()}
    assert (history["Payments down"].outcome, history["Payments down"].channels) == (
        "sent",
        {"email": "sent", "telegram": "sent", "webhook": "sent"},
    )
    assert history["Disk 86 %"].channels == {"telegram": "sent"}
    assert (history["Note"].outcome, history["Note"].channels) == ("not_routed", {})


def test_the_webhook_is_signed_over_its_timestamp_and_body(channels):
    _, stub = channels
    before = int(time.time())

    alerts.operator_alert(key=key("hook"), subject="Redis down", text="no PONG", severity="high")

    [request] = stub.to(HOOK_PATH)
    stamp = request["headers"]["x-evpower-timestamp"]
    assert before <= int(stamp) <= int(time.time())
    expected = webhook_signature(HOOK_SECRET, stamp, request["body"])
    assert request["headers"]["x-evpower-signature"] == expected
    assert webhook_signature("another-secret", stamp, request["body"]) != expected
    body = json.loads(request["body"])
    assert (body["subject"], body["text"], body["source"]) == ("Redis down", "no PONG", "platform")


def test_a_failing_channel_is_recorded_and_the_others_still_deliver(channels):
    _, stub = channels
    stub.answer(HOOK_PATH, (500, {"error": "down"}))

    assert alerts.operator_alert(key=key(), subject="Celery failing", text="t")

    [alert] = Alert.objects.all()
    assert alert.outcome == "sent" and alert.channels["webhook"] == "webhook 500"
    assert len(stub.to(HOOK_PATH)) == alerts.SYNC_ATTEMPTS  # a 5xx is tried again


# -- e-mail that logs in -------------------------------------------------------------------


def _self_signed(tmp_path) -> tuple[str, str]:
    """A certificate for 127.0.0.1 (its own CA) and its key, as PEM files."""
    private_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(private_key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "smtp.pem", tmp_path / "smtp.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_file), str(key_file)


@pytest.fixture
def smtp_with_login(settings, tmp_path, monkeypatch):
    """An SMTP server that wants STARTTLS, then a login (as a provider's relay on 587)."""
    cert_file, key_file = _self_signed(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert_file, key_file)
    logins: list[tuple[str, str]] = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        logins.append((auth_data.login.decode(), auth_data.password.decode()))
        ok = (auth_data.login, auth_data.password) == (b"alerts@evpower.kg", b"app-password-1")
        return AuthResult(success=ok, handled=False)  # not handled: the server answers 535

    mailbox = Mailbox()
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=tls,
        require_starttls=True,
        auth_require_tls=True,
        auth_required=True,
        authenticator=authenticator,
        auth_exclude_mechanism=["LOGIN"],  # PLAIN, the one smtplib tries first
    )
    controller.start()
    monkeypatch.setenv("SSL_CERT_FILE", cert_file)  # the client trusts this server's cert
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_USE_TLS, settings.EMAIL_USE_SSL = True, False
    settings.EMAIL_HOST_USER = "alerts@evpower.kg"
    settings.EMAIL_HOST_PASSWORD = "app-password-1"  # noqa: S105 - test credential
    settings.ALERT_EMAILS = ["duty@evpower.kg"]
    settings.TELEGRAM = {"bot_token": "", "chat_id": "", "api_url": "http://127.0.0.1:9"}
    settings.ALERT_WEBHOOK = {"url": "", "secret": ""}
    monkeypatch.setattr(alerts, "RATE_LIMIT_PREFIX", f"test-alert-{uuid.uuid4().hex}:")
    monkeypatch.setattr(alerts, "RETRY_WAIT", wait_fixed(0.01))
    yield mailbox, logins
    controller.stop()


def test_email_logs_in_over_starttls(smtp_with_login):
    mailbox, logins = smtp_with_login

    assert alerts.operator_alert(key=key(), subject="Station CP-1 offline", text="since 03:12")

    assert logins == [("alerts@evpower.kg", "app-password-1")]
    [message] = mailbox.messages
    assert message["Subject"] == "[EvPower] Station CP-1 offline"


def test_a_refused_login_is_a_failure_in_the_history_and_not_retried(smtp_with_login, settings):
    mailbox, logins = smtp_with_login
    settings.EMAIL_HOST_PASSWORD = "wrong"  # noqa: S105 - test credential

    assert not alerts.operator_alert(key=key(), subject="Station CP-2 offline", text="t")

    assert mailbox.messages == [] and len(logins) == 1  # refused for good: not tried again
    [alert] = Alert.objects.all()
    assert alert.outcome == "failed" and "SMTPAuthenticationError" in alert.channels["email"]


# -- Alertmanager ------------------------------------------------------------------------------


def alertmanager_payload(status="firing", severity="critical", fingerprint=None) -> dict:
    fingerprint = fingerprint or uuid.uuid4().hex[:16]
    return {
        "version": "4",
        "groupKey": '{}:{alertname="EvPowerDatabaseDown"}',
        "status": status,
        "receiver": "evpower",
        "groupLabels": {"alertname": "EvPowerDatabaseDown"},
        "commonLabels": {"alertname": "EvPowerDatabaseDown", "severity": severity},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "truncatedAlerts": 0,
        "alerts": [
            {
                "status": status,
                "labels": {
                    "alertname": "EvPowerDatabaseDown",
                    "severity": severity,
                    "instance": "web-1:8000",
                },
                "annotations": {
                    "summary": "PostgreSQL is unreachable",
                    "description": "Readiness reports the database down for 2 minutes.",
                    "runbook_url": "docs/operations/alerts.md#evpowerdatabasedown",
                },
                "startsAt": "2026-12-05T10:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-12-05T10:09:00Z",
                "generatorURL": "http://prometheus:9090/graph",
                "fingerprint": fingerprint,
            }
        ],
    }


def post_alertmanager(payload, token=AM_TOKEN):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return HttpClient().post(
        "/alerts/alertmanager",
        data=json.dumps(payload) if isinstance(payload, dict) else payload,
        content_type="application/json",
        **headers,
    )


def test_alertmanager_alerts_reach_operators_through_the_same_service(channels, settings):
    mailbox, stub = channels
    settings.ALERTMANAGER_WEBHOOK_TOKEN = AM_TOKEN

    firing = alertmanager_payload(fingerprint="fp-db-1")
    first = post_alertmanager(firing)
    repeat = post_alertmanager(firing)  # Alertmanager's repeat_interval: held back
    resolved = post_alertmanager(alertmanager_payload("resolved", fingerprint="fp-db-1"))

    assert [r.status_code for r in (first, repeat, resolved)] == [200, 200, 200]
    assert (first.json()["sent"], repeat.json()["sent"], resolved.json()["sent"]) == (1, 0, 1)
    subjects = [m["Subject"] for m in mailbox.messages]
    assert subjects == [
        "[EvPower] [CRITICAL] EvPowerDatabaseDown: PostgreSQL is unreachable",
        "[EvPower] [CRITICAL] Resolved: EvPowerDatabaseDown: PostgreSQL is unreachable",
    ]
    text = mailbox.messages[0].get_content()
    assert "Readiness reports the database down" in text and "instance=web-1:8000" in text
    assert "runbook_url: docs/operations/alerts.md#evpowerdatabasedown" in text
    history = Alert.objects.filter(source="prometheus").order_by("id")
    assert [(a.severity, a.key) for a in history] == [
        ("critical", "prometheus:fp-db-1:firing"),
        ("critical", "prometheus:fp-db-1:resolved"),
    ]


def test_alertmanager_severity_label_routes_and_an_unknown_one_counts_as_high(channels, settings):
    _, stub = channels
    settings.ALERTMANAGER_WEBHOOK_TOKEN = AM_TOKEN
    settings.ALERT_ROUTES = {**settings.ALERT_ROUTES, "high": ("telegram",)}

    post_alertmanager(alertmanager_payload(severity="low"))
    post_alertmanager(alertmanager_payload(severity="page-everyone"))

    assert [a.severity for a in Alert.objects.order_by("id")] == ["low", "high"]
    assert len(telegram_texts(stub)) == 1 and not stub.to(HOOK_PATH)


@pytest.mark.parametrize("token", [None, "wrong-token", ""])
def test_alertmanager_without_the_token_is_refused_and_sends_nothing(channels, settings, token):
    mailbox, _ = channels
    settings.ALERTMANAGER_WEBHOOK_TOKEN = AM_TOKEN

    response = post_alertmanager(alertmanager_payload(), token=token)

    assert response.status_code == 401 and mailbox.messages == []
    assert not Alert.objects.exists()


def test_alertmanager_is_closed_when_no_token_is_configured(channels, settings):
    settings.ALERTMANAGER_WEBHOOK_TOKEN = ""
    assert post_alertmanager(alertmanager_payload(), token="").status_code == 401
    assert post_alertmanager(alertmanager_payload(), token="anything").status_code == 401


@pytest.mark.parametrize("body", ["not json", "{}", '{"alerts": "x"}', '{"alerts": [1, 2]}', "[]"])
def test_a_malformed_alertmanager_payload_is_a_400(channels, settings, body):
    settings.ALERTMANAGER_WEBHOOK_TOKEN = AM_TOKEN
    response = post_alertmanager(body)
    assert response.status_code == 400 and "error" in response.json()


def test_when_every_channel_fails_alertmanager_is_told_to_retry_and_the_retry_delivers(
    channels, settings
):
    mailbox, stub = channels
    settings.ALERTMANAGER_WEBHOOK_TOKEN = AM_TOKEN
    settings.ALERT_ROUTES = {**settings.ALERT_ROUTES, "critical": ("webhook",)}
    stub.answer(HOOK_PATH, (503, {"error": "down"}), (503, {"error": "down"}), (204, b""))
    payload = alertmanager_payload(fingerprint="fp-retry")

    failed = post_alertmanager(payload)
    retried = post_alertmanager(payload)  # Alertmanager's retry: the key was released

    assert (failed.status_code, retried.status_code) == (502, 200)
    assert [a.outcome for a in Alert.objects.order_by("id")] == ["failed", "sent"]


# -- security bursts ---------------------------------------------------------------------------


# the alerts of bursts go out after the event's commit, on the alerts' own thread: these
# tests commit for real, and are flushed afterwards


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_refused_charger_logins_raises_one_alert(channels, settings, eager_celery):
    _, stub = channels
    settings.SECURITY_ALERT_BURST = 5
    for n in range(settings.SECURITY_ALERT_BURST * 2):
        security_event_record(
            station_id=None,
            identity="CP-GUESSED",
            kind=CONNECTION_REFUSED,
            tech_info="wrong credentials",
            remote_addr=f"203.0.113.{n}",  # many addresses: the identity is what repeats
        )
    alerts.background_flushed()

    [alert] = Alert.objects.filter(source="security")
    assert alert.severity == "high" and "identity CP-GUESSED" in alert.subject
    assert len(telegram_texts(stub)) == 1


@pytest.mark.django_db(transaction=True)
def test_forged_payment_callbacks_from_one_address_raise_an_alert(channels, settings, eager_celery):
    settings.SECURITY_ALERT_BURST = 3
    for _ in range(2):
        security_event_record(
            station_id=None, identity="payme", kind=PAYMENT_AUTH_FAILED, remote_addr="198.51.100.7"
        )
    alerts.background_flushed()
    assert not Alert.objects.exists()  # under the burst: nothing yet
    security_event_record(
        station_id=None, identity="payme", kind=PAYMENT_AUTH_FAILED, remote_addr="198.51.100.7"
    )
    alerts.background_flushed()

    subjects = sorted(a.subject for a in Alert.objects.filter(source="security"))
    assert subjects == [
        "Security: 3+ payment callbacks that failed verification from address 198.51.100.7",
        "Security: 3+ payment callbacks that failed verification from identity payme",
    ]


def test_events_a_charger_reports_itself_do_not_count_as_a_burst(channels, settings):
    settings.SECURITY_ALERT_BURST = 2
    for _ in range(3):
        security_event_record(
            station_id=None,
            identity="CP-1",
            kind=CONNECTION_REFUSED,
            source=SecurityEvent.Source.CHARGER,
        )
    alerts.background_flushed()
    assert not Alert.objects.exists()
