"""`station_reset` and `station_unlock`: commands to a charger from the command line.

End to end where the charger answers: a real server process holds a real WebSocket
charger's socket and the command travels through the channel layer (Redis), as from any
other process. Refusals, offline stations and bad arguments need no socket."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from evpower.tests.support.commands import Terminal, command_fails, run_command
from ocpp_bridge.models import CommandRecord
from ocpp_bridge.tests.command_charger import ThreadedCharger
from stations.charger_port import CommandResult

Status = CommandRecord.Status


def run(*args, **options) -> str:
    return run_command(*args, **options)[0]


fails = command_fails


# -- end to end --------------------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_reset_and_unlock_reach_the_charger_and_print_its_answer(ocpp_server, booted_station):
    booted_station("CP-SUPPORT")
    with ThreadedCharger(ocpp_server.ws_url("CP-SUPPORT"), "CP-SUPPORT") as charger:
        dry = run("station_reset", "CP-SUPPORT", "--hard", "--dry-run")
        reset = run("station_reset", "CP-SUPPORT", "--hard", stdin=Terminal("y\n"))
        unlock = run("station_unlock", "CP-SUPPORT", "2", "--yes")
    assert "station CP-SUPPORT: online, 0 active session(s)" in dry
    assert "would send: Reset {'type': 'Hard'}" in dry
    assert charger.received == [("Reset", {"type": "Hard"})]  # once: the dry run sent nothing
    assert "charger answer: accepted {'status': 'Accepted'}" in reset
    assert "CP-SUPPORT: Hard reset accepted" in reset
    assert "charger answer: accepted {'status': 'Unlocked'}" in unlock
    records = list(
        CommandRecord.objects.order_by("id").values_list(
            "action", "payload", "status", "requested_by"
        )
    )
    assert [r[:3] for r in records] == [
        ("Reset", {"type": "Hard"}, Status.ACCEPTED),
        ("UnlockConnector", {"connectorId": 2}, Status.ACCEPTED),
    ]
    assert all(r[3].startswith("support:") for r in records)


# -- without a socket --------------------------------------------------------------------


@pytest.mark.django_db
def test_unconfirmed_and_dry_runs_send_nothing(make_station):
    make_station("CP-S1")
    assert fails("station_reset", "CP-S1").returncode == 4
    assert fails("station_unlock", "CP-S1", "1", stdin=Terminal("no\n")).returncode == 4
    out = run("station_unlock", "CP-S1", "1", "--dry-run")
    assert "station CP-S1: OFFLINE; connector 1: Unknown" in out
    assert (
        "would send: UnlockConnector {'connectorId': 1} (it would fail: the station is "
        "offline)" in out
    )
    assert not CommandRecord.objects.exists()


@pytest.mark.django_db
def test_an_offline_station_exits_5_and_the_attempt_is_recorded(make_station):
    make_station("CP-S2")
    error = fails("station_reset", "CP-S2", "--yes")
    assert (error.returncode, error.code) == (5, "OFFLINE")
    record = CommandRecord.objects.get()
    assert (record.action, record.status) == ("Reset", Status.OFFLINE)


@pytest.mark.django_db
def test_a_refusal_exits_1_with_the_chargers_answer(make_station, monkeypatch):
    make_station("CP-S3")
    sent = []

    def refusing(**kwargs):
        sent.append(kwargs)
        return CommandResult(
            command_id=7,
            status=Status.REJECTED,
            response={"status": "UnlockFailed"},
            duration_ms=12,
        )

    monkeypatch.setattr("stations.management.station_command.send_command", refusing)
    out = io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("station_unlock", "CP-S3", "1", "--yes", stdout=out, stdin=io.StringIO())
    assert (caught.value.returncode, caught.value.code) == (1, "REJECTED")
    assert (
        "charger answer: rejected {'status': 'UnlockFailed'} in 12 ms [command 7]" in out.getvalue()
    )
    assert len(sent) == 1 and sent[0]["payload"] == {"connectorId": 1}


@pytest.mark.django_db
def test_unknown_stations_and_connectors_exit_3(make_station):
    make_station("CP-S4", connectors=2)
    assert fails("station_reset", "CP-NOPE", "--yes").returncode == 3
    error = fails("station_unlock", "CP-S4", "3", "--yes")
    assert (error.returncode, error.code) == (3, "NOT_FOUND")
    assert "no connector 3 on CP-S4" in str(error)
    assert not CommandRecord.objects.exists()
