"""Commands as the domain names them, said the way the station's version understands."""

import pytest
from django.utils import timezone

from charging.transaction_models import OcppTransaction
from ocpp_bridge.command_translation import translate
from ocpp_bridge.protocol.errors import OcppError
from ocpp_bridge.protocol.outcomes import is_refusal
from ocpp_bridge.protocol.schemas import validate_request

pytestmark = pytest.mark.django_db


def to_201(station, action, payload):
    action, payload = translate(
        station_id=station.pk, version="2.0.1", action=action, payload=payload
    )
    validate_request("2.0.1", action, payload)  # what goes out is a valid 2.0.1 call
    return action, payload


def test_a_1_6_station_gets_the_command_as_it_is(make_station):
    station = make_station()
    assert translate(
        station_id=station.pk, version="1.6", action="Reset", payload={"type": "Soft"}
    ) == ("Reset", {"type": "Soft"})


def test_a_remote_start_becomes_request_start_with_a_central_token(make_station):
    action, payload = to_201(
        make_station(), "RemoteStartTransaction", {"connectorId": 2, "idTag": "APP1"}
    )
    assert action == "RequestStartTransaction"
    assert payload["idToken"] == {"idToken": "APP1", "type": "Central"} and payload["evseId"] == 2
    assert 0 < payload["remoteStartId"] < 2**31


def test_a_remote_stop_names_the_chargers_own_transaction_id(make_station):
    station = make_station()
    tx = OcppTransaction.objects.create(
        station=station,
        connector_number=1,
        id_tag="T",
        id_tag_status="Accepted",
        meter_start=0,
        started_at=timezone.now(),
        remote_id="TX-9",
    )
    assert to_201(station, "RemoteStopTransaction", {"transactionId": tx.pk}) == (
        "RequestStopTransaction",
        {"transactionId": "TX-9"},
    )
    with pytest.raises(OcppError):
        to_201(station, "RemoteStopTransaction", {"transactionId": tx.pk + 1})


@pytest.mark.parametrize(
    "action,payload,expected",
    [
        ("Reset", {"type": "Soft"}, ("Reset", {"type": "OnIdle"})),
        ("Reset", {"type": "Hard"}, ("Reset", {"type": "Immediate"})),
        (
            "UnlockConnector",
            {"connectorId": 2},
            ("UnlockConnector", {"evseId": 2, "connectorId": 1}),
        ),
        (
            "ChangeAvailability",
            {"connectorId": 0, "type": "Inoperative"},
            ("ChangeAvailability", {"operationalStatus": "Inoperative"}),
        ),
        (
            "ChangeAvailability",
            {"connectorId": 1, "type": "Operative"},
            ("ChangeAvailability", {"operationalStatus": "Operative", "evse": {"id": 1}}),
        ),
        (
            "TriggerMessage",
            {"requestedMessage": "StatusNotification", "connectorId": 1},
            ("TriggerMessage", {"requestedMessage": "StatusNotification", "evse": {"id": 1}}),
        ),
        (
            "GetVariables",
            {
                "getVariableData": [
                    {
                        "component": {"name": "OCPPCommCtrlr"},
                        "variable": {"name": "HeartbeatInterval"},
                    }
                ]
            },
            (
                "GetVariables",
                {
                    "getVariableData": [
                        {
                            "component": {"name": "OCPPCommCtrlr"},
                            "variable": {"name": "HeartbeatInterval"},
                        }
                    ]
                },
            ),
        ),
    ],
)
def test_the_other_commands_map_onto_their_2_0_1_calls(make_station, action, payload, expected):
    assert to_201(make_station(), action, payload) == expected


def test_the_password_is_set_in_the_security_controller(make_station):
    action, payload = to_201(
        make_station(),
        "ChangeConfiguration",
        {"key": "AuthorizationKey", "value": "s3cret-pw-123456"},
    )
    [item] = payload["setVariableData"]
    assert action == "SetVariables" and item["attributeValue"] == "s3cret-pw-123456"
    assert (item["component"], item["variable"]) == (
        {"name": "SecurityCtrlr"},
        {"name": "BasicAuthPassword"},
    )


@pytest.mark.parametrize("action", ["GetConfiguration", "ChangeConfiguration", "GetDiagnostics"])
def test_a_1_6_only_command_is_refused_for_a_2_0_1_station(make_station, action):
    payload = {"key": "HeartbeatInterval", "value": "60"} if action == "ChangeConfiguration" else {}
    with pytest.raises(OcppError) as refused:
        translate(station_id=make_station().pk, version="2.0.1", action=action, payload=payload)
    assert refused.value.code == "NotSupported"


def test_set_variables_is_done_only_when_every_variable_was_taken():
    def answer(*statuses):
        return {
            "setVariableResult": [
                {"attributeStatus": s, "component": {"name": "C"}, "variable": {"name": "V"}}
                for s in statuses
            ]
        }

    assert not is_refusal(answer("Accepted", "RebootRequired"))
    assert is_refusal(answer("Accepted", "Rejected"))
