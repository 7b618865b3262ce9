"""The drivers' map: /api/v1/locations, /locations/{id}, /stations/{id}."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.tests.factories import ClientFactory
from stations.selectors_map import bounding_box, haversine_km
from stations.services import (
    station_connected,
    station_disconnected,
    station_record_status,
)
from stations.station_models import Connector, Location, Station
from stations.tariff_models import TariffAssignment
from stations.tests.factories import LocationFactory, TariffPlanFactory, TariffRuleFactory

pytestmark = pytest.mark.django_db

BISHKEK = (42.874621, 74.569762)


@pytest.fixture(autouse=True)
def own_cache(settings):
    """A key prefix of its own: tests (and concurrent runs) share one Redis."""
    caches = {name: dict(conf) for name, conf in settings.CACHES.items()}
    caches["default"]["KEY_PREFIX"] = f"test-{uuid.uuid4().hex}"
    settings.CACHES = caches


@pytest.fixture
def api():
    return APIClient()


def make_location(name="Ala-Too", *, lat=None, lon=None, **kwargs) -> Location:
    return LocationFactory(
        name=name,
        latitude=None if lat is None else Decimal(str(round(lat, 6))),
        longitude=None if lon is None else Decimal(str(round(lon, 6))),
        **kwargs,
    )


def make_station(
    location,
    identity=None,
    *,
    online=True,
    statuses=("Available",),
    types=None,
    powers=None,
    **kwargs,
) -> Station:
    now = timezone.now()
    station = Station.objects.create(
        identity=identity or f"CP-{uuid.uuid4().hex[:8]}",
        location=location,
        connected=online,
        last_seen_at=now if online else now - timedelta(hours=1),
        **kwargs,
    )
    for n, status in enumerate(statuses, start=1):
        Connector.objects.create(
            station=station,
            number=n,
            status=status,
            connector_type=(types or ["Type2"] * len(statuses))[n - 1],
            max_power_kw=(powers or [None] * len(statuses))[n - 1],
        )
    return station


def record_status(station, connector_id, status):
    station_record_status(
        station_id=station.pk,
        connector_id=connector_id,
        status=status,
        error_code="NoError",
        info="",
        vendor_id="",
        vendor_error_code="",
        timestamp=None,
        now=timezone.now(),
    )


def summary_of(api, location) -> dict:
    response = api.get("/api/v1/locations")
    assert response.status_code == 200
    return next(r for r in response.json()["results"] if r["id"] == location.pk)["summary"]


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code
    assert body["error"]["message"] and isinstance(body["error"]["details"], dict)
    return body["error"]


# -- list and summaries --------------------------------------------------------------------


def test_list_is_public_and_summarises_live_status_per_location(api):
    site = make_location(lat=BISHKEK[0], lon=BISHKEK[1], address="Chui 1", city="Bishkek")
    make_station(
        site,
        statuses=("Available", "Charging", "Faulted", "Unavailable", "Unknown"),
        max_power_kw=Decimal("22"),
    )
    make_station(
        site, online=False, statuses=("Available",), types=["CCS2"], powers=[Decimal("60")]
    )
    make_station(site, admin_status=Station.AdminStatus.MAINTENANCE, statuses=("Available",))
    make_station(site, status="Unavailable", statuses=("Available",))  # whole station off
    make_station(site, registration_status=Station.Registration.PENDING)  # not on the map
    make_station(site, admin_status=Station.AdminStatus.INACTIVE)  # not on the map
    for status in ("Preparing", "SuspendedEV", "SuspendedEVSE", "Finishing", "Reserved"):
        make_station(site, statuses=(status,))

    response = api.get("/api/v1/locations", HTTP_AUTHORIZATION="Bearer not-a-token")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    item = body["results"][0]
    assert item["latitude"] == pytest.approx(BISHKEK[0]) and item["address"] == "Chui 1"
    assert item["distance_km"] is None
    assert item["summary"] == {
        "stations": {"total": 9, "online": 8, "offline": 1},
        "connectors": {"total": 13, "available": 1, "occupied": 6, "faulted": 4, "offline": 2},
        "connector_types": ["CCS2", "Type2"],
        "max_power_kw": "60.00",
    }


def test_inactive_locations_are_hidden_and_empty_ones_are_shown(api):
    make_location("Closed", status=Location.Status.INACTIVE)
    soon = make_location("Soon", status=Location.Status.UNDER_CONSTRUCTION)
    body = api.get("/api/v1/locations").json()
    assert [r["name"] for r in body["results"]] == ["Soon"]
    assert body["results"][0]["summary"]["stations"]["total"] == 0
    assert body["results"][0]["id"] == soon.pk


def test_a_status_write_shows_on_the_map_at_once(api, django_capture_on_commit_callbacks):
    site = make_location()
    station = make_station(site, statuses=("Available", "Available"))
    assert summary_of(api, site)["connectors"]["available"] == 2  # now cached

    with django_capture_on_commit_callbacks(execute=True):
        record_status(station, 1, "Charging")

    connectors = summary_of(api, site)["connectors"]
    assert (connectors["available"], connectors["occupied"]) == (1, 1)


def test_the_summary_is_cached_until_something_changes(api):
    site = make_location()
    station = make_station(site, statuses=("Available",))
    assert summary_of(api, site)["connectors"]["available"] == 1
    Connector.objects.filter(station=station).update(status="Charging")  # behind our back
    assert summary_of(api, site)["connectors"]["available"] == 1


def test_connection_changes_show_on_the_map(api, django_capture_on_commit_callbacks):
    site = make_location()
    station = make_station(site, online=False, statuses=("Available",))
    assert summary_of(api, site)["stations"]["online"] == 0

    with django_capture_on_commit_callbacks(execute=True):
        station_connected(station_id=station.pk, channel="chan-1", now=timezone.now())
    summary = summary_of(api, site)
    assert summary["stations"]["online"] == 1 and summary["connectors"]["available"] == 1

    with django_capture_on_commit_callbacks(execute=True):
        station_disconnected(station_id=station.pk, channel="chan-1", now=timezone.now())
    summary = summary_of(api, site)
    assert summary["stations"]["offline"] == 1 and summary["connectors"]["offline"] == 1


def test_nearby_search_orders_by_distance_within_the_radius(api):
    # roughly north of the centre: 1 degree of latitude is about 111.2 km
    far = make_location("Far", lat=BISHKEK[0] + 0.08, lon=BISHKEK[1])  # ~8.9 km
    near = make_location("Near", lat=BISHKEK[0] + 0.02, lon=BISHKEK[1])  # ~2.2 km
    make_location("Outside", lat=BISHKEK[0] + 0.2, lon=BISHKEK[1])  # ~22 km
    make_location("Osh", lat=40.5283, lon=72.7985)  # ~300 km
    make_location("Nowhere")  # no coordinates

    response = api.get("/api/v1/locations", {"lat": BISHKEK[0], "lon": BISHKEK[1], "radius_km": 10})

    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["id"] for r in results] == [near.pk, far.pk]
    assert results[0]["distance_km"] == pytest.approx(2.224, abs=0.01)
    assert results[1]["distance_km"] == pytest.approx(8.896, abs=0.01)


def test_nearby_without_a_radius_lists_every_placed_location_nearest_first(api):
    osh = make_location("Osh", lat=40.5283, lon=72.7985)
    here = make_location("Here", lat=BISHKEK[0], lon=BISHKEK[1])
    make_location("Nowhere")
    results = api.get("/api/v1/locations", {"lat": BISHKEK[0], "lon": BISHKEK[1]}).json()
    assert [r["id"] for r in results["results"]] == [here.pk, osh.pk]
    assert results["results"][1]["distance_km"] == pytest.approx(
        haversine_km(*BISHKEK, 40.5283, 72.7985), abs=0.01
    )


def test_the_radius_is_exact_not_the_bounding_box(api):
    # a corner of the bounding box is outside the circle
    min_lat, max_lat, min_lon, max_lon = bounding_box(*BISHKEK, 10)
    corner = make_location("Corner", lat=max_lat - 0.001, lon=max_lon - 0.001)
    assert haversine_km(*BISHKEK, float(corner.latitude), float(corner.longitude)) > 10
    edge = make_location("Edge", lat=BISHKEK[0], lon=max_lon - 0.001)
    results = api.get(
        "/api/v1/locations", {"lat": BISHKEK[0], "lon": BISHKEK[1], "radius_km": 10}
    ).json()["results"]
    assert [r["id"] for r in results] == [edge.pk]


def test_filters_connector_type_power_and_available_now(api):
    dc = make_location("DC")
    make_station(dc, statuses=("Charging",), types=["CCS2"], powers=[Decimal("120")])
    ac = make_location("AC")
    make_station(ac, statuses=("Available",), types=["Type2"], powers=[Decimal("22")])
    mixed = make_location("Mixed")
    make_station(
        mixed,
        statuses=("Available", "Faulted"),
        types=["Type2", "CCS2"],
        powers=[Decimal("7"), Decimal("50")],
    )
    offline = make_location("Offline")
    make_station(
        offline, online=False, statuses=("Available",), types=["CCS2"], max_power_kw=Decimal("150")
    )

    def names(**params):
        response = api.get("/api/v1/locations", params)
        assert response.status_code == 200, response.content
        return [r["name"] for r in response.json()["results"]]

    assert names() == ["AC", "DC", "Mixed", "Offline"]
    assert names(connector_type="CCS2") == ["DC", "Mixed", "Offline"]
    assert names(connector_type="ccs2,chademo") == ["DC", "Mixed", "Offline"]
    assert names(min_power_kw="50") == ["DC", "Mixed", "Offline"]  # station power counts
    assert names(min_power_kw="100") == ["DC", "Offline"]
    assert names(available_now="true") == ["AC", "Mixed"]
    # the filters apply to the same connector: Mixed's CCS2 is faulted
    assert names(connector_type="CCS2", available_now="true") == []
    assert names(connector_type="Type2", min_power_kw="10", available_now="true") == ["AC"]


def test_the_list_is_paginated(api):
    for i in range(5):
        make_location(f"Site {i}")
    first = api.get("/api/v1/locations", {"page_size": 2}).json()
    assert first["count"] == 5 and len(first["results"]) == 2 and first["next"]
    last = api.get("/api/v1/locations", {"page_size": 2, "page": 3}).json()
    assert [r["name"] for r in last["results"]] == ["Site 4"] and last["next"] is None
    assert_error(api.get("/api/v1/locations", {"page": 9}), 404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"lat": "100", "lon": "74"}, "lat"),
        ({"lat": "42", "lon": "-181"}, "lon"),
        ({"lat": "abc", "lon": "74"}, "lat"),
        ({"lat": "nan", "lon": "74"}, "lat"),
        ({"lat": "42"}, "lon"),
        ({"lon": "74"}, "lat"),
        ({"radius_km": "5"}, "radius_km"),
        ({"lat": "42", "lon": "74", "radius_km": "0"}, "radius_km"),
        ({"lat": "42", "lon": "74", "radius_km": "5000"}, "radius_km"),
        ({"connector_type": "Schuko"}, "connector_type"),
        ({"min_power_kw": "-1"}, "min_power_kw"),
        ({"min_power_kw": "lots"}, "min_power_kw"),
        ({"available_now": "maybe"}, "available_now"),
    ],
)
def test_bad_query_parameters_are_a_validation_error_naming_the_field(api, params, field):
    error = assert_error(api.get("/api/v1/locations", params), 400, "VALIDATION_ERROR")
    assert field in error["details"]["fields"]


def test_validation_messages_follow_accept_language(api):
    response = api.get(
        "/api/v1/locations", {"lat": "x", "lon": "1"}, HTTP_ACCEPT_LANGUAGE="ru-RU,ru;q=0.9"
    )
    assert response.json()["error"]["message"] == "Некоторые поля заполнены неверно."


# -- details -------------------------------------------------------------------------------


@pytest.fixture
def priced_site():
    site = make_location(lat=BISHKEK[0], lon=BISHKEK[1])
    station = make_station(
        site,
        "CP-A",
        statuses=("Available", "Charging"),
        types=["CCS2", "Type2"],
        powers=[Decimal("60"), Decimal("22")],
    )
    make_station(site, "CP-B", online=False, statuses=("Available",))
    plan = TariffPlanFactory(name="City")
    TariffRuleFactory(
        plan=plan,
        price_per_kwh=Decimal("16.50"),
        connector_types=["CCS2"],
        session_fee=Decimal("10"),
    )
    TariffAssignment.objects.create(plan=plan, location=site)
    return site, station


def test_location_detail_lists_stations_connectors_live_status_and_prices(api, priced_site):
    site, _ = priced_site
    response = api.get(f"/api/v1/locations/{site.pk}")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == site.pk and body["summary"]["connectors"]["total"] == 3
    assert [s["identity"] for s in body["stations"]] == ["CP-A", "CP-B"]
    a, b = body["stations"]
    assert (a["online"], b["online"], a["in_service"]) == (True, False, True)
    ccs, type2 = a["connectors"]
    assert (ccs["number"], ccs["connector_type"], ccs["availability"], ccs["status"]) == (
        1,
        "CCS2",
        "available",
        "Available",
    )
    assert ccs["max_power_kw"] == "60.00"
    assert ccs["price"] == {
        "currency": "KGS",
        "per_kwh": "16.50",
        "per_minute": "0.00",
        "session_fee": "10.00",
        "idle_fee_per_minute": "0.00",
        "idle_grace_minutes": 0,
        "plan": "City",
        "rule": "",
    }
    assert type2["availability"] == "occupied" and type2["price"] is None  # no rule for it
    assert b["connectors"][0]["availability"] == "offline"


def test_station_detail_shows_connectors_live_status_and_price(api, priced_site):
    _, station = priced_site
    body = api.get(f"/api/v1/stations/{station.pk}").json()
    assert body["identity"] == "CP-A" and body["online"] is True
    assert body["location_id"] == station.location_id
    assert [c["availability"] for c in body["connectors"]] == ["available", "occupied"]
    assert body["connectors"][0]["price"]["per_kwh"] == "16.50"


def test_details_of_hidden_or_unknown_things_are_not_found(api):
    closed = make_location("Closed", status=Location.Status.INACTIVE)
    pending = make_station(make_location(), registration_status=Station.Registration.PENDING)
    on_closed = make_station(closed)
    assert_error(api.get(f"/api/v1/locations/{closed.pk}"), 404, "NOT_FOUND")
    assert_error(api.get("/api/v1/locations/999999"), 404, "NOT_FOUND")
    assert_error(api.get(f"/api/v1/stations/{pending.pk}"), 404, "NOT_FOUND")
    assert_error(api.get(f"/api/v1/stations/{on_closed.pk}"), 404, "NOT_FOUND")
    assert_error(api.get("/api/v1/stations/999999"), 404, "NOT_FOUND")


def test_the_map_is_read_only(api, priced_site):
    site, _ = priced_site
    assert_error(api.post("/api/v1/locations", {}, format="json"), 405, "METHOD_NOT_ALLOWED")
    assert_error(api.delete(f"/api/v1/locations/{site.pk}"), 405, "METHOD_NOT_ALLOWED")


# -- query counts ----------------------------------------------------------------------------


def populate(count: int) -> list[Location]:
    plan = TariffPlanFactory(name=f"plan-{uuid.uuid4().hex[:6]}", is_default=True)
    TariffRuleFactory(plan=plan, price_per_kwh=Decimal("10"))
    sites = []
    for i in range(count):
        site = make_location(f"Site {i:03}", lat=BISHKEK[0] + i / 1000, lon=BISHKEK[1])
        for _ in range(2):
            make_station(site, statuses=("Available", "Charging"), types=["CCS2", "Type2"])
        sites.append(site)
    return sites


@pytest.mark.parametrize("count", [1, 30])
def test_the_list_takes_the_same_few_queries_for_1_or_30_locations(
    api, count, django_assert_max_num_queries
):
    populate(count)
    params = {
        "lat": BISHKEK[0],
        "lon": BISHKEK[1],
        "radius_km": 50,
        "page_size": 50,
        "connector_type": "CCS2",
        "available_now": "true",
    }
    with django_assert_max_num_queries(4):  # count, page, stations, connectors (cold cache)
        response = api.get("/api/v1/locations", params)
    assert response.json()["count"] == count
    with django_assert_max_num_queries(2):  # warm cache: count and page only
        api.get("/api/v1/locations", params)


@pytest.mark.parametrize("count", [1, 30])
def test_details_take_the_same_few_queries_whatever_their_size(
    api, count, django_assert_max_num_queries
):
    site = populate(1)[0]
    for _ in range(count):
        make_station(site, statuses=("Available", "Charging", "Faulted"))
    with django_assert_max_num_queries(6):  # location, stations, connectors + 3 for prices
        body = api.get(f"/api/v1/locations/{site.pk}").json()
    assert len(body["stations"]) == count + 2
    station = site.stations.first()
    with django_assert_max_num_queries(5):
        api.get(f"/api/v1/stations/{station.pk}")


def test_an_id_beyond_the_integer_range_is_not_found(api):
    assert_error(api.get(f"/api/v1/locations/{10**30}"), 404, "NOT_FOUND")
    assert_error(api.get(f"/api/v1/stations/{10**30}"), 404, "NOT_FOUND")


def occupy(connector, status="charging"):
    """An active charging session on the connector, whatever the charger reports."""
    from charging.models import ChargingSession

    client = ClientFactory(phone=f"+99655{uuid.uuid4().int % 10**7:07d}")
    return ChargingSession.objects.create(
        client=client,
        station=connector.station,
        connector=connector,
        connector_number=connector.number,
        id_tag="APPTAG",
        status=status,
        limit_type=ChargingSession.LimitType.AMOUNT,
        limit_amount=Decimal("50"),
        tariff={},
        currency="KGS",
        hold_amount=Decimal("50"),
        settled=status not in ChargingSession.ACTIVE_STATUSES,
    )


@pytest.mark.parametrize("status", ["pending", "charging", "finishing"])
def test_a_connector_with_an_active_session_is_never_shown_available(api, status):
    """A start there is refused (CONNECTOR_OCCUPIED), so the map must not offer it, even
    while the charger still reports Available (a start it has not begun yet, a session
    whose stop it has not sent)."""
    site = make_location()
    station = make_station(site, statuses=("Available", "Available"))
    occupy(station.connectors.get(number=1), status)

    summary = summary_of(api, site)["connectors"]
    detail = api.get(f"/api/v1/stations/{station.pk}").json()
    in_location = api.get(f"/api/v1/locations/{site.pk}").json()["stations"][0]
    available_now = api.get("/api/v1/locations", {"available_now": "true"}).json()

    assert (summary["available"], summary["occupied"]) == (1, 1)
    assert [c["availability"] for c in detail["connectors"]] == ["occupied", "available"]
    assert [c["availability"] for c in in_location["connectors"]] == ["occupied", "available"]
    assert [r["id"] for r in available_now["results"]] == [site.pk]  # connector 2 is free


def test_a_site_whose_only_free_connector_has_a_session_is_not_available_now(api):
    site = make_location()
    station = make_station(site, statuses=("Available",))
    occupy(station.connectors.get())
    done = make_location("Done")
    finished = make_station(done, statuses=("Available",))
    occupy(finished.connectors.get(), status="completed")

    results = api.get("/api/v1/locations", {"available_now": "true"}).json()["results"]

    assert [r["id"] for r in results] == [done.pk]  # an ended session holds nothing
