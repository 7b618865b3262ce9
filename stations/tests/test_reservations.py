"""Reservations honoured by StartTransaction, expired by the job, checked before sending."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from charging.models import OcppTransaction
from charging.parked_models import ParkedMessage
from charging.transactions import transaction_start
from stations.reservations import reservation_cancel, reservation_check, reservations_expire
from stations.station_models import IdTag, Reservation
from stations.tests.factories import IdTagFactory

pytestmark = pytest.mark.django_db
Status = Reservation.Status


def reserved(
    station,
    *,
    connector=1,
    id_tag="DRIVER",
    minutes=30,
    status=Status.ACCEPTED,
    parent="",
    made_ago=timedelta(minutes=5),
):
    """A reservation the charger accepted `made_ago`, expiring `minutes` from now."""
    now = timezone.now()
    r = Reservation.objects.create(
        station=station,
        connector_number=connector,
        id_tag=id_tag,
        parent_id_tag=parent,
        expires_at=now + timedelta(minutes=minutes),
        status=status,
        charger_status="Accepted",
    )
    Reservation.objects.filter(pk=r.pk).update(created_at=now - made_ago)
    r.refresh_from_db()
    return r


def start(station, *, id_tag, connector=1, reservation_id=None, at=None, meter_start=1000):
    return transaction_start(
        station_id=station.pk,
        connector_id=connector,
        id_tag=id_tag,
        meter_start=meter_start,
        reservation_id=reservation_id,
        timestamp=at or timezone.now().replace(microsecond=0),
        now=timezone.now(),
        raw={"idTag": id_tag},
    )


def conflicts():
    return list(
        ParkedMessage.objects.filter(reason=ParkedMessage.Reason.RESERVATION_CONFLICT).values_list(
            "detail", flat=True
        )
    )


@pytest.fixture
def tags():
    fleet = IdTagFactory(id_tag="FLEET")
    for name in ("DRIVER", "OTHER"):
        IdTagFactory(id_tag=name)
    IdTagFactory(id_tag="COLLEAGUE", parent=fleet)
    IdTagFactory(id_tag="BOSS", parent=fleet)


def test_start_naming_the_reservation_uses_it(make_station, tags):
    # given
    station = make_station()
    r = reserved(station)

    # when
    result = start(station, id_tag="DRIVER", reservation_id=r.pk)

    # then
    r.refresh_from_db()
    assert result.id_tag_status == "Accepted"
    assert (r.status, r.transaction_id) == (Status.USED, result.transaction_id)
    assert OcppTransaction.objects.get().reservation_id == r.pk
    assert conflicts() == []


def test_reserved_driver_starting_without_the_reservation_id_uses_it(make_station, tags):
    station = make_station()
    r = reserved(station)

    result = start(station, id_tag="DRIVER")

    r.refresh_from_db()
    assert result.id_tag_status == "Accepted" and r.status == Status.USED


def test_tag_with_the_reservations_parent_may_use_it(make_station, tags):
    station = make_station()
    r = reserved(station, id_tag="COLLEAGUE", parent="FLEET")

    result = start(station, id_tag="BOSS")

    r.refresh_from_db()
    assert result.id_tag_status == "Accepted" and r.status == Status.USED


def test_another_tag_on_a_reserved_connector_is_invalid_and_parked(make_station, tags):
    # given DRIVER reserved connector 1
    station = make_station()
    r = reserved(station)

    # when OTHER starts on it anyway
    result = start(station, id_tag="OTHER")
    again = start(station, id_tag="OTHER")  # the charger retries the same start

    # then the charger is told Invalid (it stops), the reservation still holds,
    # the transaction is recorded and an operator sees why
    r.refresh_from_db()
    assert result.id_tag_status == again.id_tag_status == "Invalid"
    assert r.status == Status.ACCEPTED
    assert OcppTransaction.objects.get().id_tag_status == "Invalid"
    assert conflicts() == [
        f"connector reserved for DRIVER (reservation {r.pk}, until "
        f"{r.expires_at.isoformat()}); answered Invalid"
    ]


def test_other_connectors_and_connector_zero_reservations_do_not_refuse(make_station, tags):
    station = make_station(connectors=2)
    reserved(station, connector=2)
    reserved(station, connector=0, id_tag="COLLEAGUE")

    assert start(station, id_tag="OTHER", connector=1).id_tag_status == "Accepted"
    assert conflicts() == []


def test_start_before_the_reservation_existed_is_no_conflict(make_station, tags):
    # a start replayed from the charger's offline queue, from before the reservation
    station = make_station()
    reserved(station, made_ago=timedelta(minutes=1))

    result = start(station, id_tag="OTHER", at=timezone.now() - timedelta(minutes=10))

    assert result.id_tag_status == "Accepted" and conflicts() == []


def test_ended_reservations_do_not_refuse(make_station, tags):
    station = make_station()
    r = reserved(station)
    Reservation.objects.filter(pk=r.pk).update(
        status=Status.CANCELLED, ended_at=timezone.now() - timedelta(minutes=1)
    )
    reserved(station, connector=2, status=Status.REJECTED)
    Reservation.objects.filter(connector_number=2).update(charger_status="Rejected")

    assert start(station, id_tag="OTHER").id_tag_status == "Accepted"
    assert start(station, id_tag="OTHER", connector=2).id_tag_status == "Accepted"


def test_blocked_tag_stays_blocked_on_a_reserved_connector(make_station, tags):
    station = make_station()
    reserved(station)
    IdTag.objects.filter(id_tag="OTHER").update(status=IdTag.Status.BLOCKED)

    assert start(station, id_tag="OTHER").id_tag_status == "Blocked"


def test_unknown_or_foreign_reservation_id_is_parked_not_refused(make_station, tags):
    station, elsewhere = make_station("CP-A"), make_station("CP-B")
    theirs = reserved(elsewhere)

    first = start(station, id_tag="DRIVER", reservation_id=999999)
    second = start(station, id_tag="DRIVER", reservation_id=theirs.pk, connector=2)

    theirs.refresh_from_db()
    assert first.id_tag_status == second.id_tag_status == "Accepted"
    assert theirs.status == Status.ACCEPTED
    assert set(conflicts()) == {
        "reservationId 999999 is not a reservation of this station",
        f"reservationId {theirs.pk} is not a reservation of this station",
    }


def test_expired_reservation_named_by_the_charger_is_still_used(make_station, tags):
    # our expiry job ran a moment before the charger's start arrived (clocks differ)
    station = make_station()
    r = reserved(station, status=Status.EXPIRED)

    start(station, id_tag="DRIVER", reservation_id=r.pk)

    r.refresh_from_db()
    assert r.status == Status.USED and conflicts() == []


def test_reservation_used_by_the_wrong_tag_is_used_parked_and_refused(make_station, tags):
    station = make_station()
    r = reserved(station)
    at = timezone.now().replace(microsecond=0)  # the retry repeats the same start exactly

    result = start(station, id_tag="OTHER", reservation_id=r.pk, at=at)

    r.refresh_from_db()
    assert r.status == Status.USED and result.id_tag_status == "Invalid"
    assert "is for id tag DRIVER, started by OTHER" in conflicts()[0]
    assert start(station, id_tag="OTHER", reservation_id=r.pk, at=at).id_tag_status == "Invalid"


def test_expiry_marks_only_past_active_reservations_once(make_station):
    # given
    station = make_station()
    past = reserved(station, minutes=-1)
    pending = reserved(station, minutes=-1, status=Status.PENDING)
    future = reserved(station, minutes=10)
    used = reserved(station, minutes=-1, status=Status.USED)

    # when two runs overlap
    first, second = reservations_expire(), reservations_expire()

    # then
    assert (first, second) == (2, 0)
    statuses = dict(Reservation.objects.values_list("pk", "status"))
    assert statuses == {
        past.pk: "expired",
        pending.pk: "expired",
        future.pk: "accepted",
        used.pk: "used",
    }


def test_reservation_request_is_checked_before_anything_is_sent(make_station):
    station = make_station(connectors=1)
    with pytest.raises(ValidationError) as caught:
        reservation_check(
            station=station,
            connector_number=3,
            id_tag="X" * 21,
            expires_at=timezone.now() - timedelta(minutes=1),
        )
    assert set(caught.value.message_dict) == {"connector_number", "id_tag", "expires_at"}
    reservation_check(
        station=station,
        connector_number=0,
        id_tag="DRIVER",
        expires_at=timezone.now() + timedelta(minutes=1),
    )


def test_cancelling_an_ended_reservation_sends_nothing(make_station):
    station = make_station()
    r = reserved(station, status=Status.USED)

    result = reservation_cancel(reservation=r)

    assert result.status == "invalid" and "is used" in result.error_description
    assert not station.commands.exists()
