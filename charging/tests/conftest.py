"""Fixtures shared by the charging session tests: a faked command service, a priced and
online station, funded drivers."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Client
from ocpp_bridge.models import CommandRecord
from payments.tests.conftest import new_client
from payments.wallet import wallet_credit_topup
from stations.charger_port import CommandResult
from stations.models import Connector, Station
from stations.tariff_models import TariffPlan, TariffRule

D = Decimal
_refs = itertools.count(1)


class FakeCharger:
    """Stands in for `send_command`: records each call and answers with the next queued
    status (accepted when none is queued). `on_call` runs before the answer: the charger
    acting meanwhile (a StartTransaction before it answers RemoteStart, say)."""

    def __init__(self):
        self.calls: list[tuple[str, dict]] = []
        self.answers: list[str] = []
        self.on_call = None

    def __call__(self, *, station, action, payload=None, timeout=None, requested_by=""):
        self.calls.append((action, dict(payload or {})))
        if self.on_call is not None:
            self.on_call(action, payload)
        status = self.answers.pop(0) if self.answers else CommandRecord.Status.ACCEPTED
        response = (
            {"status": {"accepted": "Accepted", "rejected": "Rejected"}[status]}
            if status in ("accepted", "rejected")
            else None
        )
        return CommandResult(
            command_id=5000 + len(self.calls),
            status=status,
            response=response,
            error_description="" if response else f"charger {status}",
        )

    def actions(self) -> list[str]:
        return [action for action, _ in self.calls]


@pytest.fixture
def charger(monkeypatch):
    fake = FakeCharger()
    monkeypatch.setattr("charging.session.charger.send_command", fake)
    return fake


@pytest.fixture
def rule(db):
    """12 som/kWh, 0.50 som/min, 5 som a session (the default plan)."""
    plan = TariffPlan.objects.create(name="City", is_default=True)
    return TariffRule.objects.create(
        plan=plan, price_per_kwh=D("12.00"), price_per_minute=D("0.50"), session_fee=D("5.00")
    )


def online(station: Station) -> Station:
    Station.objects.filter(pk=station.pk).update(connected=True, last_seen_at=timezone.now())
    Connector.objects.filter(station=station).update(status="Available")
    station.refresh_from_db()
    return station


@pytest.fixture
def station(make_station, rule):
    return online(make_station("CP-1", connectors=2))


def fund(client: Client, amount: str) -> None:
    n = next(_refs)
    wallet_credit_topup(client=client, amount=D(amount), payment_ref=f"t{n}", key=f"test:topup:{n}")


def funded_client(amount: str = "1000.00") -> Client:
    client = new_client()
    if D(amount):
        fund(client, amount)
    return client


@pytest.fixture
def driver(db):
    return funded_client("1000.00")
