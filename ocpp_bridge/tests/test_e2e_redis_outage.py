"""A Redis outage degrades the live view, never the chargers' answers.

Redis here is the test's own (conftest.PrivateRedis), paused with SIGSTOP: the worst
outage, where connections stay open and nothing answers. Every assertion is about order,
not speed: each answer must come while Redis is still paused (the test resumes it only
afterwards); before, the answers waited for the apps' notifications, i.e. for Redis."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connections
from django.utils import timezone

from charging.models import ChargingSession, OcppTransaction
from evpower.tests.support.processes import ServerProcess
from evpower.tests.support.waiting import wait_until
from ocpp_bridge.commands import send_command
from ocpp_bridge.models import CommandRecord
from ocpp_bridge.tests.charger import connect, rpc
from payments.tests.support import new_client
from payments.wallet import wallet_credit_topup
from stations.tests.factories import IdTagFactory, TariffPlanFactory, TariffRuleFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def iso(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 120))  # a hang guard, not a figure


@pytest.fixture
def owned_card(db):
    plan = TariffPlanFactory(name="outage", is_default=True)
    TariffRuleFactory(plan=plan, price_per_kwh=Decimal("12.00"))
    owner = new_client()
    wallet_credit_topup(
        client=owner, amount=Decimal("100.00"), payment_ref="outage", key="outage:topup"
    )
    return IdTagFactory(id_tag="CARD-OUT", client=owner)


def command_from_a_thread(station):
    try:
        return send_command(
            station=station,
            action="UnlockConnector",
            payload={"connectorId": 2},
            requested_by="outage-test",
        )
    finally:
        connections.close_all()  # this thread's, or the test database cannot be dropped


def test_transaction_messages_are_answered_while_redis_hangs(
    private_redis, booted_station, owned_card, settings
):
    if not settings.CHANNEL_LAYERS["default"]["BACKEND"].startswith("channels_redis"):
        pytest.skip("needs REDIS_URL (run scripts/test.sh)")
    station = booted_station("CP-OUTAGE")
    booted_station("CP-OUTAGE-2")
    server = ServerProcess({"REDIS_URL": private_redis.url})
    private_redis.serve_this_process(settings)
    began = timezone.now() - timedelta(minutes=10)
    answered_while_paused = {}

    async def charger():
        async with connect(server.ws_url("CP-OUTAGE"), "CP-OUTAGE") as ws:
            start = await rpc(
                ws,
                [
                    2,
                    "s",
                    "StartTransaction",
                    {
                        "connectorId": 1,
                        "idTag": "CARD-OUT",
                        "meterStart": 0,
                        "timestamp": iso(began),
                    },
                ],
            )
            tx = start[2]["transactionId"]
            private_redis.pause()
            try:
                answered_while_paused["meter"] = await rpc(
                    ws,
                    [
                        2,
                        "m",
                        "MeterValues",
                        {
                            "connectorId": 1,
                            "transactionId": tx,
                            "meterValue": [
                                {
                                    "timestamp": iso(began + timedelta(minutes=5)),
                                    "sampledValue": [
                                        {
                                            "value": "400",
                                            "measurand": "Energy.Active.Import.Register",
                                        }
                                    ],
                                }
                            ],
                        },
                    ],
                )
                answered_while_paused["status"] = await rpc(
                    ws,
                    [
                        2,
                        "n",
                        "StatusNotification",
                        {"connectorId": 1, "errorCode": "NoError", "status": "Charging"},
                    ],
                )
                # a driver's command cannot reach the charger now: it says so at once
                answered_while_paused["command"] = await asyncio.to_thread(
                    command_from_a_thread, station
                )
                answered_while_paused["stop"] = await rpc(
                    ws,
                    [
                        2,
                        "t",
                        "StopTransaction",
                        {
                            "transactionId": tx,
                            "meterStop": 800,
                            "timestamp": iso(began + timedelta(minutes=9)),
                        },
                    ],
                )
                # a charger (re)connecting meanwhile gets in and is answered too
                async with connect(server.ws_url("CP-OUTAGE-2"), "CP-OUTAGE-2") as other:
                    answered_while_paused["other"] = await rpc(other, [2, "h", "Heartbeat", {}])
            finally:
                private_redis.resume()
            return tx

    try:
        tx = run(charger())
    finally:
        server.stop()
    assert answered_while_paused["meter"] == [3, "m", {}]
    assert answered_while_paused["status"] == [3, "n", {}]
    assert answered_while_paused["stop"][:2] == [3, "t"]
    assert answered_while_paused["other"][:2] == [3, "h"]
    assert answered_while_paused["command"].status == CommandRecord.Status.UNREACHABLE
    assert OcppTransaction.objects.get(pk=tx).status == OcppTransaction.Status.STOPPED
    session = wait_until(
        lambda: ChargingSession.objects.filter(transaction_id=tx, settled=True).first()
    )
    assert session.energy_wh == 800 and session.final_cost == Decimal("9.60")
