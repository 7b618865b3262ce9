"""Commands to chargers, end to end: a real server process holds the charger's socket,
the test process sends commands through the channel layer (Redis) like any other
process would."""

import json
import subprocess
import sys
import time

import pytest

from conftest import ROOT, ServerProcess
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
    verdict = authenticate_charger(Handshake(identity=identity, headers={
        k.lower(): v for k, v in basic(identity, password).items()}, client_ip="127.0.0.1",
        tls=False))
    return verdict.status == 0


def test_command_is_delivered_answered_and_recorded(ocpp_server, booted_station):
    booted_station("CP-CMD")
    with ThreadedCharger(ocpp_server.ws_url("CP-CMD"), "CP-CMD") as charger:
        result = send_command(station=station("CP-CMD"), action="Reset",
                              payload={"type": "Soft"}, requested_by="test")
    assert result.ok and result.response == {"status": "Accepted"}
    assert charger.received == [("Reset", {"type": "Soft"})]
    record = CommandRecord.objects.get(pk=result.command_id)
    assert (record.status, record.requested_by, record.payload) == (
        "accepted", "test", {"type": "Soft"})
    assert record.duration_ms is not None and record.finished_at is not None


def test_get_configuration_is_stored_as_the_known_configuration(ocpp_server, booted_station):
    booted_station("CP-CONF")
    with ThreadedCharger(ocpp_server.ws_url("CP-CONF"), "CP-CONF"):
        assert send_command(station=station("CP-CONF"), action="GetConfiguration").ok
        assert send_command(station=station("CP-CONF"), action="ChangeConfiguration",
                            payload={"key": "HeartbeatInterval", "value": "120"}).ok
    assert station("CP-CONF").configuration == {
        "HeartbeatInterval": {"value": "120", "readonly": False},
        "NumberOfConnectors": {"value": "2", "readonly": True}}


def test_refusal_and_call_error_are_distinct(ocpp_server, booted_station):
    booted_station("CP-NO")
    with ThreadedCharger(ocpp_server.ws_url("CP-NO"), "CP-NO"):
        refused = send_command(station=station("CP-NO"), action="RemoteStartTransaction",
                               payload={"idTag": "X"})
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


def test_offline_station_fails_fast(ocpp_server, booted_station):
    booted_station("CP-OFF")
    began = time.monotonic()
    result = send_command(station=station("CP-OFF"), action="Reset", payload={"type": "Soft"})
    assert result.status == Status.OFFLINE and time.monotonic() - began < 1


def test_disconnected_charger_makes_the_next_command_offline(ocpp_server, booted_station):
    booted_station("CP-BYE")
    with ThreadedCharger(ocpp_server.ws_url("CP-BYE"), "CP-BYE"):
        assert send_command(station=station("CP-BYE"), action="Reset",
                            payload={"type": "Hard"}).ok
    time.sleep(0.3)
    assert send_command(station=station("CP-BYE"), action="Reset",
                        payload={"type": "Hard"}).status == Status.OFFLINE


def test_stale_socket_row_counts_as_offline_not_a_timeout(ocpp_server, booted_station):
    cp = booted_station("CP-GHOST")  # the row says connected, but no process holds it
    Station.objects.filter(pk=cp.pk).update(connected=True, connection_channel="specific.gone!x",
                                            last_seen_at=cp.last_boot_at)
    began = time.monotonic()
    result = send_command(station=station("CP-GHOST"), action="Reset", payload={"type": "Soft"},
                          timeout=20)
    assert result.status == Status.OFFLINE and time.monotonic() - began < 5


def test_timeout_when_the_charger_does_not_answer_in_time(ocpp_server, booted_station):
    booted_station("CP-SLOW")
    with ThreadedCharger(ocpp_server.ws_url("CP-SLOW"), "CP-SLOW", slow_seconds=3):
        result = send_command(station=station("CP-SLOW"), action="TriggerMessage",
                              payload={"requestedMessage": "Heartbeat"}, timeout=1)
    assert result.status == Status.TIMEOUT


def test_one_call_in_flight_others_queue_in_order_then_busy(ocpp_server, booted_station,
                                                              settings):
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    def send_and_close(**kwargs):
        try:
            return send_command(**kwargs)
        finally:
            connection.close()  # each worker thread opened its own connection

    booted_station("CP-BUSY")
    payload = {"requestedMessage": "Heartbeat"}
    with ThreadedCharger(ocpp_server.ws_url("CP-BUSY"), "CP-BUSY", slow_seconds=0.5):
        with ThreadPoolExecutor(14) as pool:  # the server queues at most 10 per station
            futures = [pool.submit(send_and_close, station=station("CP-BUSY"),
                                   action="TriggerMessage", payload=payload, timeout=15)
                       for _ in range(14)]
            results = [f.result() for f in futures]
    statuses = sorted(r.status for r in results)
    assert statuses.count(Status.ACCEPTED) == 11 and statuses.count(Status.BUSY) == 3
    # never two CALLs in flight on the socket: on the wire, every CALL we sent was
    # answered before the next one went out
    time.sleep(0.6)  # the message log is written in batches
    wire = list(OcppMessage.objects.filter(station__identity="CP-BUSY", message_type__in=[2, 3])
                .exclude(action="BootNotification").exclude(direction="out", message_type=3)
                .order_by("id").values_list("message_type", flat=True))
    assert wire == [2, 3] * 11


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
    booted_station("CP-MGMT")
    env_cmd = [sys.executable, "manage.py", "ocpp_command"]
    with ThreadedCharger(ocpp_server.ws_url("CP-MGMT"), "CP-MGMT"):
        ok = subprocess.run([*env_cmd, "CP-MGMT", "UnlockConnector", "--json",  # noqa: S603
                             '{"connectorId": 1}'], cwd=ROOT, capture_output=True, text=True,
                            env=ocpp_server.env, timeout=60)
    offline = subprocess.run([*env_cmd, "CP-MGMT", "Reset", "--json",  # noqa: S603
                              '{"type": "Soft"}'], cwd=ROOT, capture_output=True, text=True,
                             env=ocpp_server.env, timeout=60)
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
                [sys.executable, "manage.py", "shell", "-c",
                 "from ocpp_bridge.commands import send_command;"
                 "from stations.models import Station;"
                 "r = send_command(station=Station.objects.get(identity='CP-TWO'),"
                 " action='Reset', payload={'type': 'Soft'}, requested_by='process B');"
                 "print(r.status)"],
                cwd=ROOT, capture_output=True, text=True, env=server_b.env, timeout=60)
        assert out.stdout.strip().splitlines()[-1] == "accepted", out.stderr
        assert charger.received == [("Reset", {"type": "Soft"})]
    finally:
        server_b.stop()
