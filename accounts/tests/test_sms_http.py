"""The HTTP gateway against a real local HTTP server (no mocked functions)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from accounts.sms import SmsDeliveryError
from accounts.sms.http import HttpJsonBackend
from accounts.tests.support import PHONE_A, assert_error
from evpower.tests.settings_import import import_settings_with


class Gateway(BaseHTTPRequestHandler):
    received: list = []
    status = 200
    delay = 0.0

    def do_POST(self):  # noqa: N802 - http.server API
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Gateway.received.append({"auth": self.headers["Authorization"], "body": body})
        time.sleep(Gateway.delay)
        try:
            self.send_response(Gateway.status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"ok": true}')
        except BrokenPipeError:
            pass  # the client gave up (the timeout test)

    def log_message(self, *args):
        pass


@pytest.fixture
def gateway(settings):
    Gateway.received, Gateway.status, Gateway.delay = [], 200, 0.0
    server = ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.SMS_BACKEND = "accounts.sms.http.HttpJsonBackend"
    settings.SMS_HTTP_URL = f"http://127.0.0.1:{server.server_port}/sms"
    settings.SMS_HTTP_TOKEN = "gateway-token"  # noqa: S105 - test credential
    settings.SMS_HTTP_SENDER = "EvPower"
    settings.SMS_HTTP_TIMEOUT = 0.5
    yield Gateway
    server.shutdown()
    server.server_close()


def test_http_gateway_posts_json_with_bearer_token(gateway):
    HttpJsonBackend().send(phone=PHONE_A, text="hello")
    assert gateway.received == [
        {
            "auth": "Bearer gateway-token",
            "body": {"to": PHONE_A, "from": "EvPower", "text": "hello"},
        }
    ]


def test_http_gateway_error_status_is_a_delivery_error(gateway):
    gateway.status = 500
    with pytest.raises(SmsDeliveryError):
        HttpJsonBackend().send(phone=PHONE_A, text="hello")


def test_http_gateway_timeout_is_a_delivery_error(gateway):
    gateway.delay = 2.0
    with pytest.raises(SmsDeliveryError):
        HttpJsonBackend().send(phone=PHONE_A, text="hello")


def test_unreachable_gateway_is_a_delivery_error(settings):
    settings.SMS_HTTP_URL = "http://127.0.0.1:9/sms"  # discard port: nothing listens
    with pytest.raises(SmsDeliveryError):
        HttpJsonBackend().send(phone=PHONE_A, text="hello")


def test_otp_request_through_the_http_gateway(db, api, gateway):
    assert (
        api.post("/api/v1/auth/otp/request", {"phone": PHONE_A}, format="json").status_code == 202
    )
    text = gateway.received[0]["body"]["text"]
    code = text.split("код ")[1][:6]
    response = api.post("/api/v1/auth/otp/verify", {"phone": PHONE_A, "code": code}, format="json")
    assert response.status_code == 200


def test_otp_request_when_the_gateway_fails_is_502(db, api, gateway):
    gateway.status = 503
    assert_error(
        api.post("/api/v1/auth/otp/request", {"phone": PHONE_A}, format="json"),
        502,
        "OTP_DELIVERY_FAILED",
    )


def test_production_refuses_to_start_without_a_real_gateway():
    result = import_settings_with(
        EVPOWER_ENV="production",
        SECRET_KEY="k" * 64,
        DEBUG="false",
        ALLOWED_HOSTS="evpower.example",
        SMS_BACKEND="accounts.sms.backends.ConsoleBackend",
    )
    assert result.returncode != 0
    assert "SMS_BACKEND must be a real gateway" in result.stderr
