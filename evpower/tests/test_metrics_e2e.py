"""OCPP metrics counted by a real server process, read from ITS /metrics over HTTP (the
counters live in the process that holds the charger's socket)."""

from __future__ import annotations

import asyncio
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from evpower.tests.support.processes import ServerProcess
from ocpp_bridge.tests.charger import connect, rpc

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
TOKEN = "metrics-e2e-token-0123456789"  # noqa: S105 - test credential


@pytest.fixture(scope="module")
def metrics_server(django_db_setup, django_db_blocker):
    server = ServerProcess({"METRICS_TOKEN": TOKEN})
    yield server
    server.stop()


def scrape(server: ServerProcess) -> dict[tuple[str, frozenset], float]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.port}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - local server
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_charger_frames_are_counted_by_action_and_outcome_and_timed(metrics_server, booted_station):
    booted_station("CP-METRICS")
    before = scrape(metrics_server)

    async def charger_session():
        async with connect(metrics_server.ws_url("CP-METRICS"), "CP-METRICS") as ws:
            answers = [await rpc(ws, [2, f"h{i}", "Heartbeat", {}]) for i in range(3)]
            answers.append(await rpc(ws, [2, "x1", "NoSuchAction", {}]))
            answers.append(await rpc(ws, "not json"))
            while_connected = scrape(metrics_server)
            return answers, while_connected

    answers, while_connected = asyncio.run(charger_session())

    assert [answer[0] for answer in answers] == [3, 3, 3, 4, 4]
    after = scrape(metrics_server)
    counted = "evpower_ocpp_messages_total"
    for labels, more in [
        ({"action": "Heartbeat", "outcome": "accepted"}, 3),
        ({"action": "unknown", "outcome": "call_error"}, 1),
        ({"action": "invalid", "outcome": "call_error"}, 1),
    ]:
        assert value(after, counted, **labels) == value(before, counted, **labels) + more
    timed = "evpower_ocpp_handling_seconds_count"
    assert value(after, timed, action="Heartbeat") == value(before, timed, action="Heartbeat") + 3
    assert (
        value(while_connected, "evpower_chargers_connected")
        == value(before, "evpower_chargers_connected") + 1
    )


def test_refused_charger_handshakes_are_counted_by_reason(metrics_server, booted_station):
    from websockets.exceptions import InvalidStatus

    booted_station("CP-REFUSED")
    before = scrape(metrics_server)

    async def attempts():
        statuses = []
        for identity, password in (
            ("CP-REFUSED", "wrong-password-0000"),
            ("CP-REFUSED", "wrong-password-0001"),
            ("CP-NOBODY", "any-password-00000"),
        ):
            try:
                async with connect(metrics_server.ws_url(identity), identity, password):
                    statuses.append(101)
            except InvalidStatus as exc:
                statuses.append(exc.response.status_code)
        return statuses

    assert asyncio.run(attempts()) == [401, 401, 404]
    after = scrape(metrics_server)
    counted = "evpower_ocpp_handshake_refusals_total"
    for reason, more in (("wrong_credentials", 2), ("unknown_station", 1)):
        assert value(after, counted, reason=reason) == value(before, counted, reason=reason) + more
