"""Charger transactions on PostgreSQL: ids, replays, parking, meter normalisation."""

from datetime import timedelta

import pytest
from django.utils import timezone

from charging.parked_models import ParkedMessage
from charging.transaction_models import MeterSample, OcppTransaction
from charging.transactions import Reading, meter_values_record, transaction_start, transaction_stop
from stations.models import IdTag
from stations.tests.factories import IdTagFactory

pytestmark = pytest.mark.django_db


def start(station, *, id_tag="TAG", meter_start=1000, at=None, connector=1):
    at = at or timezone.now().replace(microsecond=0)
    return transaction_start(
        station_id=station.pk,
        connector_id=connector,
        id_tag=id_tag,
        meter_start=meter_start,
        timestamp=at,
        reservation_id=None,
        now=timezone.now(),
        raw={},
    )


def stop(station, tx_id, *, meter_stop=5000, at=None, readings=()):
    return transaction_stop(
        station_id=station.pk,
        transaction_id=tx_id,
        meter_stop=meter_stop,
        timestamp=at or timezone.now(),
        id_tag=None,
        reason="Local",
        readings=list(readings),
        now=timezone.now(),
        raw={},
    )


def energy(value, unit="Wh", at=None, **kw):
    return Reading(
        timestamp=at or timezone.now(),
        value=value,
        measurand="Energy.Active.Import.Register",
        unit=unit,
        **kw,
    )


def test_transaction_ids_come_from_a_sequence_and_are_unique(make_station):
    station = make_station()
    base = timezone.now().replace(microsecond=0)
    ids = [start(station, at=base + timedelta(seconds=i)).transaction_id for i in range(5)]
    assert len(set(ids)) == 5 and ids == sorted(ids)


def test_retried_start_gets_the_same_transaction_id(make_station):
    station = make_station()
    at = timezone.now().replace(microsecond=0)
    first, again = start(station, at=at), start(station, at=at)
    assert first.transaction_id == again.transaction_id and not again.created
    assert OcppTransaction.objects.count() == 1


def test_start_rechecks_the_id_tag(make_station):
    station = make_station()
    IdTagFactory(id_tag="BLOCKED", status=IdTag.Status.BLOCKED)
    IdTagFactory(id_tag="OLD", expiry_date=timezone.now() - timedelta(days=1))
    assert start(station, id_tag="BLOCKED").id_tag_status == "Blocked"
    assert start(station, id_tag="OLD", connector=2).id_tag_status == "Expired"
    assert start(station, id_tag="UNKNOWN", meter_start=7).id_tag_status == "Invalid"


def test_child_of_blocked_parent_is_blocked(make_station):
    station = make_station()
    parent = IdTagFactory(id_tag="FLEET", status=IdTag.Status.BLOCKED)
    IdTagFactory(id_tag="CAR-1", parent=parent)
    assert start(station, id_tag="CAR-1").id_tag_status == "Blocked"


def test_meter_values_normalise_kwh_and_advance_the_register(make_station):
    station = make_station()
    tx = start(station).transaction_id
    meter_values_record(
        station_id=station.pk,
        connector_id=1,
        transaction_id=tx,
        raw={},
        readings=[
            energy("2.5", "kWh"),
            Reading(
                timestamp=timezone.now(), value="7", measurand="Power.Active.Import", unit="kW"
            ),
        ],
        now=timezone.now(),
    )
    samples = {s.measurand: s for s in MeterSample.objects.all()}
    assert samples["Energy.Active.Import.Register"].normalised_value == 2500
    assert samples["Power.Active.Import"].normalised_value == 7000
    assert OcppTransaction.objects.get().last_meter_wh == 2500


def test_duplicate_meter_values_are_stored_once(make_station):
    station = make_station()
    tx = start(station).transaction_id
    at = timezone.now()
    for _ in range(3):
        meter_values_record(
            station_id=station.pk,
            connector_id=1,
            transaction_id=tx,
            raw={},
            readings=[energy("1500", at=at)],
            now=timezone.now(),
        )
    assert MeterSample.objects.count() == 1


def test_signed_data_is_kept_raw(make_station):
    station = make_station()
    tx = start(station).transaction_id
    meter_values_record(
        station_id=station.pk,
        connector_id=1,
        transaction_id=tx,
        raw={},
        readings=[energy("AP;0;3;ALCV3ABBBISHMA", format="SignedData")],
        now=timezone.now(),
    )
    sample = MeterSample.objects.get()
    assert sample.value == "AP;0;3;ALCV3ABBBISHMA" and sample.normalised_value is None


def test_meter_going_backwards_is_parked_and_not_applied(make_station):
    station = make_station()
    tx = start(station, meter_start=1000).transaction_id
    t0 = timezone.now()
    for value, at in [("3000", t0), ("2000", t0 + timedelta(seconds=60))]:
        meter_values_record(
            station_id=station.pk,
            connector_id=1,
            transaction_id=tx,
            raw={},
            readings=[energy(value, at=at)],
            now=timezone.now(),
        )
    assert OcppTransaction.objects.get().last_meter_wh == 3000
    assert ParkedMessage.objects.get().reason == "meter_backwards"


def test_older_meter_value_replayed_late_does_not_rewind(make_station):
    station = make_station()
    tx = start(station, meter_start=0).transaction_id
    t0 = timezone.now()
    for value, at in [("3000", t0 + timedelta(seconds=60)), ("2000", t0)]:
        meter_values_record(
            station_id=station.pk,
            connector_id=1,
            transaction_id=tx,
            raw={},
            readings=[energy(value, at=at)],
            now=timezone.now(),
        )
    assert OcppTransaction.objects.get().last_meter_wh == 3000
    assert not ParkedMessage.objects.exists() and MeterSample.objects.count() == 2


def test_meter_values_for_unknown_transaction_are_kept_and_parked(make_station):
    station = make_station()
    meter_values_record(
        station_id=station.pk,
        connector_id=1,
        transaction_id=999,
        raw={"x": 1},
        readings=[energy("10")],
        now=timezone.now(),
    )
    assert MeterSample.objects.get().transaction_id is None
    parked = ParkedMessage.objects.get()
    assert (parked.reason, parked.transaction_id) == ("unknown_transaction", 999)


def test_stop_twice_stops_once(make_station):
    station = make_station()
    tx = start(station).transaction_id
    at = timezone.now()
    stop(station, tx, meter_stop=5000, at=at)
    stop(station, tx, meter_stop=5000, at=at)
    row = OcppTransaction.objects.get()
    assert (row.status, row.meter_stop, row.energy_wh) == ("stopped", 5000, 4000)
    # the tag has no owner: parked once for billing review, nothing else
    assert list(ParkedMessage.objects.values_list("reason", flat=True)) == ["unbilled_transaction"]


def test_different_second_stop_is_parked_and_changes_nothing(make_station):
    station = make_station()
    tx = start(station).transaction_id
    stop(station, tx, meter_stop=5000)
    stop(station, tx, meter_stop=9000)
    assert OcppTransaction.objects.get().meter_stop == 5000
    assert ParkedMessage.objects.exclude(reason="unbilled_transaction").get().reason == (
        "already_stopped"
    )


def test_stop_of_unknown_transaction_is_parked(make_station):
    station = make_station()
    stop(station, 4242)
    assert ParkedMessage.objects.get().reason == "unknown_transaction"


def test_station_cannot_stop_another_stations_transaction(make_station):
    mine, other = make_station("CP-A"), make_station("CP-B")
    tx = start(mine).transaction_id
    stop(other, tx)
    assert OcppTransaction.objects.get().status == "active"
    assert ParkedMessage.objects.get().station_id == other.pk


def test_stop_with_transaction_data_stores_samples(make_station):
    station = make_station()
    tx = start(station, meter_start=0).transaction_id
    stop(station, tx, meter_stop=800, readings=[energy("0.8", "kWh", context="Transaction.End")])
    sample = MeterSample.objects.get()
    assert sample.transaction_id == tx and sample.normalised_value == 800


def test_stop_before_start_is_applied_and_parked(make_station):
    station = make_station()
    at = timezone.now()
    tx = start(station, at=at).transaction_id
    stop(station, tx, at=at - timedelta(hours=1))
    assert OcppTransaction.objects.get().status == "stopped"
    assert ParkedMessage.objects.exclude(reason="unbilled_transaction").get().reason == (
        "stop_before_start"
    )


def test_new_start_while_connector_has_open_transaction_is_flagged(make_station):
    station = make_station()
    at = timezone.now().replace(microsecond=0)
    old = start(station, at=at).transaction_id
    start(station, at=at + timedelta(minutes=5), id_tag="OTHER")
    parked = ParkedMessage.objects.get()
    assert (parked.reason, parked.transaction_id) == ("superseded_transaction", old)
