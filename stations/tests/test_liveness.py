"""Liveness has one source of truth: socket open AND heard from recently."""

from datetime import timedelta

import pytest
from django.utils import timezone

from stations.models import Station
from stations.selectors import station_is_online, stations_online
from stations.services import station_connected, station_disconnected, station_record_status

pytestmark = pytest.mark.django_db


def test_online_needs_an_open_socket_and_a_recent_message(make_station, settings):
    settings.OCPP_HEARTBEAT_INTERVAL, settings.OCPP_OFFLINE_GRACE_SECONDS = 300, 60
    station = make_station()
    now = timezone.now()
    assert not station_is_online(station, now)
    station_connected(station_id=station.pk, channel="c1", now=now)
    station.refresh_from_db()
    assert station_is_online(station, now)
    later = now + timedelta(seconds=2 * 300 + 61)  # two missed heartbeats + grace
    assert not station_is_online(station, later)
    assert list(stations_online(now)) == [station] and not stations_online(later).exists()


def test_only_the_current_socket_can_mark_the_station_disconnected(make_station):
    station = make_station()
    now = timezone.now()
    station_connected(station_id=station.pk, channel="old", now=now)
    previous = station_connected(station_id=station.pk, channel="new", now=now)
    assert previous == "old"
    assert not station_disconnected(station_id=station.pk, channel="old", now=now)
    assert Station.objects.get(pk=station.pk).connected
    assert station_disconnected(station_id=station.pk, channel="new", now=now)
    assert not Station.objects.get(pk=station.pk).connected


def test_status_for_connector_zero_describes_the_station(make_station):
    station = make_station()
    now = timezone.now()
    station_record_status(station_id=station.pk, connector_id=0, status="Faulted",
                          error_code="GroundFailure", info="", vendor_id="", vendor_error_code="",
                          timestamp=None, now=now)
    station.refresh_from_db()
    assert (station.status, station.error_code) == ("Faulted", "GroundFailure")


def test_status_for_an_unknown_connector_creates_it(make_station):
    station = make_station(connectors=1)
    station_record_status(station_id=station.pk, connector_id=3, status="Available",
                          error_code="NoError", info="", vendor_id="", vendor_error_code="",
                          timestamp=None, now=timezone.now())
    assert sorted(station.connectors.values_list("number", flat=True)) == [1, 3]
