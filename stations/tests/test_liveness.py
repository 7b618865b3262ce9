"""Liveness has one source of truth: socket open AND heard from recently."""

from datetime import timedelta

import pytest
from django.utils import timezone

from stations.selectors import station_is_online, stations_online
from stations.services import station_connected, station_disconnected, station_record_status
from stations.station_models import Station

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
    station_record_status(
        station_id=station.pk,
        connector_id=0,
        status="Faulted",
        error_code="GroundFailure",
        info="",
        vendor_id="",
        vendor_error_code="",
        timestamp=None,
        now=now,
    )
    station.refresh_from_db()
    assert (station.status, station.error_code) == ("Faulted", "GroundFailure")


def test_status_for_an_unknown_connector_creates_it(make_station):
    station = make_station(connectors=1)
    station_record_status(
        station_id=station.pk,
        connector_id=3,
        status="Available",
        error_code="NoError",
        info="",
        vendor_id="",
        vendor_error_code="",
        timestamp=None,
        now=timezone.now(),
    )
    assert sorted(station.connectors.values_list("number", flat=True)) == [1, 3]


# -- the liveness sweep (stations/liveness.py, Celery beat every 2 minutes) ---------------


def _listener_receive(channel: str, timeout: float = 0.5) -> list[dict]:
    """Everything waiting on a plain (not process-specific) channel, read through a fresh
    channel layer in its own event loop, as another process would."""
    import asyncio

    from channels import DEFAULT_CHANNEL_LAYER
    from channels.layers import channel_layers

    async def drain() -> list[dict]:
        layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
        got = []
        while True:
            try:
                got.append(await asyncio.wait_for(layer.receive(channel), timeout))
            except TimeoutError:
                return got

    return asyncio.run(drain())


def _listen(*groups: str) -> str:
    import asyncio
    import uuid

    from channels import DEFAULT_CHANNEL_LAYER
    from channels.layers import channel_layers

    channel = f"test-listener-{uuid.uuid4().hex}"

    async def join() -> None:
        layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
        for group in groups:
            await layer.group_add(group, channel)

    asyncio.run(join())
    return channel


@pytest.fixture
def alerts_sent(monkeypatch):
    sent: list[dict] = []

    def record(**kwargs) -> bool:
        sent.append(kwargs)
        return True

    monkeypatch.setattr("evpower.alerts.operator_alert", record)
    return sent


def _connected(station, *, channel: str, seen_ago: timedelta) -> Station:
    now = timezone.now()
    station_connected(station_id=station.pk, channel=channel, now=now)
    Station.objects.filter(pk=station.pk).update(last_seen_at=now - seen_ago)
    return Station.objects.get(pk=station.pk)


def _socket_channel() -> str:
    import uuid

    return f"test-socket-{uuid.uuid4().hex}"


def test_sweep_marks_a_silent_connected_station_offline_once(make_station, settings, alerts_sent):
    from stations.live import location_group, station_group
    from stations.liveness import liveness_sweep

    # given: window = 2 x 300 + 60 s
    settings.OCPP_HEARTBEAT_INTERVAL, settings.OCPP_OFFLINE_GRACE_SECONDS = 300, 60
    silent = _connected(
        make_station("CP-SILENT"), channel=_socket_channel(), seen_ago=timedelta(seconds=661)
    )
    fresh = _connected(
        make_station("CP-FRESH"), channel=_socket_channel(), seen_ago=timedelta(seconds=600)
    )
    never = make_station("CP-NEVER")  # never connected: nothing to mark
    apps = _listen(station_group(silent.pk), location_group(silent.location_id))

    # when
    marked = liveness_sweep()

    # then
    assert marked == 1
    silent_now = Station.objects.get(pk=silent.pk)
    assert (silent_now.connected, silent_now.connection_channel) == (False, "")
    assert silent_now.disconnected_at is not None
    assert not station_is_online(silent_now)
    assert Station.objects.get(pk=fresh.pk).connected
    assert not Station.objects.get(pk=never.pk).connected
    assert [(a["key"], a["subject"]) for a in alerts_sent] == [
        (f"station-offline:{silent.pk}", "Station CP-SILENT offline")
    ]
    assert "Test site" in alerts_sent[0]["text"]
    news = _listener_receive(apps)
    # the station's and the location's group both reach this listener: one message id
    assert {(m["type"], m["station"], m["kind"], m["online"]) for m in news} == {
        ("app.status", silent.pk, "online", False)
    }
    assert len({m["id"] for m in news}) == 1
    # the stale socket (if its process still lives) is told to close
    assert _listener_receive(silent.connection_channel) == [{"type": "ocpp.replaced"}]
    assert _listener_receive(fresh.connection_channel) == []

    # and again: nothing left to mark, nobody alerted twice
    assert liveness_sweep() == 0
    assert len(alerts_sent) == 1 and _listener_receive(apps) == []


def test_sweep_counts_a_connected_station_never_heard_from_as_stale(make_station, alerts_sent):
    from stations.liveness import liveness_sweep

    station = make_station()
    Station.objects.filter(pk=station.pk).update(
        connected=True, connection_channel="x", last_seen_at=None
    )
    assert liveness_sweep() == 1
    assert not Station.objects.get(pk=station.pk).connected
    assert "never heard from" in alerts_sent[0]["text"]


def test_sweep_leaves_alone_a_station_that_reconnects_while_it_runs(
    make_station, settings, monkeypatch, alerts_sent
):
    import stations.liveness as liveness

    settings.OCPP_HEARTBEAT_INTERVAL, settings.OCPP_OFFLINE_GRACE_SECONDS = 300, 60
    first = _connected(make_station("CP-A"), channel="old-a", seen_ago=timedelta(hours=1))
    second = _connected(make_station("CP-B"), channel="old-b", seen_ago=timedelta(hours=1))
    real = liveness.location_changed_for_station
    reconnected = []

    def after_claim(station_id, location_id=None):
        # between the sweep's read and its claim of CP-B, CP-B's charger reconnects
        if not reconnected:
            reconnected.append(
                station_connected(station_id=second.pk, channel="new-b", now=timezone.now())
            )
        real(station_id, location_id)

    monkeypatch.setattr(liveness, "location_changed_for_station", after_claim)

    assert liveness.liveness_sweep() == 1

    assert reconnected == ["old-b"]
    assert not Station.objects.get(pk=first.pk).connected
    b = Station.objects.get(pk=second.pk)
    assert (b.connected, b.connection_channel) == (True, "new-b") and station_is_online(b)
    assert [a["key"] for a in alerts_sent] == [f"station-offline:{first.pk}"]


def test_overlapping_sweeps_mark_and_alert_each_station_once(
    make_station, monkeypatch, alerts_sent
):
    import stations.liveness as liveness

    stations = [
        _connected(make_station(f"CP-{n}"), channel=f"ch-{n}", seen_ago=timedelta(hours=1))
        for n in range(3)
    ]
    real = liveness.location_changed_for_station
    inner: list[int] = []

    def after_claim(station_id, location_id=None):
        real(station_id, location_id)
        if not inner:  # a second sweep runs while the first is between its claims
            inner.append(-1)
            inner[0] = liveness.liveness_sweep()

    monkeypatch.setattr(liveness, "location_changed_for_station", after_claim)

    outer = liveness.liveness_sweep()

    assert outer + inner[0] == 3 and inner[0] == 2
    assert sorted(a["key"] for a in alerts_sent) == sorted(
        f"station-offline:{s.pk}" for s in stations
    )
    assert not Station.objects.filter(connected=True).exists()


def test_failing_alerts_and_publishing_never_break_the_sweep(make_station, monkeypatch):
    from stations.liveness import liveness_sweep

    def broken(**kwargs):
        raise RuntimeError("alert channel down")

    async def broken_publish(**kwargs):
        raise RuntimeError("channel layer down")

    monkeypatch.setattr("evpower.alerts.operator_alert", broken)
    monkeypatch.setattr("stations.liveness.publish_status", broken_publish)
    for n in range(2):
        _connected(make_station(f"CP-{n}"), channel=f"c{n}", seen_ago=timedelta(hours=1))

    assert liveness_sweep() == 2
    assert not Station.objects.filter(connected=True).exists()


def test_the_liveness_task_is_registered_under_the_scheduled_name(settings):
    from evpower.celery import app
    from stations.tasks import liveness_sweep_task

    assert (
        settings.CELERY_BEAT_SCHEDULE["stations-liveness"]["task"]
        == liveness_sweep_task.name
        == "stations.liveness_sweep"
    )
    assert app.tasks["stations.liveness_sweep"].run.__name__ == "liveness_sweep_task"
    assert liveness_sweep_task.apply().get() == 0


def test_a_mass_outage_alerts_a_few_stations_and_summarises_the_rest(
    make_station, monkeypatch, alerts_sent
):
    import stations.liveness as liveness

    monkeypatch.setattr(liveness, "MAX_STATION_ALERTS", 2)
    stations = [
        _connected(make_station(f"CP-{n}"), channel=f"c{n}", seen_ago=timedelta(hours=1))
        for n in range(5)
    ]

    assert liveness.liveness_sweep() == 5

    assert [a["key"] for a in alerts_sent] == [
        f"station-offline:{stations[0].pk}",
        f"station-offline:{stations[1].pk}",
        "stations-offline:many",
    ]
    assert alerts_sent[2]["subject"] == "5 stations offline"
    assert "CP-2, CP-3, CP-4" in alerts_sent[2]["text"]
