"""Local lists, reservations and charging profiles end to end: a real server process
holds the charger's socket (the ocpp library's ChargePoint), the test calls the services
like any process would, and asserts the exact payloads the charger received."""

import json
import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone
from ocpp.v16 import call

from evpower.tests.support.processes import ROOT
from ocpp_bridge.tests.charger import now_iso
from ocpp_bridge.tests.command_charger import ThreadedCharger
from stations.charging_profiles import (
    charging_profile_apply,
    charging_profile_clear,
    composite_schedule_get,
)
from stations.local_list import local_list_sync, local_list_version_get
from stations.reservations import reservation_cancel, reservation_create
from stations.station_models import (
    ChargingProfile,
    ChargingProfileAssignment,
    LocalListState,
    Reservation,
    Station,
)
from stations.tests.factories import IdTagFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def station(identity):
    return Station.objects.get(identity=identity)


def sent(charger, action):
    return [payload for name, payload in charger.received if name == action]


def test_local_list_version_is_stored_only_when_the_charger_accepts(ocpp_server, booted_station):
    # given two id tags, one of a fleet
    booted_station("CP-LL")
    fleet = IdTagFactory(id_tag="FLEET")
    IdTagFactory(id_tag="CHILD", parent=fleet)

    with ThreadedCharger(
        ocpp_server.ws_url("CP-LL"), "CP-LL", local_list_answers=["Failed"]
    ) as charger:
        # when the charger fails the first update, then accepts the second
        failed = local_list_sync(station=station("CP-LL"))
        after_failure = LocalListState.objects.get(station__identity="CP-LL").version
        accepted = local_list_sync(station=station("CP-LL"))
        version = local_list_version_get(station=station("CP-LL"))

    # then only the accepted one is stored, and the charger holds exactly that list
    assert (failed.status, failed.response, after_failure) == ("rejected", {"status": "Failed"}, 0)
    assert accepted.ok and (accepted.update_type, accepted.list_version) == ("Full", 1)
    full_list = {
        "listVersion": 1,
        "updateType": "Full",
        "localAuthorizationList": [
            {"idTag": "CHILD", "idTagInfo": {"status": "Accepted", "parentIdTag": "FLEET"}},
            {"idTag": "FLEET", "idTagInfo": {"status": "Accepted"}},
        ],
    }
    assert sent(charger, "SendLocalList") == [full_list, full_list]
    state = LocalListState.objects.get(station__identity="CP-LL")
    assert (state.version, state.tags, state.last_update_type) == (1, ["CHILD", "FLEET"], "Full")
    assert version.response == {"listVersion": 1}


def test_version_mismatch_on_a_differential_update_sends_the_full_list(ocpp_server, booted_station):
    # given the charger accepted version 3 holding A, and B was added since
    cp = booted_station("CP-VM")
    IdTagFactory(id_tag="A")
    LocalListState.objects.create(station=cp, version=3, synced_at=timezone.now(), tags=["A"])
    IdTagFactory(id_tag="B")

    with ThreadedCharger(
        ocpp_server.ws_url("CP-VM"), "CP-VM", local_list_answers=["VersionMismatch"]
    ) as charger:
        result = local_list_sync(station=station("CP-VM"))

    # then
    assert sent(charger, "SendLocalList") == [
        {
            "listVersion": 4,
            "updateType": "Differential",
            "localAuthorizationList": [{"idTag": "B", "idTagInfo": {"status": "Accepted"}}],
        },
        {
            "listVersion": 4,
            "updateType": "Full",
            "localAuthorizationList": [
                {"idTag": "A", "idTagInfo": {"status": "Accepted"}},
                {"idTag": "B", "idTagInfo": {"status": "Accepted"}},
            ],
        },
    ]
    assert result.ok and result.update_type == "Full" and "VersionMismatch" in result.note
    state = LocalListState.objects.get(station=cp)
    assert (state.version, state.tags, state.sync_started_at) == (4, ["A", "B"], None)


def test_list_longer_than_the_chargers_maximum_is_cut_and_said(ocpp_server, booted_station):
    cp = booted_station("CP-MAX")
    Station.objects.filter(pk=cp.pk).update(
        configuration={"SendLocalListMaxLength": {"value": "1", "readonly": True}}
    )
    IdTagFactory(id_tag="A")
    IdTagFactory(id_tag="B")

    with ThreadedCharger(ocpp_server.ws_url("CP-MAX"), "CP-MAX") as charger:
        result = local_list_sync(station=station("CP-MAX"), full=True)

    assert result.ok and result.truncated and "1 id tags left out" in result.note
    assert sent(charger, "SendLocalList")[0]["localAuthorizationList"] == [
        {"idTag": "A", "idTagInfo": {"status": "Accepted"}}
    ]


def test_sync_local_list_command_prints_the_result(ocpp_server, booted_station):
    booted_station("CP-LLCMD")
    IdTagFactory(id_tag="A")
    with ThreadedCharger(ocpp_server.ws_url("CP-LLCMD"), "CP-LLCMD"):
        out = subprocess.run(
            [
                sys.executable,
                "manage.py",
                "sync_local_list",  # noqa: S603
                "CP-LLCMD",
                "--full",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env=ocpp_server.env,
            timeout=60,
        )
    assert out.returncode == 0, out.stderr
    printed = json.loads(out.stdout)
    assert (
        printed["response"],
        printed["update_type"],
        printed["list_version"],
        printed["entries"],
    ) == ({"status": "Accepted"}, "Full", 1, 1)


def test_reservation_accepted_then_used_by_start_transaction(ocpp_server, booted_station):
    # given
    booted_station("CP-RES")
    fleet = IdTagFactory(id_tag="FLEET")
    IdTagFactory(id_tag="DRIVER", parent=fleet)
    IdTagFactory(id_tag="OTHER")
    expires = (timezone.now() + timedelta(minutes=30)).replace(microsecond=0)

    with ThreadedCharger(ocpp_server.ws_url("CP-RES"), "CP-RES") as charger:
        # when we reserve connector 1, another driver starts there, then the reserved one
        reservation, result = reservation_create(
            station=station("CP-RES"),
            connector_number=1,
            id_tag="DRIVER",
            expires_at=expires,
            requested_by="test",
        )
        intruder = charger.call(
            call.StartTransaction(
                connector_id=1, id_tag="OTHER", meter_start=0, timestamp=now_iso()
            )
        )
        start = charger.call(
            call.StartTransaction(
                connector_id=1,
                id_tag="DRIVER",
                meter_start=100,
                timestamp=now_iso(),
                reservation_id=reservation.pk,
            )
        )

    # then the charger got exactly the reservation, and it was honoured
    assert result.ok and reservation.status == Reservation.Status.ACCEPTED
    assert sent(charger, "ReserveNow") == [
        {
            "connectorId": 1,
            "expiryDate": expires.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "idTag": "DRIVER",
            "parentIdTag": "FLEET",
            "reservationId": reservation.pk,
        }
    ]
    assert intruder.id_tag_info["status"] == "Invalid"
    assert start.id_tag_info["status"] == "Accepted"
    reservation.refresh_from_db()
    assert (reservation.status, reservation.transaction_id) == ("used", start.transaction_id)
    assert reservation.requested_by == "test"


def test_refused_and_cancelled_reservations(ocpp_server, booted_station):
    booted_station("CP-RES2")
    expires = timezone.now() + timedelta(minutes=30)
    with ThreadedCharger(
        ocpp_server.ws_url("CP-RES2"), "CP-RES2", reserve_status="Occupied"
    ) as charger:
        occupied, refused = reservation_create(
            station=station("CP-RES2"), connector_number=2, id_tag="X", expires_at=expires
        )
    with ThreadedCharger(ocpp_server.ws_url("CP-RES2"), "CP-RES2") as charger:
        held, _ = reservation_create(
            station=station("CP-RES2"), connector_number=0, id_tag="X", expires_at=expires
        )
        cancelled = reservation_cancel(reservation=held)
    offline, unsent = reservation_create(
        station=station("CP-RES2"), connector_number=1, id_tag="X", expires_at=expires
    )

    assert (refused.status, occupied.status, occupied.charger_status) == (
        "rejected",
        "occupied",
        "Occupied",
    )
    assert cancelled.ok and sent(charger, "CancelReservation") == [{"reservationId": held.pk}]
    held.refresh_from_db()
    assert held.status == "cancelled" and held.ended_at is not None
    assert (unsent.status, offline.status) == ("offline", "failed")


def test_charging_profile_applied_and_assignment_recorded(ocpp_server, booted_station):
    # given
    booted_station("CP-PRO")
    profile = ChargingProfile.objects.create(
        name="Evening cap",
        charging_profile_id=41,
        stack_level=2,
        purpose="TxDefaultProfile",
        kind="Relative",
        charging_rate_unit="A",
        duration=3600,
        schedule_periods=[
            {"startPeriod": 0, "limit": 16.0},
            {"startPeriod": 1800, "limit": 7.4, "numberPhases": 1},
        ],
    )

    with ThreadedCharger(ocpp_server.ws_url("CP-PRO"), "CP-PRO") as charger:
        # when
        applied = charging_profile_apply(
            profile=profile, station=station("CP-PRO"), connector_number=1, requested_by="test"
        )
        schedule = composite_schedule_get(
            station=station("CP-PRO"), connector_number=1, duration=600, charging_rate_unit="A"
        )
        cleared = charging_profile_clear(station=station("CP-PRO"), profile=profile)

    # then
    assert applied.ok and sent(charger, "SetChargingProfile") == [
        {
            "connectorId": 1,
            "csChargingProfiles": {
                "chargingProfileId": 41,
                "stackLevel": 2,
                "chargingProfilePurpose": "TxDefaultProfile",
                "chargingProfileKind": "Relative",
                "chargingSchedule": {
                    "chargingRateUnit": "A",
                    "duration": 3600,
                    "chargingSchedulePeriod": [
                        {"startPeriod": 0, "limit": 16.0},
                        {"startPeriod": 1800, "limit": 7.4, "numberPhases": 1},
                    ],
                },
            },
        }
    ]
    assert schedule.ok and schedule.response["chargingSchedule"]["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 16.0}
    ]
    assert sent(charger, "GetCompositeSchedule") == [
        {"connectorId": 1, "duration": 600, "chargingRateUnit": "A"}
    ]
    assert cleared.ok and sent(charger, "ClearChargingProfile") == [{"id": 41}]
    assignment = ChargingProfileAssignment.objects.get(profile=profile)
    assert (
        assignment.station.identity,
        assignment.connector_number,
        assignment.status,
        assignment.command_id,
    ) == ("CP-PRO", 1, "Cleared", applied.command_id)


def test_refused_profile_is_recorded_and_an_accepted_one_replaces_its_slot(
    ocpp_server, booted_station
):
    booted_station("CP-PRO2")
    common = {
        "stack_level": 0,
        "purpose": "TxDefaultProfile",
        "kind": "Relative",
        "schedule_periods": [{"startPeriod": 0, "limit": 10}],
    }
    first = ChargingProfile.objects.create(name="first", charging_profile_id=51, **common)
    second = ChargingProfile.objects.create(name="second", charging_profile_id=52, **common)

    with ThreadedCharger(ocpp_server.ws_url("CP-PRO2"), "CP-PRO2"):
        charging_profile_apply(profile=first, station=station("CP-PRO2"), connector_number=0)
        charging_profile_apply(profile=second, station=station("CP-PRO2"), connector_number=0)
    with ThreadedCharger(ocpp_server.ws_url("CP-PRO2"), "CP-PRO2", profile_status="Rejected"):
        refused = charging_profile_apply(
            profile=first, station=station("CP-PRO2"), connector_number=2
        )

    statuses = {
        (a.profile.name, a.connector_number): a.status
        for a in ChargingProfileAssignment.objects.select_related("profile")
    }
    assert refused.status == "rejected"
    assert statuses == {
        ("first", 0): "Replaced",
        ("second", 0): "Accepted",
        ("first", 2): "Rejected",
    }
