"""API rate limits (evpower.api.throttling) on tiny test-only views, counted in the real store
(Redis under scripts/test.sh)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
from django.conf import settings as django_settings
from django.test import Client as HttpClient
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from evpower.api.throttling import MoneyRateThrottle, client_ip


class HeaderClientAuthentication(BaseAuthentication):
    """Test stand-in for the JWT: `X-Test-Client: <id>` is that client."""

    def authenticate(self, request):
        ident = request.META.get("HTTP_X_TEST_CLIENT")
        if not ident:
            return None
        if ident == "bad":
            raise exceptions.AuthenticationFailed()
        return SimpleNamespace(pk=int(ident), is_authenticated=True, language="en"), None


class PingView(APIView):
    authentication_classes = [HeaderClientAuthentication]
    permission_classes = [AllowAny]

    def get(self, request):
        return Response({"ok": True})


class OtpLikeView(PingView):
    throttle_scope = "auth"


class MoneyView(PingView):
    throttle_classes = [*api_settings.DEFAULT_THROTTLE_CLASSES, MoneyRateThrottle]


factory = APIRequestFactory()


def call(view, ip="10.0.0.1", client=None, **extra):
    if client is not None:
        extra["HTTP_X_TEST_CLIENT"] = str(client)
    response = view.as_view()(factory.get("/x", REMOTE_ADDR=ip, **extra))
    return response


@pytest.fixture
def rates(settings):
    def set_rates(**scopes):
        rest = dict(settings.REST_FRAMEWORK)
        rest["DEFAULT_THROTTLE_RATES"] = {
            "anon": "1000/minute",
            "client": "1000/minute",
            "auth": "1000/minute",
            "money": "1000/minute",
            "money_ip": "1000/minute",
            **scopes,
        }
        settings.REST_FRAMEWORK = rest

    return set_rates


def test_anonymous_callers_are_limited_per_ip_with_the_envelope_and_retry_after(rates):
    rates(anon="3/minute")
    assert [call(PingView).status_code for _ in range(3)] == [200, 200, 200]
    response = call(PingView)
    assert response.status_code == 429
    assert response.data["error"]["code"] == "RATE_LIMITED"
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= 61
    assert response.data["error"]["details"] == {"retry_after": retry_after}
    # another address has its own allowance
    assert call(PingView, ip="10.0.0.2").status_code == 200


def test_several_limits_per_scope_all_apply(rates):
    rates(anon="100/minute;2/hour")
    assert [call(PingView).status_code for _ in range(3)] == [200, 200, 429]
    assert int(call(PingView)["Retry-After"]) > 60  # the hour window decides


def test_clients_are_limited_per_client_not_per_ip(rates):
    rates(anon="1/minute", client="2/minute")
    assert [call(PingView, client=1).status_code for _ in range(3)] == [200, 200, 429]
    # same address, other client: own allowance; the anonymous limit does not apply to them
    assert call(PingView, client=2).status_code == 200
    # a client changing networks keeps its count
    assert call(PingView, ip="192.0.2.7", client=1).status_code == 429


def test_auth_scope_is_strict_and_per_ip_whoever_calls(rates):
    rates(auth="2/minute")
    assert call(OtpLikeView).status_code == 200
    assert call(OtpLikeView, client=7).status_code == 200  # a token does not give a new budget
    response = call(OtpLikeView, client=8)
    assert response.status_code == 429
    assert response.data["error"]["code"] == "RATE_LIMITED"
    assert call(OtpLikeView, ip="10.9.9.9").status_code == 200
    # the scope is counted apart from the general limit: other views are unaffected
    assert call(PingView).status_code == 200


def test_money_scope_counts_per_client(rates):
    rates(money="1/minute")
    assert call(MoneyView, client=1).status_code == 200
    assert call(MoneyView, client=1).status_code == 429
    assert call(MoneyView, client=2).status_code == 200
    assert call(PingView, client=1).status_code == 200  # only money-moving views


def test_forged_x_forwarded_for_does_not_buy_a_new_allowance(rates):
    rates(anon="1/minute")
    assert call(PingView, HTTP_X_FORWARDED_FOR="1.1.1.1").status_code == 200
    assert call(PingView, HTTP_X_FORWARDED_FOR="2.2.2.2").status_code == 429


def test_ipv6_callers_are_counted_per_64_block(rates):
    assert client_ip(factory.get("/", REMOTE_ADDR="2001:db8:1:2:aaaa::1")) == "2001:db8:1:2::"
    assert client_ip(factory.get("/", REMOTE_ADDR="::ffff:192.0.2.1")) == "192.0.2.1"
    assert client_ip(factory.get("/", REMOTE_ADDR="192.0.2.9")) == "192.0.2.9"
    rates(anon="1/minute")
    assert call(PingView, ip="2001:db8:1:2::1").status_code == 200
    assert call(PingView, ip="2001:db8:1:2:ffff::9").status_code == 429
    assert call(PingView, ip="2001:db8:1:3::1").status_code == 200


def test_counting_is_atomic_under_concurrency(rates):
    """DRF's cache throttle (read, modify, write) lets concurrent requests through over the
    limit; the Redis script must admit exactly the limit."""
    if not django_settings.THROTTLE_STORAGE_URL.startswith("redis"):
        pytest.skip("needs Redis (scripts/test.sh)")
    # an hour's window: the sliding window weighs the previous window's count, so a burst
    # slow enough to straddle a window's end could be admitted one more (25/minute: a 2.4 s
    # burst); against an hour no burst is that slow
    rates(anon="25/hour")
    barrier = threading.Barrier(16)

    def burst(_):
        barrier.wait()
        return [call(PingView, ip="10.1.1.1").status_code for _ in range(5)]

    with ThreadPoolExecutor(16) as pool:
        codes = [code for codes in pool.map(burst, range(16)) for code in codes]
    assert codes.count(200) == 25
    assert codes.count(429) == 80 - 25


def test_store_down_fails_open_except_for_auth(rates, settings):
    rates(anon="1/minute", auth="1/minute")
    settings.THROTTLE_STORAGE_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    settings.THROTTLE_STORAGE_TIMEOUT = 0.2
    assert [call(PingView).status_code for _ in range(3)] == [200, 200, 200]
    response = call(OtpLikeView)
    assert response.status_code == 503
    assert response.data["error"]["code"] == "SERVICE_UNAVAILABLE"


def test_the_real_api_is_throttled(rates):
    rates(anon="2/minute")
    http = HttpClient()
    codes = [http.get("/api/v1/version").status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    response = http.get("/api/v1/version", HTTP_ACCEPT_LANGUAGE="ru")
    assert response.json()["error"] == {
        "code": "RATE_LIMITED",
        "message": "Слишком много запросов. Попробуйте позже.",
        "details": {"retry_after": int(response["Retry-After"])},
    }


def test_money_endpoints_are_also_limited_per_ip_across_clients(rates):
    # given: a generous per-client money limit and a tight per-IP one
    rates(money="100/minute", money_ip="3/minute")
    # when: three different accounts spend from one address, then a fourth
    codes = [call(MoneyView, ip="10.9.0.1", client=client).status_code for client in (1, 2, 3, 4)]
    # then: the fourth is refused, though it never spent before; another address is not
    assert codes == [200, 200, 200, 429]
    assert call(MoneyView, ip="10.9.0.2", client=4).status_code == 200


def test_the_per_ip_money_limit_leaves_other_endpoints_alone(rates):
    rates(money_ip="1/minute")
    assert [call(PingView, ip="10.9.1.1", client=1).status_code for _ in range(3)] == [200] * 3
