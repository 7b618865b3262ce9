"""Sentry for real: the SDK posts envelopes to a local HTTP server started here; what it
received must have the error and none of the planted secrets."""

from __future__ import annotations

import gzip
import http.server
import json
import logging
import threading

import pytest
import sentry_sdk
from django.urls import path

from evpower.sentry import init_sentry

PHONE = "+996700123456"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI5OSJ9.c2VjcmV0LXNpZ25hdHVyZQ"
PASSWORD = "planted-password-77"
OTP = "482913"


class _Collector(http.server.BaseHTTPRequestHandler):
    received: list[bytes] = []

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        encoding = self.headers.get("Content-Encoding", "")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "br":
            import brotli

            body = brotli.decompress(body)
        _Collector.received.append(body)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def sentry_events():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Collector.received = []
    init_sentry(
        dsn=f"http://publickey@127.0.0.1:{server.server_port}/42",
        environment="test",
        release="evpower@test-1",
    )
    try:
        yield lambda: (
            sentry_sdk.flush(5),
            [
                json.loads(line)
                for body in _Collector.received
                for line in body.splitlines()
                if line.strip()
            ],
        )[1]
    finally:
        sentry_sdk.get_client().close()
        sentry_sdk.get_global_scope().set_client(None)
        server.shutdown()
        server.server_close()


def _failing_view(request):
    password = PASSWORD  # noqa: F841 - a local variable Sentry would report
    logging.getLogger("accounts").info("login for %s with token %s", PHONE, TOKEN)  # breadcrumb
    raise RuntimeError(f"verify failed for {PHONE}: code={OTP} password={PASSWORD}")


urlpatterns = [path("fail", _failing_view)]


@pytest.mark.urls(__name__)
@pytest.mark.django_db
def test_an_error_reaches_sentry_without_the_secrets_it_carried(sentry_events, client):
    # when: a request with a token, a phone and a code in it fails
    client.raise_request_exception = False
    answer = client.post(
        f"/fail?token={TOKEN}&phone={PHONE.replace('+', '%2B')}",
        {"phone": PHONE, "code": OTP, "password": PASSWORD},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {TOKEN}",
        HTTP_X_REQUEST_ID="req-sentry-1",
    )
    assert answer.status_code == 500

    # then: Sentry got the error, tagged with the request's id, and none of the secrets
    items = sentry_events()
    sent = json.dumps(items)
    events = [item for item in items if "exception" in item]
    assert events, sent[:2000]
    [event] = [e for e in events if e["exception"]["values"][-1]["type"] == "RuntimeError"]
    assert "verify failed for +996*****3456" in event["exception"]["values"][-1]["value"]
    assert (event["environment"], event["release"]) == ("test", "evpower@test-1")
    assert event["tags"]["correlation_id"] == "req-sentry-1"
    assert any(
        "login for +996*****3456" in (crumb.get("message") or "")
        for crumb in event["breadcrumbs"]["values"]
    )
    for planted in (PHONE, PHONE.replace("+", "%2B"), TOKEN, PASSWORD, OTP, "eyJzdWIiOiI5OSJ9"):
        assert planted not in sent, planted
    # not even masked: the SDK collects no body, query string or cookies at all
    request = event.get("request", {})
    assert not request.get("data") and not request.get("query_string")
    assert not request.get("cookies") and "user" not in event


def test_a_logged_error_reaches_sentry_masked(sentry_events):
    logging.getLogger("payments").error("provider refused card 4111111111111111 for %s", PHONE)

    sent = json.dumps(sentry_events())
    assert "provider refused card" in sent
    assert "4111111111111111" not in sent and PHONE not in sent
