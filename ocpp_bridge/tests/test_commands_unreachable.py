"""A command that cannot reach the process holding the charger's socket says exactly that
(status `unreachable`), at once, instead of waiting and calling the station offline."""

import asyncio
import json
import subprocess
import sys

import pytest
from django.utils import timezone

from evpower.channel_layer import ProcessLocalChannelLayer, reachable_from_this_process
from evpower.tests.support.processes import ROOT, ServerProcess
from ocpp_bridge import commands
from ocpp_bridge.commands import send_command
from ocpp_bridge.models import CommandRecord
from ocpp_bridge.tests.command_charger import ThreadedCharger
from stations.models import Station

Status = CommandRecord.Status
OTHER_PROCESS_CHANNEL = "specific.inmemory-0123456789ab!QwErTyUiOpAs"


def connected(station, channel):
    Station.objects.filter(pk=station.pk).update(
        connected=True, connection_channel=channel, last_seen_at=timezone.now()
    )
    station.refresh_from_db()
    return station


def test_in_memory_channel_names_say_which_process_made_them():
    mine = asyncio.run(ProcessLocalChannelLayer().new_channel())
    assert reachable_from_this_process(mine)
    assert not reachable_from_this_process(OTHER_PROCESS_CHANNEL)
    assert reachable_from_this_process("specific.a1b2!c3d4")  # Redis: reachable anywhere


@pytest.mark.django_db
def test_a_socket_of_another_in_memory_process_is_unreachable_not_offline(booted_station):
    station = connected(booted_station("CP-ELSEWHERE"), OTHER_PROCESS_CHANNEL)

    result = send_command(station=station, action="Reset", payload={"type": "Soft"})

    assert result.status == Status.UNREACHABLE
    assert "REDIS_URL" in result.error_description
    assert CommandRecord.objects.get(pk=result.command_id).status == "unreachable"


@pytest.mark.django_db
def test_a_channel_layer_that_is_down_makes_the_command_unreachable(booted_station, settings):
    station = connected(booted_station("CP-NOLAYER"), "specific.abc!def")
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": "redis://127.0.0.1:9/0"}]},
        }
    }  # nothing listens
    commands._sender.reset()
    try:
        result = send_command(station=station, action="Reset", payload={"type": "Soft"})
    finally:
        commands._sender.reset()

    assert result.status == Status.UNREACHABLE
    assert "channel layer is unavailable" in result.error_description


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_ocpp_command_from_a_second_shell_without_redis_says_it_cannot_reach_the_server(
    booted_station,
):
    """The demo without Redis: the server holds the charger's socket in its in-memory layer;
    `manage.py ocpp_command` in another shell cannot reach it and says so (exit 6).
    Slow (5-10 s): a server of its own and a manage.py process, both started here."""
    booted_station("CP-SHELL")
    no_redis = {"REDIS_URL": ""}
    server = ServerProcess(no_redis)
    try:
        with ThreadedCharger(server.ws_url("CP-SHELL"), "CP-SHELL") as charger:
            shell = subprocess.run(  # noqa: S603 - our own manage.py
                [
                    sys.executable,
                    "manage.py",
                    "ocpp_command",
                    "CP-SHELL",
                    "GetConfiguration",
                    "--json",
                    "{}",
                ],
                cwd=ROOT,
                capture_output=True,
                text=True,
                env={**server.env, **no_redis},
                timeout=60,
            )
    finally:
        server.stop()

    assert shell.returncode == 6, shell.stderr
    answer = json.loads(shell.stdout)
    assert answer["status"] == "unreachable" and "REDIS_URL" in answer["error_description"]
    assert charger.received == []
