"""Push notifications to drivers against real local HTTP servers standing in for FCM (its
OAuth2 token endpoint and the HTTP v1 send endpoint) and a Web Push service (which
decrypts what it receives). Celery runs eagerly (no broker); the HTTP is real.

The charging and payment hooks are exercised through the real services: the session is
started, stopped and billed, the payment credited, the charger's StatusNotification
recorded — with the after-commit callbacks run (django_capture_on_commit_callbacks)."""

from __future__ import annotations

import base64
import json
import os
import socket
import time
import urllib.parse
import uuid
from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

import http_ece
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.db import transaction
from django.utils import timezone
from tenacity import wait_fixed

from accounts.models import Client, Device
from accounts.notifications import fcm, messages, service, tasks
from charging.session.models import ChargingSession
from charging.session.sweeps import sessions_cancel_unplugged
from charging.tests.support import (
    base_time,
    charging_session,
    funded_client,
    ocpp_stop,
    open_session,
)
from evpower import alerts
from evpower.tests.support.stand_ins import telegram_texts
from payments import notices
from payments.models import LedgerTransaction, Payment, Wallet
from payments.payment_records import payment_mark_paid
from payments.topups import new_order_id
from stations.services import station_record_status

pytestmark = pytest.mark.django_db
D = Decimal

PROJECT = "evp-test"
FCM_SEND = f"/v1/projects/{PROJECT}/messages:send"
CLIENT_EMAIL = "push@evp-test.iam.gserviceaccount.com"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
FCM_OK = (200, {"name": f"projects/{PROJECT}/messages/0:1"})


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def fcm_error(status: int, code: str, message: str, fcm_code: str | None = None):
    details = (
        [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": fcm_code}]
        if fcm_code
        else []
    )
    return status, {
        "error": {"code": status, "message": message, "status": code, "details": details}
    }


# -- the stand-ins -------------------------------------------------------------------------


class FakeFcm:
    """FCM on the stub server: /token checks the service account's signed JWT assertion and
    issues access tokens; the send endpoint accepts only a live token, then answers from
    `replies` (200 when empty)."""

    def __init__(self, stub, tmp_path, settings):
        self.stub, self.replies, self.tokens, self.revoked = stub, [], [], set()
        self.delivered: list[dict] = []
        self.token_url = f"{stub.url}/token"
        pem = RSA_KEY.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        path = tmp_path / "service-account.json"
        path.write_text(
            json.dumps(
                {
                    "type": "service_account",
                    "project_id": PROJECT,
                    "private_key_id": "k1",
                    "private_key": pem,
                    "client_email": CLIENT_EMAIL,
                    "client_id": "1",
                    "token_uri": "https://oauth2.googleapis.com/token",
                }
            )
        )
        settings.FCM = {
            "project_id": "",
            "credentials_file": str(path),
            "url": stub.url,
            "token_url": self.token_url,
        }
        stub.answer("/token", self._token)
        stub.answer(FCM_SEND, self._send)

    def _token(self, request):
        form = urllib.parse.parse_qs(request["body"].decode())
        try:
            claims = jwt.decode(
                form["assertion"][0],
                RSA_KEY.public_key(),
                algorithms=["RS256"],
                # google-auth names Google's endpoint, wherever it posts
                audience="https://oauth2.googleapis.com/token",
                issuer=CLIENT_EMAIL,
            )
        except (KeyError, jwt.InvalidTokenError) as exc:
            return 400, {"error": "invalid_grant", "error_description": str(exc)}
        if (
            form.get("grant_type") != ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
            or claims.get("scope") != fcm.SCOPE
        ):
            return 400, {"error": "invalid_request"}
        token = f"ya29.test-{len(self.tokens) + 1}"
        self.tokens.append(token)
        return 200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}

    def _send(self, request):
        token = request["headers"].get("authorization", "").removeprefix("Bearer ")
        if token not in self.tokens or token in self.revoked:
            return fcm_error(401, "UNAUTHENTICATED", "Request had invalid credentials.")
        reply = self.replies.pop(0) if self.replies else FCM_OK
        if reply[0] == 200:
            self.delivered.append(json.loads(request["body"])["message"])
        return reply

    def sends(self) -> list[dict]:
        """The messages FCM accepted (what the phones get)."""
        return self.delivered


@pytest.fixture
def fast_retries(monkeypatch):
    monkeypatch.setattr(tasks, "RETRY_WAIT", wait_fixed(0.01))
    monkeypatch.setattr(alerts, "RETRY_WAIT", wait_fixed(0.01))
    # once-per-interval records live in the shared Redis: this test's own names there
    monkeypatch.setattr(tasks, "CACHE_PREFIX", f"test-notify-{uuid.uuid4().hex}:")
    monkeypatch.setattr(alerts, "RATE_LIMIT_PREFIX", f"test-alert-{uuid.uuid4().hex}:")


@pytest.fixture
def fake_fcm(http_stub, tmp_path, settings, eager_celery, fast_retries, monkeypatch):
    monkeypatch.setattr(fcm, "_credentials", {})  # no access token cached by another test
    settings.WEBPUSH = {"vapid_private_key": "", "vapid_subject": ""}
    return FakeFcm(http_stub, tmp_path, settings)


class FakePushService:
    """A Web Push service on the stub server: checks the VAPID JWT, decrypts the payload
    with the subscriber's private key and records it; answers from `replies` (201)."""

    def __init__(self, stub, settings):
        self.stub, self.replies, self.received = stub, [], []
        vapid_key = ec.generate_private_key(ec.SECP256R1())
        self.vapid_public = vapid_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        settings.WEBPUSH = {
            "vapid_private_key": b64url(
                vapid_key.private_numbers().private_value.to_bytes(32, "big")
            ),
            "vapid_subject": "mailto:ops@evpower.kg",
        }
        settings.FCM = {**settings.FCM, "credentials_file": ""}
        self.subscribers: dict[str, tuple] = {}

    def subscribe(self, client: Client) -> Device:
        """A browser subscribing: its own P-256 key pair and auth secret."""
        name = uuid.uuid4().hex[:12]
        key, auth = ec.generate_private_key(ec.SECP256R1()), os.urandom(16)
        path = f"/push/{name}"
        self.subscribers[path] = (key, auth)
        self.stub.answer(path, self._receive)
        public = key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        endpoint = f"{self.stub.url}{path}"
        return Device.objects.create(
            client=client,
            kind=Device.Kind.WEBPUSH,
            token=endpoint,
            subscription={
                "endpoint": endpoint,
                "keys": {"p256dh": b64url(public), "auth": b64url(auth)},
            },
        )

    def _receive(self, request):
        headers = request["headers"]
        scheme, _, params = headers.get("authorization", "").partition(" ")
        fields = dict(part.split("=", 1) for part in params.split(","))
        if scheme != "vapid" or b64url_decode(fields["k"]) != self.vapid_public:
            return 401, {"reason": "bad vapid"}
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), self.vapid_public)
        try:
            claims = jwt.decode(fields["t"], public, algorithms=["ES256"], audience=self.stub.url)
        except jwt.InvalidTokenError:
            return 401, {"reason": "bad vapid signature"}
        key, auth = self.subscribers[request["path"]]
        plain = http_ece.decrypt(
            request["body"], private_key=key, auth_secret=auth, version="aes128gcm"
        )
        self.received.append(
            {
                "path": request["path"],
                "headers": headers,
                "claims": claims,
                "payload": json.loads(plain),
            }
        )
        return self.replies.pop(0) if self.replies else (201, b"")


@pytest.fixture
def push_service(http_stub, settings, eager_celery, fast_retries):
    return FakePushService(http_stub, settings)


def fcm_device(client: Client) -> Device:
    return Device.objects.create(
        client=client, kind=Device.Kind.FCM, token=f"fcm-{uuid.uuid4().hex}"
    )


def driver_speaking(language: str, balance: str = "1000.00") -> Client:
    client = funded_client(balance)
    Client.objects.filter(pk=client.pk).update(language=language)
    return client


# -- FCM -----------------------------------------------------------------------------------


def test_fcm_push_uses_a_service_account_token_and_the_drivers_language(fake_fcm):
    client = driver_speaking("ky")
    device = fcm_device(client)

    assert (
        service.notify_client(
            client_id=client.pk,
            event=messages.PAYMENT_CONFIRMED,
            params={"payment": 7, "amount": "500.00", "currency": "KGS"},
        )
        is True
    )

    [sent] = fake_fcm.sends()
    [request] = fake_fcm.stub.to(FCM_SEND)
    assert request["headers"]["authorization"] == "Bearer ya29.test-1"
    assert sent["token"] == device.token
    assert sent["notification"] == {
        "title": "Төлөм кабыл алынды",
        "body": "Балансыңызга 500,00 сом түштү.",
    }
    assert sent["data"] == {
        "event": "payment_confirmed",
        "payment": "7",
        "link": "evpower://payments/7",  # the app opens the payment
    }
    assert sent["android"]["priority"] == "high"


def test_the_access_token_is_reused_until_fcm_refuses_it_then_refreshed_once(fake_fcm):
    client = driver_speaking("en")
    fcm_device(client)

    service.notify_client(
        client_id=client.pk,
        event=messages.LOW_BALANCE,
        params={"balance": "12.00", "currency": "KGS"},
    )
    service.notify_client(
        client_id=client.pk,
        event=messages.LOW_BALANCE,
        params={"balance": "12.00", "currency": "KGS"},
    )
    assert fake_fcm.tokens == ["ya29.test-1"]  # one token for both pushes

    fake_fcm.revoked.add("ya29.test-1")
    service.notify_client(
        client_id=client.pk,
        event=messages.LOW_BALANCE,
        params={"balance": "12.00", "currency": "KGS"},
    )

    assert fake_fcm.tokens == ["ya29.test-1", "ya29.test-2"]
    assert len(fake_fcm.sends()) == 3
    assert Device.objects.filter(client=client).count() == 1


@pytest.mark.parametrize(
    "reply, removed",
    [
        (fcm_error(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED"), True),
        (
            fcm_error(
                400,
                "INVALID_ARGUMENT",
                "The registration token is not a valid FCM registration token",
            ),
            True,
        ),
        (fcm_error(403, "PERMISSION_DENIED", "SenderId mismatch", "SENDER_ID_MISMATCH"), True),
        # a payload FCM refuses says nothing about the token: the device stays
        (fcm_error(400, "INVALID_ARGUMENT", "Invalid value at 'message.data[0].value'"), False),
    ],
    ids=["unregistered", "invalid-token", "sender-mismatch", "invalid-payload"],
)
def test_fcm_token_errors_remove_the_device_and_other_errors_keep_it(fake_fcm, reply, removed):
    client = driver_speaking("ru")
    device, other = fcm_device(client), fcm_device(funded_client())
    fake_fcm.replies = [reply]

    result = tasks.push_device(device.pk, "t", "b", {})

    assert result == ("removed" if removed else "failed")
    assert Device.objects.filter(pk=device.pk).exists() is not removed
    assert Device.objects.filter(pk=other.pk).exists()
    assert len(fake_fcm.stub.to(FCM_SEND)) == 1  # not retried


def test_fcm_5xx_and_429_are_retried_with_backoff_then_delivered(fake_fcm):
    device = fcm_device(driver_speaking("en"))
    fake_fcm.replies = [
        fcm_error(503, "UNAVAILABLE", "try later"),
        fcm_error(500, "INTERNAL", "oops"),
        (
            429,
            fcm_error(429, "RESOURCE_EXHAUSTED", "quota", "QUOTA_EXCEEDED")[1],
            {"Retry-After": "0.3"},
        ),
    ]

    assert tasks.push_device(device.pk, "Charging complete", "b", {}) == "sent"

    attempts = fake_fcm.stub.to(FCM_SEND)
    assert len(attempts) == 4
    assert attempts[3]["at"] - attempts[2]["at"] >= 0.3  # Retry-After honoured
    assert Device.objects.filter(pk=device.pk).exists()


def test_fcm_down_for_good_gives_up_after_the_attempts_and_keeps_the_device(fake_fcm):
    device = fcm_device(driver_speaking("en"))
    fake_fcm.replies = [fcm_error(503, "UNAVAILABLE", "down")] * 10

    assert tasks.push_device(device.pk, "t", "b", {}) == "failed"

    assert len(fake_fcm.stub.to(FCM_SEND)) == tasks.RETRY_ATTEMPTS
    assert Device.objects.filter(pk=device.pk).exists()


# -- Web Push ------------------------------------------------------------------------------


def test_web_push_sends_an_encrypted_payload_signed_with_vapid(push_service):
    client = driver_speaking("en")
    device = push_service.subscribe(client)

    service.notify_client(
        client_id=client.pk,
        event=messages.LOW_BALANCE,
        params={"balance": "12.50", "currency": "KGS"},
    )

    [got] = push_service.received
    assert got["path"] == urllib.parse.urlparse(device.token).path
    assert got["payload"] == {
        "title": "Low balance",
        "body": "Your balance is 12.50 KGS. Top up to keep charging.",
        "data": {"event": "low_balance", "link": "evpower://wallet"},
    }
    assert got["headers"]["ttl"] == str(12 * 3600)
    assert got["headers"]["content-encoding"] == "aes128gcm"
    assert got["headers"]["urgency"] == "high"
    assert got["claims"]["sub"] == "mailto:ops@evpower.kg"
    assert got["claims"]["exp"] > time.time()


@pytest.mark.parametrize("status", [404, 410])
def test_a_gone_web_push_subscription_is_deleted(push_service, status):
    device = push_service.subscribe(driver_speaking("ru"))
    push_service.replies = [(status, b"")]

    assert tasks.push_device(device.pk, "t", "b", {}) == "removed"
    assert not Device.objects.filter(pk=device.pk).exists()


def test_web_push_5xx_is_retried(push_service):
    device = push_service.subscribe(driver_speaking("ru"))
    push_service.replies = [(503, b""), (502, b"")]

    assert tasks.push_device(device.pk, "t", "b", {}) == "sent"
    assert len(push_service.received) == 3


def test_web_push_other_refusals_keep_the_subscription(push_service):
    device = push_service.subscribe(driver_speaking("ru"))
    push_service.replies = [(413, b"")]

    assert tasks.push_device(device.pk, "t", "b", {}) == "failed"
    assert len(push_service.received) == 1
    assert Device.objects.filter(pk=device.pk).exists()


# -- messages ------------------------------------------------------------------------------

ALL_PARAMS = {
    "cost": "140.00",
    "amount": "500.00",
    "balance": "12.50",
    "currency": "KGS",
    "energy_wh": 10_000,
    "hours": 12,
    "minutes": 10,
    "place": "Ala-Too, CP-1",
    "error": "GroundFailure",
}


def test_every_message_exists_in_russian_kyrgyz_and_english():
    for event, texts in messages.CATALOG.items():
        assert set(texts) == {"ru", "ky", "en"}, event
        rendered = {lang: messages.render(event, lang, **ALL_PARAMS) for lang in texts}
        assert len({title for title, _ in rendered.values()}) == 3, event
        for _, body in rendered.values():
            assert "{" not in body and "—" not in body, (event, body)


@pytest.mark.parametrize(
    "language, expected",
    [
        ("ru", ("Зарядка завершена", "Получено 10,00 кВт·ч, стоимость 140,00 сом.")),
        ("ky", ("Кубаттоо аяктады", "10,00 кВт·саат алынды, баасы 140,00 сом.")),
        ("en", ("Charging complete", "10.00 kWh delivered, cost 140.00 KGS.")),
        ("de", ("Зарядка завершена", "Получено 10,00 кВт·ч, стоимость 140,00 сом.")),  # fallback
    ],
)
def test_a_completed_session_reads_naturally_in_each_language(language, expected):
    assert (
        messages.render(
            messages.SESSION_COMPLETED, language, cost="140.00", currency="KGS", energy_wh=10_000
        )
        == expected
    )


@pytest.mark.parametrize(
    "status, reason, event",
    [
        ("completed", "driver", messages.SESSION_COMPLETED),
        ("completed", "charger", messages.SESSION_COMPLETED),
        ("completed", "energy_limit", messages.SESSION_STOPPED_LIMIT),
        ("completed", "amount_limit", messages.SESSION_STOPPED_LIMIT),
        ("completed", "funds_limit", messages.SESSION_STOPPED_LIMIT),
        ("completed", "max_duration", messages.SESSION_STOPPED_MAX_DURATION),
        ("cancelled", "max_duration", messages.SESSION_STOPPED_MAX_DURATION),
        ("cancelled", "no_plug_in", messages.SESSION_CANCELLED_NO_PLUG_IN),
        ("cancelled", "driver", None),
        ("failed", "start_rejected", None),
    ],
)
def test_which_message_an_ended_session_gets(status, reason, event):
    session = SimpleNamespace(status=status, stop_reason=reason)
    assert service.session_ended_event(session) == event


# -- the hooks: charging -------------------------------------------------------------------


def test_a_session_start_and_its_bill_are_pushed(
    fake_fcm, station, django_capture_on_commit_callbacks
):
    client = driver_speaking("en")
    fcm_device(client)
    at = base_time()

    with django_capture_on_commit_callbacks(execute=True):
        session, tx_id = charging_session(client, station, at=at)
    with django_capture_on_commit_callbacks(execute=True):
        ocpp_stop(station, tx_id, meter_stop=11_000, at=at + timedelta(minutes=30))

    session.refresh_from_db()
    assert session.final_cost == D("140.00")  # 10 kWh × 12 + 30 min × 0.50 + 5
    started, completed = fake_fcm.sends()
    assert started["notification"] == {
        "title": "Charging started",
        "body": f"Charging at Test site, {station.identity} has started.",
    }
    assert started["data"] == {
        "event": "session_started",
        "session": str(session.pk),
        "station": str(station.pk),
        "connector": "1",
        "link": f"evpower://sessions/{session.pk}",
    }
    assert completed["notification"] == {
        "title": "Charging complete",
        "body": "10.00 kWh delivered, cost 140.00 KGS.",
    }


def test_a_start_never_plugged_in_is_pushed_as_cancelled(
    fake_fcm, station, django_capture_on_commit_callbacks, settings
):
    client = driver_speaking("ru")
    fcm_device(client)
    session = open_session(client, station)
    ChargingSession.objects.filter(pk=session.pk).update(
        created_at=timezone.now() - timedelta(minutes=settings.CHARGING_PLUG_IN_MINUTES + 1)
    )

    with django_capture_on_commit_callbacks(execute=True):
        assert sessions_cancel_unplugged() == 1

    [sent] = fake_fcm.sends()
    assert sent["notification"]["title"] == "Зарядка отменена"
    assert f"за {settings.CHARGING_PLUG_IN_MINUTES} мин" in sent["notification"]["body"]


@pytest.mark.parametrize("fcm_state", ["5xx", "unreachable"])
def test_a_push_service_that_is_down_never_blocks_the_bill(
    fake_fcm, station, settings, django_capture_on_commit_callbacks, fcm_state
):
    client = driver_speaking("en")
    device = fcm_device(client)
    at = base_time()
    with django_capture_on_commit_callbacks(execute=True):
        session, tx_id = charging_session(client, station, at=at)
    if fcm_state == "5xx":
        fake_fcm.replies = [fcm_error(503, "UNAVAILABLE", "down")] * 20
    else:  # FCM and its token endpoint gone: nothing listens there
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            dead = f"http://127.0.0.1:{s.getsockname()[1]}"
        settings.FCM = {**settings.FCM, "url": dead, "token_url": f"{dead}/token"}
        fcm._credentials.clear()
    sends_before = len(fake_fcm.stub.to(FCM_SEND))

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        ocpp_stop(station, tx_id, meter_stop=11_000, at=at + timedelta(minutes=30))

    pushes = [c for c in callbacks if getattr(c, "func", None) is service.notify_client]
    assert len(pushes) == 1  # the push was attempted...
    session.refresh_from_db()
    assert (session.status, session.settled, session.final_cost) == ("completed", True, D("140.00"))
    assert LedgerTransaction.objects.filter(key=f"session:{session.pk}:capture").exists()
    pushed = len(fake_fcm.stub.to(FCM_SEND)) - sends_before
    assert pushed == (tasks.RETRY_ATTEMPTS if fcm_state == "5xx" else 0)  # ...and retried
    assert Device.objects.filter(pk=device.pk).exists()


def test_a_broker_that_is_down_never_blocks_the_bill(
    fake_fcm, station, monkeypatch, django_capture_on_commit_callbacks
):
    client = driver_speaking("en")
    fcm_device(client)
    at = base_time()
    session, tx_id = charging_session(client, station, at=at)

    def broker_down(*args, **kwargs):
        raise ConnectionRefusedError("redis://broker: connection refused")

    monkeypatch.setattr(tasks.push_notify, "delay", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        ocpp_stop(station, tx_id, meter_stop=11_000, at=at + timedelta(minutes=30))

    session.refresh_from_db()
    assert (session.status, session.final_cost) == ("completed", D("140.00"))
    assert fake_fcm.sends() == []


def test_nothing_is_pushed_about_a_change_that_was_rolled_back(
    fake_fcm, django_capture_on_commit_callbacks
):
    client = driver_speaking("en")
    fcm_device(client)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            service.notify_client_after_commit(
                client_id=client.pk,
                event=messages.PAYMENT_CONFIRMED,
                params={"amount": "1.00", "currency": "KGS"},
            )
            raise RuntimeError("rolled back")

    assert callbacks == [] and fake_fcm.sends() == []


def test_a_charger_fault_during_a_session_tells_the_driver_and_the_operators(
    fake_fcm, station, telegram, settings, django_capture_on_commit_callbacks
):
    settings.ALERT_EMAILS = []
    client = driver_speaking("ky")
    fcm_device(client)
    session, _ = charging_session(client, station, at=base_time())

    def status(connector, value, error="NoError"):
        with django_capture_on_commit_callbacks(execute=True):
            station_record_status(
                station_id=station.pk,
                connector_id=connector,
                status=value,
                error_code=error,
                info="",
                vendor_id="",
                vendor_error_code="",
                timestamp=None,
                now=timezone.now(),
            )

    status(2, "Available")
    status(1, "Faulted", "GroundFailure")
    status(1, "Faulted", "GroundFailure")  # repeated: no second push, no second alert

    [sent] = fake_fcm.sends()
    assert sent["notification"] == {
        "title": "Кубаттоо станциясында ката",
        "body": f"Test site, {station.identity} станциясы ката жөнүндө кабарлады "
        "(GroundFailure). Кубаттоо токтошу мүмкүн.",
    }
    assert sent["data"]["session"] == str(session.pk)
    [alert] = telegram_texts(telegram)
    assert alert.startswith(f"Station {station.identity} faulted (connector 1): GroundFailure")
    assert f"Charging sessions affected: {session.pk}." in alert


# -- the hooks: payments -------------------------------------------------------------------


def test_a_confirmed_payment_is_pushed_once(fake_fcm, django_capture_on_commit_callbacks):
    client = driver_speaking("ru", balance="0")
    fcm_device(client)
    payment = Payment.objects.create(
        client=client,
        provider="odengi",
        order_id=new_order_id(),
        amount=D("500.00"),
        status=Payment.Status.PENDING,
        expires_at=timezone.now() + timedelta(minutes=30),
    )

    for _ in range(2):  # a callback and a status poll: credited once, told once
        with django_capture_on_commit_callbacks(execute=True):
            payment_mark_paid(payment_id=payment.pk, amount=D("500.00"), source="test")

    [sent] = fake_fcm.sends()
    assert sent["notification"] == {
        "title": "Оплата получена",
        "body": "На ваш баланс зачислено 500,00 сом.",
    }
    assert sent["data"] == {
        "event": "payment_confirmed",
        "payment": str(payment.pk),
        "link": f"evpower://payments/{payment.pk}",
    }


# -- low balance ---------------------------------------------------------------------------


def test_low_balance_notices_go_to_active_low_drivers_once_a_day(fake_fcm, settings):
    settings.LOW_BALANCE_THRESHOLD = "50.00"
    low = driver_speaking("ru", balance="30.00")
    low_device = fcm_device(low)
    fcm_device(driver_speaking("ru", balance="500.00"))  # plenty
    idle = driver_speaking("ru", balance="20.00")  # low, but has not used the wallet lately
    fcm_device(idle)
    Wallet.objects.filter(client=idle).update(updated_at=timezone.now() - timedelta(days=3))
    driver_speaking("ru", balance="10.00")  # low, but no device to tell

    assert notices.low_balance_notices() == 1
    assert notices.low_balance_notices() == 0  # the same day again: nothing

    [sent] = fake_fcm.sends()
    assert sent["token"] == low_device.token
    assert sent["notification"] == {
        "title": "Низкий баланс",
        "body": "На вашем балансе 30,00 сом. Пополните его, чтобы продолжать заряжаться.",
    }


def test_the_daily_low_balance_task_is_scheduled_under_its_name(settings):
    from evpower.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["accounts-low-balance"]
    assert entry["task"] == "accounts.low_balance_notices" == notices.low_balance_notices.name
    assert entry["task"] in app.tasks
