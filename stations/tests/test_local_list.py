"""Building local authorisation list updates: full vs differential, deletions, limits."""

from datetime import timedelta

import pytest
from django.utils import timezone

from ocpp_bridge.protocol.schemas import validate_request
from stations.local_list import build_list_update, max_list_length
from stations.station_models import IdTag, LocalListState
from stations.tests.factories import IdTagFactory

pytestmark = pytest.mark.django_db


def synced_state(station, *, tags, at, version=3):
    return LocalListState.objects.create(
        station=station, version=version, synced_at=at, tags=sorted(tags)
    )


def test_full_list_has_every_tag_with_its_id_tag_info(db):
    # given
    fleet = IdTagFactory(id_tag="FLEET")
    expiry = timezone.now() + timedelta(days=30)
    IdTagFactory(id_tag="CHILD", parent=fleet, expiry_date=expiry)
    IdTagFactory(id_tag="LOST", status=IdTag.Status.BLOCKED)

    # when
    update = build_list_update(state=None, full=False, max_length=None, now=timezone.now())

    # then
    assert update.update_type == "Full" and update.reason == "no accepted update yet"
    assert update.entries == [
        {
            "idTag": "CHILD",
            "idTagInfo": {
                "status": "Accepted",
                "parentIdTag": "FLEET",
                "expiryDate": expiry.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            },
        },
        {"idTag": "FLEET", "idTagInfo": {"status": "Accepted"}},
        {"idTag": "LOST", "idTagInfo": {"status": "Blocked"}},
    ]
    validate_request(
        "1.6",
        "SendLocalList",
        {"listVersion": 1, "updateType": "Full", "localAuthorizationList": update.entries},
    )


def test_differential_sends_only_tags_changed_since_the_last_sync(make_station):
    # given
    station = make_station()
    for name in ("OLD-1", "OLD-2", "EDITED"):
        IdTagFactory(id_tag=name)
    synced_at = timezone.now()
    IdTag.objects.update(updated_at=synced_at - timedelta(minutes=5))
    state = synced_state(station, tags={"OLD-1", "OLD-2", "EDITED"}, at=synced_at)
    IdTag.objects.filter(id_tag="EDITED").update(
        status=IdTag.Status.BLOCKED, updated_at=synced_at + timedelta(seconds=1)
    )
    IdTagFactory(id_tag="NEW")

    # when
    update = build_list_update(state=state, full=False, max_length=None, now=timezone.now())

    # then
    assert update.update_type == "Differential"
    assert [(e["idTag"], e["idTagInfo"]["status"]) for e in update.entries] == [
        ("NEW", "Accepted"),
        ("EDITED", "Blocked"),
    ]
    assert update.holds == ["EDITED", "NEW", "OLD-1", "OLD-2"]


def test_blocking_a_parent_sends_its_children_again(make_station):
    station = make_station()
    fleet = IdTagFactory(id_tag="FLEET")
    IdTagFactory(id_tag="CHILD", parent=fleet)
    synced_at = timezone.now()
    IdTag.objects.update(updated_at=synced_at - timedelta(minutes=1))
    state = synced_state(station, tags={"FLEET", "CHILD"}, at=synced_at)
    IdTag.objects.filter(pk=fleet.pk).update(
        status=IdTag.Status.BLOCKED, updated_at=synced_at + timedelta(seconds=1)
    )

    update = build_list_update(state=state, full=False, max_length=None, now=timezone.now())

    assert {e["idTag"]: e["idTagInfo"]["status"] for e in update.entries} == {
        "FLEET": "Blocked",
        "CHILD": "Blocked",
    }


def test_deleted_tag_forces_a_full_update(make_station):
    # given a tag the charger holds was deleted (or renamed) since the last sync
    station = make_station()
    IdTagFactory(id_tag="KEPT")
    state = synced_state(station, tags={"KEPT", "GONE"}, at=timezone.now())

    # when
    update = build_list_update(state=state, full=False, max_length=None, now=timezone.now())

    # then a differential update cannot remove it: the full list replaces the charger's
    assert update.update_type == "Full" and "1 id tag(s) deleted" in update.reason
    assert update.holds == ["KEPT"]


def test_nothing_changed_is_an_empty_differential(make_station):
    station = make_station()
    IdTagFactory(id_tag="A")
    state = synced_state(station, tags={"A"}, at=timezone.now() + timedelta(seconds=1))

    update = build_list_update(state=state, full=False, max_length=None, now=timezone.now())

    assert (update.update_type, update.entries) == ("Differential", [])


def test_full_list_over_the_chargers_maximum_is_cut_accepted_first(db):
    # given 3 tags, one blocked, and a charger taking 2 entries per list
    for name in ("A", "B"):
        IdTagFactory(id_tag=name)
    IdTagFactory(id_tag="0-BLOCKED", status=IdTag.Status.BLOCKED)

    # when
    update = build_list_update(state=None, full=True, max_length=2, now=timezone.now())

    # then 1.6 cannot split a version: the first 2 go, and the update says so
    assert update.truncated and [e["idTag"] for e in update.entries] == ["A", "B"]
    assert "maximum of 2 entries, 1 id tags left out" in update.reason


def test_differential_that_would_overflow_the_charger_becomes_a_cut_full_list(make_station):
    station = make_station()
    IdTagFactory(id_tag="A")
    state = synced_state(station, tags={"A"}, at=timezone.now())
    IdTagFactory(id_tag="B")

    update = build_list_update(state=state, full=False, max_length=1, now=timezone.now())

    assert update.update_type == "Full" and update.truncated and update.holds == ["A"]


def test_max_length_comes_from_the_known_configuration(make_station):
    station = make_station()
    assert max_list_length(station) is None
    station.configuration = {
        "SendLocalListMaxLength": {"value": "50", "readonly": True},
        "LocalAuthListMaxLength": {"value": "40", "readonly": True},
        "HeartbeatInterval": {"value": "300", "readonly": False},
    }
    assert max_list_length(station) == 40
    station.configuration = {"SendLocalListMaxLength": {"value": None, "readonly": True}}
    assert max_list_length(station) is None
