"""Commands to chargers, end to end: a real server process holds the charger's socket,
the test process sends commands through the channel layer (Redis) like any other
process would."""

import asyncio
import json
import subprocess
import sys
import threading
import time

import pytest

from evpower.tests.support.processes import ROOT, ServerProcess
from evpower.tests.support.waiting import wait_until
from ocpp_bridge.commands import rotate_charger_password, send_command
from ocpp_bridge.handshake import Handshake, authenticate_charger
from ocpp_bridge.models import CommandRecord, OcppMessage
from ocpp_bridge.tests.charger import basic
from ocpp_bridge.tests.command_charger import ThreadedCharger
from stations.models import Station

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
Status = CommandRecord.Status


def station(identity):
    return Station.objects.get(identity=identity)


def can_log_in(identity, password):
    verdict = authenticate_charger(
        Handshake(
            identity=identity,
            headers={k.lower(): v for k, v in basic(identity, password).items()},
            client_ip="127.0.0.1",
            tls=False,
        )
    )
    return verdict.status == 0


def trigger(connector: int) -> dict:
    return {"requestedMessage": "StatusNotification", "connectorId": connector}


def test_command_is_delivered_answered_and_recorded(ocpp_server, booted_station):
    booted_station("CP-CMD")
    with ThreadedCharger(ocpp_server.ws_url("CP-CMD"), "CP-CMD") as charger:
        result = send_command(
            station=station("CP-CMD"), action="Reset", payload={"type": "Soft"}, requested_by="test"
        )
    assert result.ok and result.response == {"status": "Accepted"}
    assert charger.received == [("Reset", {"type": "Soft"})]
    record = CommandRecord.objects.get(pk=result.command_id)
    assert (record.status, record.requested_by, record.payload) == (
        "accepted",
        "test",
        {"type": "Soft"},
    )
    assert record.duration_ms is not None and record.finished_at is not None


def test_get_configuration_is_stored_as_the_known_configuration(ocpp_server, booted_station):
    booted_station("CP-CONF")
    with ThreadedCharger(ocpp_server.ws_url("CP-CONF"), "CP-CONF"):
        assert send_command(station=station("CP-CONF"), action="GetConfiguration").ok
        assert send_command(
            station=station("CP-CONF"),
            action="ChangeConfiguration",
            payload={"key": "HeartbeatInterval", "value": "120"},
        ).ok
    assert station("CP-CONF").configuration == {
        "HeartbeatInterval": {"value": "120", "readonly": False},
        "NumberOfConnectors": {"value": "2", "readonly": True},
    }


def test_refusal_and_call_error_are_distinct(ocpp_server, booted_station):
    booted_station("CP-NO")
    with ThreadedCharger(ocpp_server.ws_url("CP-NO"), "CP-NO"):
        refused = send_command(
            station=station("CP-NO"), action="RemoteStartTransaction", payload={"idTag": "X"}
        )
        unsupported = send_command(station=station("CP-NO"), action="ClearCache")
    assert refused.status == Status.REJECTED and refused.response == {"status": "Rejected"}
    assert unsupported.status == Status.CALL_ERROR and unsupported.error_code == "NotImplemented"


def test_invalid_payload_is_refused_before_sending(ocpp_server, booted_station):
    booted_station("CP-INV")
    with ThreadedCharger(ocpp_server.ws_url("CP-INV"), "CP-INV") as charger:
        bad = send_command(station=station("CP-INV"), action="Reset", payload={"type": "Gentle"})
        unknown = send_command(station=station("CP-INV"), action="Heartbeat")
    assert (bad.status, bad.error_code) == (Status.INVALID, "PropertyConstraintViolation")
    assert unknown.status == Status.INVALID
    assert charger.received == []


def test_offline_station_fails_fast(ocpp_server, booted_station, monkeypatch):
    """Answered from the station's row, without sending anything or waiting for anyone."""
    from ocpp_bridge import commands

    def never(*args, **kwargs):
        raise AssertionError("an offline station's command was sent")

    monkeypatch.setattr(commands, "_send_and_wait", never)
    booted_station("CP-OFF")
    result = send_command(
        station=station("CP-OFF"), action="Reset", payload={"type": "Soft"}, timeout=600
    )
    assert (result.status, result.error_description) == (Status.OFFLINE, "station is offline")


def test_disconnected_charger_makes_the_next_command_offline(ocpp_server, booted_station):
    booted_station("CP-BYE")
    with ThreadedCharger(ocpp_server.ws_url("CP-BYE"), "CP-BYE"):
        assert send_command(station=station("CP-BYE"), action="Reset", payload={"type": "Hard"}).ok
    wait_until(lambda: not station("CP-BYE").connected, what="the disconnect recorded")
    assert (
        send_command(station=station("CP-BYE"), action="Reset", payload={"type": "Hard"}).status
        == Status.OFFLINE
    )


def test_stale_socket_row_counts_as_offline_not_a_timeout(ocpp_server, booted_station):
    cp = booted_station("CP-GHOST")  # the row says connected, but no process holds it
    Station.objects.filter(pk=cp.pk).update(
        connected=True, connection_channel="specific.gone!x", last_seen_at=cp.last_boot_at
    )
    result = send_command(
        station=station("CP-GHOST"), action="Reset", payload={"type": "Soft"}, timeout=60
    )
    # offline from the missing acknowledgement (ACK_SECONDS), not a timeout after 60 s
    assert (result.status, result.error_description) == (
        Status.OFFLINE,
        "the process holding the socket did not answer",
    )


def test_timeout_when_the_charger_does_not_answer_in_time(ocpp_server, booted_station):
    booted_station("CP-SLOW")
    with ThreadedCharger(ocpp_server.ws_url("CP-SLOW"), "CP-SLOW", slow_seconds=3):
        result = send_command(
            station=station("CP-SLOW"),
            action="TriggerMessage",
            payload={"requestedMessage": "Heartbeat"},
            timeout=1,
        )
    assert result.status == Status.TIMEOUT


def test_one_call_in_flight_the_queue_holds_ten_and_the_rest_are_busy(ocpp_server, booted_station):
    """The charger holds its first answer (a gate), so nothing leaves the queue while the
    other commands arrive: however slow the machine, one CALL is in flight, exactly
    OCPP_COMMAND_QUEUE (10) wait, and the rest are answered busy at once."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    def send_and_close(connector):
        try:
            return send_command(
                station=station("CP-BUSY"),
                action="TriggerMessage",
                payload=trigger(connector),
                timeout=120,
            )
        finally:
            connection.close()  # each worker thread opened its own connection

    booted_station("CP-BUSY")
    gate = threading.Event()
    with (
        ThreadedCharger(ocpp_server.ws_url("CP-BUSY"), "CP-BUSY", gate=gate) as charger,
        ThreadPoolExecutor(14) as pool,
    ):
        # given one CALL in flight, held by the charger
        first = pool.submit(send_and_close, 1)
        wait_until(lambda: len(charger.received) == 1, what="the first CALL")
        # when 13 more arrive while it is held
        others = [pool.submit(send_and_close, n) for n in range(2, 15)]
        wait_until(lambda: sum(f.done() for f in others) >= 3, what="three busy answers")
        # then 3 were refused at once, the other 10 wait, and nothing else was sent
        refused = [f.result() for f in others if f.done()]
        assert [r.status for r in refused] == [Status.BUSY] * 3
        assert len(charger.received) == 1
        gate.set()
        results = [first.result(), *(f.result() for f in others)]
    assert sorted(r.status for r in results).count(Status.ACCEPTED) == 11
    assert len(charger.received) == 11
    # never two CALLs in flight on the socket: every CALL we sent was answered before the
    # next one went out (the message log is written in batches: wait for all 22 frames)
    wire = wait_until(
        lambda: (
            (
                frames := list(
                    OcppMessage.objects.filter(station__identity="CP-BUSY", message_type__in=[2, 3])
                    .exclude(action="BootNotification")
                    .exclude(direction="out", message_type=3)
                    .order_by("id")
                    .values_list("message_type", flat=True)
                )
            )
            and len(frames) >= 22
            and frames
        ),
        what="the message log",
    )
    assert wire == [2, 3] * 11


def test_queued_commands_go_out_in_the_order_they_arrived(ocpp_server, booted_station):
    """Commands sent one after another, as another process would through the channel layer
    (each after the previous one was acknowledged), reach the charger in that order; the
    one beyond the queue is refused busy."""
    from ocpp_bridge import commands

    identity = "CP-ORDER"
    booted_station(identity)
    gate = threading.Event()

    async def enqueue(layer, target, connectors, received):
        outcomes, waiting = [], []
        for connector in connectors:
            reply_to = await layer.new_channel()
            await layer.send(
                target,
                {
                    "type": "ocpp.command",
                    "reply_to": reply_to,
                    "command_id": 0,
                    "action": "TriggerMessage",
                    "payload": trigger(connector),
                    "deadline": time.time() + 120,
                    "correlation_id": None,
                },
            )
            ack = await asyncio.wait_for(layer.receive(reply_to), 60)
            outcomes.append(ack["outcome"])
            if ack["outcome"] == "queued":
                waiting.append(reply_to)
            while not received:  # the first is in flight before the next one arrives
                await asyncio.sleep(0.02)
        return outcomes, waiting

    async def finals(layer, waiting):
        return [(await asyncio.wait_for(layer.receive(r), 120))["outcome"] for r in waiting]

    with ThreadedCharger(ocpp_server.ws_url(identity), identity, gate=gate) as charger:
        target = station(identity).connection_channel
        outcomes, waiting = commands._sender.run(
            enqueue, target, list(range(1, 13)), charger.received
        )
        gate.set()
        answered = commands._sender.run(finals, waiting)

    assert outcomes == ["queued"] * 11 + ["busy"]
    assert answered == ["answered"] * 11
    assert [request["connectorId"] for _, request in charger.received] == list(range(1, 12))


def test_key_rotation_switches_only_after_the_charger_accepts(ocpp_server, booted_station):
    booted_station("CP-KEY")
    with ThreadedCharger(ocpp_server.ws_url("CP-KEY"), "CP-KEY", refuse_keys=True) as charger:
        result, rotated = rotate_charger_password(station=station("CP-KEY"))
    assert result.status == Status.REJECTED and not rotated
    assert can_log_in("CP-KEY", "test-password-0001")  # the old key still works

    with ThreadedCharger(ocpp_server.ws_url("CP-KEY"), "CP-KEY") as charger:
        result, rotated = rotate_charger_password(station=station("CP-KEY"))
    new_key = charger.received[-1][1]["value"]
    assert rotated and len(new_key) == 40
    assert can_log_in("CP-KEY", new_key) and not can_log_in("CP-KEY", "test-password-0001")
    # the key is never stored or logged in clear
    assert new_key not in json.dumps(list(CommandRecord.objects.values("payload")))
    assert not OcppMessage.objects.filter(raw__contains=new_key).exists()


def test_management_command_prints_the_answer_and_exit_code(ocpp_server, booted_station):
    """Slow (5-10 s): two manage.py processes, each starting Django."""
    booted_station("CP-MGMT")
    env_cmd = [sys.executable, "manage.py", "ocpp_command"]
    with ThreadedCharger(ocpp_server.ws_url("CP-MGMT"), "CP-MGMT"):
        ok = subprocess.run(
            [
                *env_cmd,
                "CP-MGMT",
                "UnlockConnector",
                "--json",  # noqa: S603
                '{"connectorId": 1}',
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env=ocpp_server.env,
            timeout=60,
        )
    offline = subprocess.run(
        [
            *env_cmd,
            "CP-MGMT",
            "Reset",
            "--json",  # noqa: S603
            '{"type": "Soft"}',
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=ocpp_server.env,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["response"] == {"status": "Unlocked"}
    assert offline.returncode == 3 and json.loads(offline.stdout)["status"] == "offline"


def test_commands_reach_a_charger_on_another_server_process(ocpp_server, booted_station):
    """Charger on process A; the command is issued inside process B (a second server)."""
    booted_station("CP-TWO")
    server_b = ServerProcess()
    try:
        with ThreadedCharger(ocpp_server.ws_url("CP-TWO"), "CP-TWO") as charger:
            out = subprocess.run(  # noqa: S603 - a shell in server B's environment
                [
                    sys.executable,
                    "manage.py",
                    "shell",
                    "-c",
                    "from ocpp_bridge.commands import send_command;"
                    "from stations.models import Station;"
                    "r = send_command(station=Station.objects.get(identity='CP-TWO'),"
                    " action='Reset', payload={'type': 'Soft'}, requested_by='process B');"
                    "print(r.status)",
                ],
                cwd=ROOT,
                capture_output=True,
                text=True,
                env=server_b.env,
                timeout=60,
            )
        assert out.stdout.strip().splitlines()[-1] == "accepted", out.stderr
        assert charger.received == [("Reset", {"type": "Soft"})]
    finally:
        server_b.stop()


def test_the_central_system_sends_data_transfer_from_the_admin_and_the_shell(
    ocpp_server, booted_station, admin_client
):
    """OCPP 1.6 Core lets either side send DataTransfer (vendor integrations need it)."""
    cp = booted_station("CP-DT")
    shell = [sys.executable, "manage.py", "ocpp_command", "CP-DT", "DataTransfer", "--json"]
    with ThreadedCharger(ocpp_server.ws_url("CP-DT"), "CP-DT") as charger:
        page = admin_client.post(
            f"/admin/stations/station/{cp.pk}/ocpp-command/",
            {
                "action": "DataTransfer",
                "timeout": "30",
                "payload": '{"vendorId": "com.acme", "messageId": "ping", "data": "42"}',
            },
        )
        from_shell = subprocess.run(  # noqa: S603 - fixed command line
            [*shell, '{"vendorId": "org.other", "messageId": "ping"}'],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env=ocpp_server.env,
            timeout=60,
        )
        received = list(charger.received)
    assert page.status_code == 200 and page.context["result"].status == "accepted"
    assert page.context["result"].response == {"status": "Accepted", "data": "pong:42"}
    assert from_shell.returncode == 1, from_shell.stderr  # the charger's refusal
    assert json.loads(from_shell.stdout)["response"] == {"status": "UnknownVendorId"}
    assert received == [
        ("DataTransfer", {"vendorId": "com.acme", "messageId": "ping", "data": "42"}),
        ("DataTransfer", {"vendorId": "org.other", "messageId": "ping", "data": None}),
    ]
    assert list(
        CommandRecord.objects.filter(station=cp, action="DataTransfer")
        .order_by("pk")
        .values_list("status", "requested_by")
    ) == [("accepted", "admin:admin"), ("rejected", "manage.py ocpp_command")]
