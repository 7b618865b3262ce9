"""The 2.0.1 session's rules, asserted on the exact frames it answers with (the shared rules
of session.py in 2.0.1's own words). Plain asyncio and a fake port: no Django, no socket."""

import asyncio
import json

import pytest

from ocpp_bridge.protocol.v201 import ChargePointSessionV201
from ocpp_bridge.protocol.versions import choose_version
from ocpp_bridge.tests.fakes import FakePort

BOOT = {"reason": "PowerUp", "chargingStation": {"model": "X2", "vendorName": "ACME"}}
TS = "2026-12-05T10:00:00.123456789+05:00"


def answer(session, frame) -> list | None:
    text = frame if isinstance(frame, str) else json.dumps(frame)
    reply = asyncio.run(session.handle_text(text))
    return None if reply is None else json.loads(reply)


def booted(port=None):
    session = ChargePointSessionV201(port or FakePort(), validate_responses=True)
    assert answer(session, [2, "boot", "BootNotification", BOOT])[2]["status"] == "Accepted"
    return session


def event(event_type="Started", seq_no=0, **extra) -> dict:
    payload = {
        "eventType": event_type,
        "timestamp": TS,
        "triggerReason": "Authorized",
        "seqNo": seq_no,
        "transactionInfo": {"transactionId": "tx-abc-1"},
        "evse": {"id": 1, "connectorId": 1},
        "idToken": {"idToken": "GOOD", "type": "ISO14443"},
        "meterValue": [
            {
                "timestamp": TS,
                "sampledValue": [
                    {"value": 12.5, "unitOfMeasure": {"unit": "kWh"}},
                    {
                        "value": 7.2,
                        "measurand": "Power.Active.Import",
                        "unitOfMeasure": {"unit": "kW"},
                    },
                    {
                        "value": 231,
                        "measurand": "Voltage",
                        "unitOfMeasure": {"unit": "V", "multiplier": -1},
                    },
                ],
            }
        ],
    }
    payload.update(extra)
    return payload


def test_boot_carries_the_stations_details_and_reason():
    port = FakePort()
    session = ChargePointSessionV201(port, validate_responses=True)
    boot = {
        **BOOT,
        "chargingStation": {
            **BOOT["chargingStation"],
            "serialNumber": "S-1",
            "firmwareVersion": "2.1",
            "modem": {"iccid": "8999", "imsi": "2500"},
        },
    }
    reply = answer(session, [2, "1", "BootNotification", boot])
    assert reply[:2] == [3, "1"] and reply[2]["interval"] == 300
    assert reply[2]["currentTime"].endswith("Z") and session.accepted
    info = port.calls[0][1]
    assert (info.vendor, info.model, info.charge_point_serial, info.firmware_version) == (
        "ACME",
        "X2",
        "S-1",
        "2.1",
    )
    assert (info.iccid, info.imsi, info.reason) == ("8999", "2500", "PowerUp")


def test_before_an_accepted_boot_a_call_is_a_security_error_without_effect():
    port = FakePort()
    session = ChargePointSessionV201(port)
    assert answer(session, [2, "7", "Heartbeat", {}])[:3] == [4, "7", "SecurityError"]
    assert port.calls == []


def test_a_pending_station_may_send_its_reports_and_nothing_else():
    port = FakePort(boot_status="Pending")
    session = ChargePointSessionV201(port)
    assert answer(session, [2, "1", "BootNotification", BOOT])[2]["status"] == "Pending"
    report = {"requestId": 1, "generatedAt": TS, "seqNo": 0, "tbc": False}
    assert answer(session, [2, "2", "NotifyReport", report]) == [3, "2", {}]
    assert answer(session, [2, "3", "Heartbeat", {}])[2] == "SecurityError"
    assert answer(session, [2, "4", "TransactionEvent", event()])[2] == "SecurityError"
    assert port.count("transaction_event") == 0


def test_status_names_the_evse_as_the_connector():
    port = FakePort()
    session = booted(port)
    status = {"timestamp": TS, "connectorStatus": "Occupied", "evseId": 2, "connectorId": 1}
    assert answer(session, [2, "s", "StatusNotification", status]) == [3, "s", {}]
    report = port.calls[-1][1]
    assert (report.connector_id, report.status, report.error_code) == (2, "Occupied", "NoError")


def test_authorize_answers_an_id_token_info():
    session = booted()
    reply = answer(
        session, [2, "a", "Authorize", {"idToken": {"idToken": "GOOD", "type": "ISO14443"}}]
    )
    assert reply == [3, "a", {"idTokenInfo": {"status": "Accepted"}}]
    reply = answer(
        session, [2, "b", "Authorize", {"idToken": {"idToken": "BAD", "type": "Central"}}]
    )
    assert reply[2]["idTokenInfo"]["status"] == "Invalid"


def test_transaction_event_reaches_the_port_with_units_as_sent_and_multipliers_applied():
    port = FakePort()
    session = booted(port)
    reply = answer(session, [2, "t", "TransactionEvent", event()])
    assert reply == [3, "t", {"idTokenInfo": {"status": "Accepted"}}]
    tx = port.calls[-1][1]
    assert (tx.event_type, tx.transaction_id, tx.seq_no, tx.evse_id, tx.id_token) == (
        "Started",
        "tx-abc-1",
        0,
        1,
        "GOOD",
    )
    values = [(s.value, s.measurand, s.unit) for s in tx.meter_values[0].sampled_values]
    assert values == [
        ("12.5", "Energy.Active.Import.Register", "kWh"),
        ("7.2", "Power.Active.Import", "kW"),
        ("23.1", "Voltage", "V"),
    ]


def test_an_event_without_an_id_token_is_answered_empty():
    session = booted()
    payload = event("Updated", 1)
    del payload["idToken"]
    assert answer(session, [2, "u", "TransactionEvent", payload]) == [3, "u", {}]


def test_a_retried_call_has_one_effect():
    port = FakePort()
    session = booted(port)
    first = answer(session, [2, "same", "TransactionEvent", event()])
    again = answer(session, [2, "same", "TransactionEvent", event()])
    assert first == again and port.count("transaction_event") == 1


@pytest.mark.parametrize(
    "frame,code",
    [
        ("not json", "RpcFrameworkError"),
        ('{"a": 1}', "RpcFrameworkError"),
        ('[2, 17, "Heartbeat", {}]', "RpcFrameworkError"),  # an id that cannot be read
        ('[2, "x", "Heartbeat"]', "RpcFrameworkError"),
        ('[7, "x", "Heartbeat", {}]', "MessageTypeNotSupported"),
        ('[2, "x", "Heartbeat", []]', "ProtocolError"),
        ('[2, "x", "Heartbeat", {"extra": 1}]', "FormatViolation"),
        ('[2, "x", "NoSuchAction", {}]', "NotImplemented"),
        ('[2, "x", "RequestStartTransaction", {}]', "NotSupported"),
        (
            '[2, "x", "StatusNotification", {"timestamp": "t", "connectorStatus": "Nope", '
            '"evseId": 1, "connectorId": 1}]',
            "PropertyConstraintViolation",
        ),
        (
            '[2, "x", "Authorize", {"idToken": {"idToken": 5, "type": "Central"}}]',
            "TypeConstraintViolation",
        ),
        ('[2, "x", "TransactionEvent", {"eventType": "Started"}]', "ProtocolError"),
    ],
)
def test_every_malformed_frame_class_gets_the_2_0_1_code(frame, code):
    reply = answer(booted(), frame)
    assert reply[0] == 4 and reply[2] == code, reply


def test_occurrence_violations_are_spelled_as_2_0_1_spells_them():
    session = booted()
    empty = {"requestId": 1, "generatedAt": TS, "seqNo": 0, "eventData": []}
    reply = answer(session, [2, "o", "NotifyEvent", empty])
    assert reply[2] == "OccurrenceConstraintViolation"


@pytest.mark.parametrize(
    "offered,pin,missing,version",
    [
        (["ocpp1.6", "ocpp2.0.1"], "", False, "2.0.1"),  # both offered: 2.0.1 preferred
        (["ocpp1.6"], "", False, "1.6"),
        (["ocpp2.0.1"], "1.6", False, None),  # pinned to the other version: refused
        (["ocpp1.6", "ocpp2.0.1"], "1.6", False, "1.6"),
        ([], "", True, "1.6"),  # old 1.6 firmware that offers none
        ([], "2.0.1", True, None),
        (["ocpp2.1"], "", False, None),
    ],
)
def test_the_subprotocol_chooses_the_version(offered, pin, missing, version):
    assert choose_version(offered, pin=pin, allow_missing=missing) == version


def test_a_report_reaches_the_port_as_sent():
    port = FakePort()
    session = booted(port)
    part = {
        "component": {"name": "OCPPCommCtrlr"},
        "variable": {"name": "HeartbeatInterval"},
        "variableAttribute": [{"type": "Actual", "value": "300"}],
    }
    report = {"requestId": 1, "generatedAt": TS, "seqNo": 0, "reportData": [part]}
    assert answer(session, [2, "r", "NotifyReport", report]) == [3, "r", {}]
    name, [sent] = port.calls[-1]
    assert name == "notify_report" and sent["component"] == part["component"]
    assert sent["variableAttribute"][0]["value"] == "300"


def test_a_token_nobody_issued_is_unknown_and_a_refused_one_invalid():
    session = booted()
    for token, status in (("NOBODY", "Unknown"), ("BAD", "Invalid")):
        frame = [2, token, "Authorize", {"idToken": {"idToken": token, "type": "ISO14443"}}]
        assert answer(session, frame)[2]["idTokenInfo"] == {"status": status}


def test_events_reach_the_port_as_sent():
    port = FakePort()
    session = booted(port)
    item = {
        "eventId": 7,
        "timestamp": TS,
        "trigger": "Alerting",
        "actualValue": "true",
        "eventNotificationType": "HardWiredMonitor",
        "component": {"name": "Connector", "evse": {"id": 1, "connectorId": 1}},
        "variable": {"name": "Problem"},
        "techCode": "E42",
    }
    payload = {"generatedAt": TS, "seqNo": 0, "eventData": [item]}
    assert answer(session, [2, "e", "NotifyEvent", payload]) == [3, "e", {}]
    # its time in UTC (nanoseconds cut to what Python keeps), the rest as sent
    assert port.calls[-1] == (
        "notify_event",
        [{**item, "timestamp": "2026-12-05T05:00:00.123456+00:00"}],
    )
    bad = {**payload, "eventData": [{**item, "timestamp": "yesterday"}]}
    reply = answer(session, [2, "f", "NotifyEvent", bad])
    assert reply[:3] == [4, "f", "PropertyConstraintViolation"]
    assert port.count("notify_event") == 1  # no effect


def test_a_reservation_the_charger_ended_reaches_the_port():
    port = FakePort()
    session = booted(port)
    update = {"reservationId": 5, "reservationUpdateStatus": "Expired"}
    assert answer(session, [2, "r", "ReservationStatusUpdate", update]) == [3, "r", {}]
    assert port.calls[-1] == ("reservation_update", (5, "Expired"))


SCHEDULE = {
    "id": 1,
    "chargingRateUnit": "W",
    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11000}],
}
PROFILE = {
    "id": 3,
    "stackLevel": 0,
    "chargingProfilePurpose": "TxDefaultProfile",
    "chargingProfileKind": "Absolute",
    "chargingSchedule": [SCHEDULE],
}


@pytest.mark.parametrize(
    "action, payload, reply",
    [
        ("NotifyMonitoringReport", {"requestId": 4, "seqNo": 0, "generatedAt": TS}, {}),
        ("NotifyChargingLimit", {"chargingLimit": {"chargingLimitSource": "EMS"}}, {}),
        ("ClearedChargingLimit", {"chargingLimitSource": "EMS", "evseId": 1}, {}),
        (
            "ReportChargingProfiles",
            {
                "requestId": 2,
                "chargingLimitSource": "CSO",
                "evseId": 1,
                "chargingProfile": [PROFILE],
            },
            {},
        ),
        (
            "NotifyCustomerInformation",
            {"data": "card 1234", "seqNo": 0, "generatedAt": TS, "requestId": 8},
            {},
        ),
        ("NotifyDisplayMessages", {"requestId": 9}, {}),
        ("PublishFirmwareStatusNotification", {"status": "Published", "requestId": 1}, {}),
        (
            "NotifyEVChargingSchedule",
            {"timeBase": TS, "chargingSchedule": SCHEDULE, "evseId": 1},
            {"status": "Accepted"},
        ),
        (
            "NotifyEVChargingNeeds",
            {"chargingNeeds": {"requestedEnergyTransfer": "AC_single_phase"}, "evseId": 1},
            {"status": "Rejected"},  # no ISO 15118 schedule is planned yet: said so
        ),
    ],
)
def test_reports_of_later_blocks_are_stored_as_sent_and_answered_per_spec(action, payload, reply):
    port = FakePort()
    session = booted(port)
    assert answer(session, [2, "x", action, payload]) == [3, "x", reply]
    name, (kind, stored) = port.calls[-1]
    # as sent, with the schema's defaults filled in (tbc: false)
    assert (name, kind) == ("charger_report", action) and stored.items() >= payload.items()
