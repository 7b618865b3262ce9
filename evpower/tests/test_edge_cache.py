"""The map's edge cache, through a real server: hits skip Django, a charger's status
change retires every cached copy at once, errors are never cached."""

import json
import urllib.error
import urllib.request

import pytest
from django.utils import timezone

from stations.services import station_record_status

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def get(server, path):
    try:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{server.port}{path}",  # noqa: S310
            timeout=10,
        ) as response:
            return response.status, response.headers.get("x-cache"), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("x-cache"), json.loads(exc.read())


def test_second_read_is_a_hit_until_a_status_changes(ocpp_server, booted_station):
    station = booted_station("CP-EDGE")
    path = f"/api/v1/stations/{station.pk}"
    first = get(ocpp_server, path)
    second = get(ocpp_server, path)
    assert first[0] == second[0] == 200 and first[1] is None and second[1] == "hit"
    assert first[2] == second[2]

    station_record_status(
        station_id=station.pk,
        connector_id=1,
        status="Faulted",
        error_code="GroundFailure",
        info="",
        vendor_id="",
        vendor_error_code="",
        timestamp=None,
        now=timezone.now(),
    )
    fresh = get(ocpp_server, path)
    assert fresh[1] is None  # rebuilt by Django after the change
    statuses = json.dumps(fresh[2])
    assert "Faulted" in statuses or "faulted" in statuses


def test_query_order_does_not_matter_and_errors_are_not_cached(ocpp_server, db):
    get(ocpp_server, "/api/v1/locations?lat=42.87&lon=74.6")
    assert get(ocpp_server, "/api/v1/locations?lon=74.6&lat=42.87")[1] == "hit"
    bad = [get(ocpp_server, "/api/v1/locations?lat=north") for _ in range(2)]
    assert [b[0] for b in bad] == [400, 400] and bad[1][1] is None
    assert bad[1][2]["error"]["code"] == "VALIDATION_ERROR"
