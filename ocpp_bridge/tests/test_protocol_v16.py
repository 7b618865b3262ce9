"""The 1.6 session's rules, asserted on the exact frames it answers with.

Plain asyncio and a fake port: no Django, no socket."""

import asyncio
import json

import pytest

from ocpp_bridge.protocol.v16 import ChargePointSessionV16
from ocpp_bridge.tests.fakes import FakePort

BOOT = {"chargePointVendor": "ACME", "chargePointModel": "X1"}
TS = "2026-11-22T10:00:00.123456789+05:00"


def answer(session, frame) -> list | None:
    text = frame if isinstance(frame, str) else json.dumps(frame)
    reply = asyncio.run(session.handle_text(text))
    return None if reply is None else json.loads(reply)


def booted(port=None, **kwargs):
    session = ChargePointSessionV16(port or FakePort(), validate_responses=True, **kwargs)
    assert answer(session, [2, "boot", "BootNotification", BOOT])[2]["status"] == "Accepted"
    return session


def test_boot_accepted_answers_interval_and_time():
    session = ChargePointSessionV16(FakePort(), validate_responses=True)
    reply = answer(session, [2, "1", "BootNotification", BOOT])
    assert reply[:2] == [3, "1"]
    assert reply[2]["interval"] == 300 and reply[2]["currentTime"].endswith("Z")
    assert session.accepted


@pytest.mark.parametrize(
    "action,payload",
    [
        ("Heartbeat", {}),
        ("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available"}),
        ("StartTransaction", {"connectorId": 1, "idTag": "GOOD", "meterStart": 0, "timestamp": TS}),
    ],
)
def test_call_before_accepted_boot_is_security_error_without_effect(action, payload):
    port = FakePort()
    session = ChargePointSessionV16(port)
    assert answer(session, [2, "7", action, payload])[:3] == [4, "7", "SecurityError"]
    assert port.calls == []


def test_pending_boot_keeps_other_calls_refused():
    port = FakePort(boot_status="Pending")
    session = ChargePointSessionV16(port)
    assert answer(session, [2, "1", "BootNotification", BOOT])[2]["status"] == "Pending"
    assert answer(session, [2, "2", "Heartbeat", {}])[2] == "SecurityError"
    assert port.count("heartbeat") == 0


def test_reconnect_of_accepted_station_needs_no_new_boot():
    session = ChargePointSessionV16(FakePort(), accepted=True)
    assert answer(session, [2, "1", "Heartbeat", {}])[0] == 3


@pytest.mark.parametrize(
    "text,code",
    [
        ("not json", "FormationViolation"),
        ("{}", "FormationViolation"),
        ("[]", "FormationViolation"),
        ('"just a string"', "FormationViolation"),
        ("[2]", "FormationViolation"),
        ('[2, 17, "Heartbeat", {}]', "FormationViolation"),
        ('[2, "' + "x" * 37 + '", "Heartbeat", {}]', "FormationViolation"),
    ],
)
def test_unreadable_id_is_answered_with_minus_one(text, code):
    reply = answer(booted(), text)
    assert reply[:3] == [4, "-1", code]
    assert reply[4] == {} or isinstance(reply[4], dict)


@pytest.mark.parametrize(
    "frame,code",
    [
        ([9, "a", "Heartbeat", {}], "FormationViolation"),
        ([2, "a", "Heartbeat"], "FormationViolation"),
        ([2, "a", 5, {}], "FormationViolation"),
        ([2, "a", "Heartbeat", []], "ProtocolError"),
        ([2, "a", "NoSuchAction", {}], "NotImplemented"),
        ([2, "a", "RemoteStartTransaction", {"idTag": "X"}], "NotSupported"),
        ([2, "a", "Authorize", {}], "ProtocolError"),
        ([2, "a", "Authorize", {"idTag": 5}], "TypeConstraintViolation"),
        ([2, "a", "Authorize", {"idTag": "X" * 21}], "TypeConstraintViolation"),
        (
            [
                2,
                "a",
                "StatusNotification",
                {"connectorId": 1, "errorCode": "NoError", "status": "Sleeping"},
            ],
            "PropertyConstraintViolation",
        ),
        (
            [
                2,
                "a",
                "StartTransaction",
                {"connectorId": 1, "idTag": "GOOD", "meterStart": 0, "timestamp": "yesterday"},
            ],
            "PropertyConstraintViolation",
        ),
        (
            [2, "a", "MeterValues", {"connectorId": 1, "meterValue": []}],
            "OccurenceConstraintViolation",
        ),
        ([2, "a", "Heartbeat", {"unexpected": 1}], "FormationViolation"),
    ],
)
def test_each_malformation_gets_the_spec_error_code(frame, code):
    port = FakePort()
    session = booted(port)
    reply = answer(session, frame)
    assert reply[0] == 4 and reply[1] == "a" and reply[2] == code
    assert isinstance(reply[3], str) and isinstance(reply[4], dict)
    assert port.calls == [("boot", port.calls[0][1])]  # no effect beyond the boot


def test_session_keeps_answering_after_errors():
    session = booted()
    answer(session, "garbage")
    answer(session, [2, "x", "Nope", {}])
    assert answer(session, [2, "ok", "Heartbeat", {}])[:2] == [3, "ok"]


def test_handler_exception_is_internal_error_and_session_survives():
    port = FakePort()
    session = booted(port)
    port.fail_with = RuntimeError("database down")
    assert answer(session, [2, "h1", "Heartbeat", {}])[2] == "InternalError"
    port.fail_with = None
    assert answer(session, [2, "h2", "Heartbeat", {}])[0] == 3


def test_retried_call_with_same_id_and_payload_has_one_effect():
    port = FakePort()
    session = booted(port)
    start = [
        2,
        "s1",
        "StartTransaction",
        {"connectorId": 1, "idTag": "GOOD", "meterStart": 10, "timestamp": TS},
    ]
    first = answer(session, start)
    second = answer(session, start)
    assert first == second
    assert port.count("start") == 1


def test_same_id_with_other_payload_is_a_new_call():
    port = FakePort()
    session = booted(port)
    answer(session, [2, "m", "Authorize", {"idTag": "GOOD"}])
    reply = answer(session, [2, "m", "Authorize", {"idTag": "BAD"}])
    assert reply[2]["idTagInfo"]["status"] == "Invalid"
    assert port.count("authorize") == 2


def test_oversized_frame_is_refused_with_its_id():
    session = booted(max_frame_chars=200)
    frame = json.dumps([2, "big", "DataTransfer", {"vendorId": "v", "data": "x" * 500}])
    assert answer(session, frame)[:3] == [4, "big", "FormationViolation"]


def test_call_results_are_never_answered():
    session = booted()
    assert answer(session, [3, "nobody-asked", {}]) is None
    assert answer(session, [4, "nobody-asked", "GenericError", "", {}]) is None


def test_call_result_resolves_a_pending_call():
    session = booted()

    async def scenario():
        waiter = session.replies.expect("our-1")
        await session.handle_text(json.dumps([3, "our-1", {"status": "Accepted"}]))
        return await asyncio.wait_for(waiter, 30)

    assert asyncio.run(scenario()).payload == {"status": "Accepted"}


def test_meter_values_defaults_and_timestamps_are_parsed():
    port = FakePort()
    session = booted(port)
    answer(
        session,
        [
            2,
            "mv",
            "MeterValues",
            {
                "connectorId": 1,
                "transactionId": 5,
                "meterValue": [
                    {
                        "timestamp": TS,
                        "sampledValue": [{"value": "1.5", "unit": "kWh"}, {"value": "12"}],
                    }
                ],
            },
        ],
    )
    report = port.calls[-1][1]
    sample = report.meter_values[0]
    assert sample.timestamp.isoformat() == "2026-11-22T05:00:00.123456+00:00"
    assert [v.measurand for v in sample.sampled_values] == ["Energy.Active.Import.Register"] * 2
    assert sample.sampled_values[0].unit == "kWh" and report.transaction_id == 5


def test_authorize_answers_id_tag_info():
    session = booted()
    assert answer(session, [2, "a", "Authorize", {"idTag": "GOOD"}])[2] == {
        "idTagInfo": {"status": "Accepted"}
    }


def test_security_extension_messages_are_routed():
    port = FakePort()
    session = booted(port)
    frames = [
        [2, "1", "SecurityEventNotification", {"type": "FirmwareUpdated", "timestamp": TS}],
        [2, "2", "LogStatusNotification", {"status": "Uploaded", "requestId": 4}],
        [2, "3", "SignedFirmwareStatusNotification", {"status": "Installed", "requestId": 9}],
        [2, "4", "SignCertificate", {"csr": "-----BEGIN CSR-----"}],
        [2, "5", "DiagnosticsStatusNotification", {"status": "Uploaded"}],
        [2, "6", "FirmwareStatusNotification", {"status": "Installed"}],
    ]
    assert all(answer(session, f)[0] == 3 for f in frames)
    assert port.count("security_event") == 1 and port.count("firmware") == 2
    assert port.calls[-1] == ("firmware", ("Installed", None, False))


def test_data_transfer_unknown_vendor():
    session = booted()
    reply = answer(session, [2, "d", "DataTransfer", {"vendorId": "com.other", "messageId": "x"}])
    assert reply[2] == {"status": "UnknownVendorId"}


def test_a_token_nobody_issued_is_invalid_in_1_6_which_has_no_unknown():
    session = booted()
    reply = answer(session, [2, "n", "Authorize", {"idTag": "NOBODY"}])
    assert reply[2]["idTagInfo"] == {"status": "Invalid"}
