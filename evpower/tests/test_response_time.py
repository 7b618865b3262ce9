"""X-Response-Time on every answer, and slow requests logged once with their route and
correlation id."""

from __future__ import annotations

import re

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

TIMED = re.compile(r"^\d+\.\dms$")


@pytest.mark.parametrize("path", ["/api/v1/version", "/health/live", "/api/v1/no-such-thing"])
def test_every_answer_says_how_long_it_took(path):
    response = Client().get(path)
    assert TIMED.match(response["X-Response-Time"]), response.headers


def test_a_slow_request_is_logged_once_with_its_route_and_correlation_id(settings, json_log):
    settings.SLOW_REQUEST_SECONDS = 0  # every request counts as slow

    Client().get("/api/v1/stations/987654321", HTTP_X_REQUEST_ID="req-slow-0001")

    lines = [line for line in json_log.lines() if line["message"].startswith("slow request")]
    assert len(lines) == 1
    [line] = lines
    assert line["correlation_id"] == "req-slow-0001"
    assert line["route"] == "api/v1/stations/<int:pk>"  # the pattern, not the id
    assert (line["method"], line["status"], line["level"]) == ("GET", 404, "WARNING")
    assert line["duration_ms"] >= 0


def test_a_quick_request_is_not_logged(settings, json_log):
    settings.SLOW_REQUEST_SECONDS = 60
    Client().get("/api/v1/version")
    assert not [line for line in json_log.lines() if line["message"].startswith("slow request")]
