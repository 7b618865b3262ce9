"""What 2.0.1 stations report on their own, stored for operators: events once each, reports
as sent; and reservations the charger ended itself."""

from datetime import timedelta

import pytest
from django.utils import timezone

from stations.charger_reports import charger_report_record, station_events_record
from stations.models import ChargerReport, Reservation, StationEvent
from stations.reservations import reservation_record_charger_update

pytestmark = pytest.mark.django_db

EVENT = {
    "eventId": 12,
    "timestamp": "2026-12-05T10:00:00+05:00",
    "trigger": "Alerting",
    "actualValue": "true",
    "eventNotificationType": "HardWiredMonitor",
    "component": {"name": "Connector", "evse": {"id": 2, "connectorId": 1}},
    "variable": {"name": "Problem"},
    "techCode": "E42",
    "techInfo": "lock motor stalled",
    "transactionId": "TX-9",
    "cleared": False,
}


def test_an_event_is_stored_once_however_often_it_is_sent(make_station):
    station = make_station()
    for _ in range(2):
        station_events_record(station_id=station.pk, events=[EVENT], now=timezone.now())
    [row] = StationEvent.objects.filter(station=station)
    assert (row.component, row.evse_id, row.connector_id, row.variable) == (
        "Connector",
        2,
        1,
        "Problem",
    )
    assert (row.actual_value, row.tech_code, row.transaction_id, row.trigger) == (
        "true",
        "E42",
        "TX-9",
        "Alerting",
    )
    assert row.occurred_at == timezone.datetime.fromisoformat(EVENT["timestamp"])
    cleared = {**EVENT, "eventId": 13, "actualValue": "false", "cleared": True, "cause": 12}
    station_events_record(station_id=station.pk, events=[cleared], now=timezone.now())
    latest = StationEvent.objects.filter(station=station).first()
    assert (latest.event_id, latest.cleared, latest.cause) == (13, True, 12)


def test_a_report_is_stored_as_sent_with_its_request_and_part(make_station):
    station = make_station()
    payload = {"requestId": 4, "seqNo": 1, "tbc": True, "generatedAt": "2026-12-05T10:00:00Z"}
    report = charger_report_record(
        station_id=station.pk, kind="NotifyMonitoringReport", payload=payload, now=timezone.now()
    )
    report.refresh_from_db()
    assert (report.kind, report.request_id, report.seq_no, report.to_be_continued) == (
        ChargerReport.Kind.MONITORING,
        4,
        1,
        True,
    )
    assert report.payload == payload
    with pytest.raises(ValueError):
        charger_report_record(
            station_id=station.pk, kind="Heartbeat", payload={}, now=timezone.now()
        )


@pytest.mark.parametrize("update, status", [("Expired", "expired"), ("Removed", "cancelled")])
def test_a_reservation_the_charger_ended_ends_here_once(make_station, update, status):
    station, other = make_station(), make_station("CP-2")
    reservation = Reservation.objects.create(
        station=station,
        connector_number=1,
        id_tag="RFID-1",
        expires_at=timezone.now() + timedelta(hours=1),
        status=Reservation.Status.ACCEPTED,
    )
    now = timezone.now()
    # another station's update for our id changes nothing
    assert not reservation_record_charger_update(
        station_id=other.pk, reservation_id=reservation.pk, update=update, now=now
    )
    assert reservation_record_charger_update(
        station_id=station.pk, reservation_id=reservation.pk, update=update, now=now
    )
    reservation.refresh_from_db()
    assert (reservation.status, reservation.ended_at) == (status, now)
    # sent again, or for a reservation already used: no change
    assert not reservation_record_charger_update(
        station_id=station.pk, reservation_id=reservation.pk, update=update, now=now
    )
    assert not reservation_record_charger_update(
        station_id=station.pk, reservation_id=reservation.pk + 999, update=update, now=now
    )
