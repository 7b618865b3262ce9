"""Values a charger may send that the database cannot store (issue: hostile payloads).

Each frame is either answered with the CALLERROR OCPP names for a value out of range, or,
where the frame is valid OCPP and the value only cannot be used, answered normally with
the value parked for review. Never InternalError (a charger retries those forever), and
the connection survives."""

import asyncio

import pytest

from charging.models import MeterSample, OcppTransaction
from charging.parked_models import ParkedMessage
from evpower.tests.support.waiting import wait_until
from ocpp_bridge.tests.charger import connect, now_iso, rpc

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


def meter(tx_id, value):
    return {
        "connectorId": 1,
        "transactionId": tx_id,
        "meterValue": [
            {
                "timestamp": now_iso(),
                "sampledValue": [
                    {"value": value, "measurand": "Energy.Active.Import.Register", "unit": "Wh"}
                ],
            }
        ],
    }


def test_out_of_range_values_are_refused_or_parked_never_internal_error(
    ocpp_server, booted_station
):
    booted_station("CP-RANGE")

    async def charger():
        async with connect(ocpp_server.ws_url("CP-RANGE"), "CP-RANGE") as ws:
            start = await rpc(
                ws,
                [
                    2,
                    "s",
                    "StartTransaction",
                    {"connectorId": 1, "idTag": "T1", "meterStart": 100, "timestamp": now_iso()},
                ],
            )
            tx = start[2]["transactionId"]
            answers = {
                "1e30": await rpc(ws, [2, "a", "MeterValues", meter(tx, "1e30")]),
                "1e309": await rpc(ws, [2, "b", "MeterValues", meter(tx, "1e309")]),
                "huge": await rpc(ws, [2, "c", "MeterValues", meter(tx, "9999999999999999999999")]),
                "tx63": await rpc(ws, [2, "d", "MeterValues", meter(2**63, "200")]),
                "stop63": await rpc(
                    ws,
                    [
                        2,
                        "e",
                        "StopTransaction",
                        {"transactionId": 2**63, "meterStop": 200, "timestamp": now_iso()},
                    ],
                ),
                "stop31": await rpc(
                    ws,
                    [
                        2,
                        "e2",
                        "StopTransaction",
                        {"transactionId": 2**31, "meterStop": 200, "timestamp": now_iso()},
                    ],
                ),
                "start30": await rpc(
                    ws,
                    [
                        2,
                        "f",
                        "StartTransaction",
                        {
                            "connectorId": 1,
                            "idTag": "T2",
                            "meterStart": 10**30,
                            "timestamp": now_iso(),
                        },
                    ],
                ),
                "nul": await rpc(ws, [2, "g", "Authorize", {"idTag": "A\u0000B"}]),
                "conn": await rpc(
                    ws,
                    [
                        2,
                        "h",
                        "StatusNotification",
                        {"connectorId": 70000, "errorCode": "NoError", "status": "Available"},
                    ],
                ),
                "stopbig": await rpc(
                    ws,
                    [
                        2,
                        "i",
                        "StopTransaction",
                        {"transactionId": tx, "meterStop": 10**30, "timestamp": now_iso()},
                    ],
                ),
            }
            answers["after"] = await rpc(ws, [2, "ok", "Heartbeat", {}])
            return tx, answers

    tx, answers = run(charger())
    refused = {name for name, reply in answers.items() if reply[0] == 4}
    assert {answers[name][2] for name in refused} == {"PropertyConstraintViolation"}
    # beyond 64 bits, a NUL, a connector no charger has: the spec's out-of-range error
    assert refused == {"tx63", "stop63", "start30", "nul", "conn", "stopbig"}
    assert answers["stop31"] == [3, "e2", {}] and answers["after"][0] == 3
    parked = {
        (m.reason, m.transaction_id, m.detail.split(":")[0]) for m in ParkedMessage.objects.all()
    }
    # valid OCPP: answered, the value kept as sent and parked for review
    assert parked == {
        (
            "value_out_of_range",
            tx,
            "a sampled value too large to store as a number (kept as sent, not used)",
        ),
        ("unknown_transaction", None, f"transactionId {2**31}"),
    }
    assert ParkedMessage.objects.filter(reason="value_out_of_range").count() == 3
    assert set(
        MeterSample.objects.filter(transaction_id=tx).values_list("value", "normalised_value")
    ) == {("1e30", None), ("1e309", None), ("9999999999999999999999", None)}
    assert OcppTransaction.objects.get(pk=tx).last_meter_wh == 100  # the register never moved


def test_a_nul_character_anywhere_in_a_frame_loses_no_log_row(ocpp_server, booted_station):
    """PostgreSQL text holds no NUL: the message log (written in batches) must not lose a
    batch of every charger's rows for one charger's NUL."""
    from ocpp_bridge.models import OcppMessage

    booted_station("CP-NUL")

    async def charger():
        async with connect(ocpp_server.ws_url("CP-NUL"), "CP-NUL") as ws:
            raw_nul = await rpc(ws, '[2, "r", "Heartbeat", {}]\x00')  # not JSON
            escaped = await rpc(ws, '[2, "a\\u0000", "Heart\\u0000beat", {}]')
            after = await rpc(ws, [2, "after-nul", "Heartbeat", {}])
            return raw_nul, escaped, after

    raw_nul, escaped, after = run(charger())
    assert raw_nul[2] == "FormationViolation" and escaped[0] == 4 and after[0] == 3
    logged = wait_until(
        lambda: OcppMessage.objects.filter(
            identity="CP-NUL", message_id="after-nul", direction="out"
        ).exists(),
        what="the frames after the NUL logged",
    )
    assert logged
    assert OcppMessage.objects.filter(identity="CP-NUL", raw__contains="\\u0000").exists()
