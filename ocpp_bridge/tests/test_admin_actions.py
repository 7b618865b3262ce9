"""Station admin actions that send commands to chargers, through the admin against a real
server process and a real charger (ThreadedCharger), like test_e2e_commands.py."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from charging.models import OcppTransaction
from ocpp_bridge.models import CommandRecord
from ocpp_bridge.tests.command_charger import ThreadedCharger
from stations.models import Station

CHANGELIST = reverse("admin:stations_station_changelist")
COMMAND_ACTIONS = {
    "soft_reset",
    "hard_reset",
    "unlock_connector",
    "remote_stop",
    "rotate_charger_key",
}


def e2e(test):
    return pytest.mark.e2e(pytest.mark.django_db(transaction=True)(test))


def run_action(client, name: str, *stations: Station, **fields):
    return client.post(
        CHANGELIST,
        {"action": name, "_selected_action": [s.pk for s in stations], **fields},
        follow=True,
    )


def reported(response) -> list[tuple[str, str]]:
    return [(m.level_tag, str(m)) for m in response.context["messages"]]


def start_transaction(station: Station, connector: int = 1) -> OcppTransaction:
    return OcppTransaction.objects.create(
        station=station,
        connector_number=connector,
        id_tag="TAG1",
        id_tag_status="Accepted",
        meter_start=0,
        started_at=timezone.now(),
    )


@e2e
def test_soft_reset_reports_the_answer_and_records_who_asked(
    admin_client, ocpp_server, booted_station
):
    # given
    station = booted_station("CP-A-SOFT")
    # when
    with ThreadedCharger(ocpp_server.ws_url("CP-A-SOFT"), "CP-A-SOFT") as charger:
        response = run_action(admin_client, "soft_reset", station)
    # then
    assert reported(response) == [
        ("success", "CP-A-SOFT · Soft reset: accepted (charger: Accepted)")
    ]
    assert charger.received == [("Reset", {"type": "Soft"})]
    record = CommandRecord.objects.get(station=station)
    assert (record.action, record.status, record.requested_by) == (
        "Reset",
        "accepted",
        "admin:admin",
    )


@e2e
def test_hard_reset_is_sent_only_after_confirmation(admin_client, ocpp_server, booted_station):
    station = booted_station("CP-A-HARD")
    with ThreadedCharger(ocpp_server.ws_url("CP-A-HARD"), "CP-A-HARD") as charger:
        page = run_action(admin_client, "hard_reset", station)
        assert b"Yes, hard reset" in page.content and charger.received == []
        response = run_action(admin_client, "hard_reset", station, apply="1")
    assert charger.received == [("Reset", {"type": "Hard"})]
    assert reported(response)[0][0] == "success"


@e2e
def test_unlock_asks_for_a_connector_of_the_station_then_sends_it(
    admin_client, ocpp_server, booted_station
):
    station = booted_station("CP-A-UNL")  # two connectors
    with ThreadedCharger(ocpp_server.ws_url("CP-A-UNL"), "CP-A-UNL"):
        # the intermediate page carries the selection and the action
        page = run_action(admin_client, "unlock_connector", station)
        assert page.templates[0].name == "admin/ocpp_bridge/station_command_form.html"
        assert f'name="_selected_action" value="{station.pk}"'.encode() in page.content
        assert b'name="action" value="unlock_connector"' in page.content
        # a connector the station lacks is a form error; nothing is sent
        wrong = run_action(admin_client, "unlock_connector", station, apply="1", connector="9")
        assert "No connector 9 on: CP-A-UNL." in wrong.context["form"].errors["connector"]
        assert not CommandRecord.objects.exists()

        response = run_action(admin_client, "unlock_connector", station, apply="1", connector="2")
    assert reported(response) == [
        ("success", "CP-A-UNL · Unlock connector: accepted (charger: Unlocked)")
    ]
    assert CommandRecord.objects.get().payload == {"connectorId": 2}


@e2e
def test_change_availability_scheduled_says_it_applies_after_the_transaction(
    admin_client, ocpp_server, booted_station
):
    station = booted_station("CP-A-AV")
    with ThreadedCharger(
        ocpp_server.ws_url("CP-A-AV"), "CP-A-AV", availability="Scheduled"
    ) as charger:
        response = run_action(
            admin_client,
            "change_availability",
            station,
            apply="1",
            connector="0",
            availability="Inoperative",
        )
    assert charger.received == [("ChangeAvailability", {"connectorId": 0, "type": "Inoperative"})]
    [(level, text)] = reported(response)
    assert level == "success"
    assert text.endswith("will apply when the current transaction ends")


@e2e
def test_change_configuration_refuses_the_authorization_key(
    admin_client, ocpp_server, booted_station
):
    station = booted_station("CP-A-CFG")
    with ThreadedCharger(ocpp_server.ws_url("CP-A-CFG"), "CP-A-CFG") as charger:
        refused = run_action(
            admin_client,
            "change_configuration",
            station,
            apply="1",
            key="authorizationKey",
            value="x" * 20,
        )
        changed = run_action(
            admin_client,
            "change_configuration",
            station,
            apply="1",
            key="HeartbeatInterval",
            value="120",
        )
    [error] = refused.context["form"].errors["key"]
    assert "Rotate charger password" in error
    assert charger.received == [
        ("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "120"})
    ]
    assert reported(changed)[0][0] == "success"


@e2e
def test_remote_stop_refuses_a_transaction_of_another_station(
    admin_client, ocpp_server, booted_station
):
    station, other = booted_station("CP-A-STOP"), booted_station("CP-A-OTHER")
    own, foreign = start_transaction(station), start_transaction(other)
    with ThreadedCharger(ocpp_server.ws_url("CP-A-STOP"), "CP-A-STOP") as charger:
        refused = run_action(
            admin_client, "remote_stop", station, apply="1", transaction_id=str(foreign.pk)
        )
        assert charger.received == []
        stopped = run_action(
            admin_client, "remote_stop", station, apply="1", transaction_id=str(own.pk)
        )
    assert refused.context["form"].errors["transaction_id"] == [
        f"Transaction {foreign.pk} is not a transaction of CP-A-STOP."
    ]
    assert charger.received == [("RemoteStopTransaction", {"transactionId": own.pk})]
    assert reported(stopped)[0][0] == "success"


@e2e
def test_offline_station_is_reported_as_offline(admin_client, ocpp_server, booted_station):
    station = booted_station("CP-A-OFF")  # no charger connected
    response = run_action(admin_client, "soft_reset", station)
    [(level, text)] = reported(response)
    assert level == "warning" and text.startswith("CP-A-OFF · Soft reset: offline")
    assert CommandRecord.objects.get().status == CommandRecord.Status.OFFLINE


@e2e
def test_each_selected_station_gets_its_own_outcome(admin_client, ocpp_server, booted_station):
    online, offline = booted_station("CP-A-ON"), booted_station("CP-A-GONE")
    with ThreadedCharger(ocpp_server.ws_url("CP-A-ON"), "CP-A-ON"):
        response = run_action(admin_client, "get_configuration", online, offline)
    assert sorted(reported(response)) == [
        (
            "success",
            "CP-A-ON · Get configuration: accepted — 2 key(s) read and stored on the station",
        ),
        ("warning", "CP-A-GONE · Get configuration: offline, not sent (station is offline)"),
    ]
    assert set(Station.objects.get(pk=online.pk).configuration) == {
        "HeartbeatInterval",
        "NumberOfConnectors",
    }


@e2e
def test_refused_key_rotation_says_the_old_key_stays_valid(
    admin_client, ocpp_server, booted_station
):
    station = booted_station("CP-A-KEY")
    hash_before = station.password_hash
    with ThreadedCharger(ocpp_server.ws_url("CP-A-KEY"), "CP-A-KEY", refuse_keys=True):
        response = run_action(admin_client, "rotate_charger_key", station)
    [(level, text)] = reported(response)
    assert level == "warning" and "NOT rotated" in text and "old key stays valid" in text
    assert Station.objects.get(pk=station.pk).password_hash == hash_before


@e2e
def test_update_firmware_validates_the_form_then_sends_utc_times(
    admin_client, ocpp_server, booted_station
):
    station = booted_station("CP-A-FW")
    with ThreadedCharger(ocpp_server.ws_url("CP-A-FW"), "CP-A-FW") as charger:
        bad = run_action(
            admin_client,
            "update_firmware",
            station,
            apply="1",
            location="not a url",
            retrieve_date="tomorrow",
        )
        assert set(bad.context["form"].errors) == {"location", "retrieve_date"}
        run_action(
            admin_client,
            "update_firmware",
            station,
            apply="1",
            location="ftp://fw.example.com/v2.bin",
            retrieve_date="2030-01-31T22:00",
        )
    assert charger.received == [
        (
            "UpdateFirmware",
            {"location": "ftp://fw.example.com/v2.bin", "retrieveDate": "2030-01-31T22:00:00.000Z"},
        )
    ]


@e2e
def test_sync_local_list_reports_per_station(admin_client, ocpp_server, booted_station):
    pytest.importorskip("stations.local_list")
    station = booted_station("CP-A-LL")
    response = run_action(admin_client, "sync_local_list", station)  # offline: nothing sent
    [(level, text)] = reported(response)
    assert level == "warning" and text.startswith("CP-A-LL · Local list sync: offline")


@pytest.mark.django_db
def test_staff_without_send_permission_do_not_see_or_run_command_actions(
    client, django_user_model, make_station
):
    # given: an operator who may edit stations (and approve them) but not send commands
    station = make_station("CP-A-PERM")
    operator = django_user_model.objects.create_user("operator", is_staff=True)
    operator.user_permissions.set(
        Permission.objects.filter(
            codename__in=["view_station", "change_station", "manage_station_security"]
        )
    )
    client.force_login(operator)
    # when
    page = client.get(CHANGELIST)
    posted = run_action(client, "soft_reset", station)
    # then
    offered = {name for name, _ in page.context["action_form"].fields["action"].choices}
    assert "approve_registration" in offered and not offered & COMMAND_ACTIONS
    assert ("warning", "No action selected.") in reported(posted)
    assert not CommandRecord.objects.exists()


@pytest.mark.django_db
def test_admin_sees_the_command_actions(admin_client):
    page = admin_client.get(CHANGELIST)
    offered = {name for name, _ in page.context["action_form"].fields["action"].choices}
    assert COMMAND_ACTIONS <= offered


@pytest.mark.django_db
def test_station_page_shows_the_latest_commands_with_a_fixed_number_of_queries(
    admin_client, make_station
):
    station = make_station("CP-A-HIST")
    url = reverse("admin:stations_station_change", args=[station.pk])

    def record(n: int) -> None:
        CommandRecord.objects.create(
            station=station,
            action="Reset",
            payload={"type": "Soft"},
            requested_by=f"admin:op{n}",
            status="accepted",
            response={"status": "Accepted"},
            duration_ms=n,
        )

    record(0)
    admin_client.get(url)  # warm the per-process caches (content types)
    with CaptureQueriesContext(connection) as few:
        assert admin_client.get(url).status_code == 200
    for n in range(1, 25):
        record(n)
    with CaptureQueriesContext(connection) as many:
        page = admin_client.get(url)

    inline = page.context["inline_admin_formsets"][1]
    shown = [form.original.requested_by for form in inline]
    assert shown == [f"admin:op{n}" for n in range(24, 4, -1)]  # newest 20, newest first
    assert b"admin:op24" in page.content and b"admin:op4<" not in page.content
    assert len(many) == len(few)


@pytest.mark.django_db
def test_command_log_is_read_only_and_searchable_by_station(admin_client, make_station):
    for identity in ("CP-A-LOG1", "CP-A-LOG2"):
        CommandRecord.objects.create(
            station=make_station(identity),
            action="ClearCache",
            requested_by="admin:admin",
            status="call_error",
            error_code="NotImplemented",
        )
    changelist = reverse("admin:ocpp_bridge_commandrecord_changelist")

    page = admin_client.get(changelist, {"q": "CP-A-LOG2", "status": "call_error"})

    assert [r.station.identity for r in page.context["cl"].result_list] == ["CP-A-LOG2"]
    assert admin_client.get(reverse("admin:ocpp_bridge_commandrecord_add")).status_code == 403
