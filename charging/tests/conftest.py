"""Fixtures of the charging session tests: a faked command service, a priced and online
station, funded drivers (the helpers behind them: support.py)."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from .support import FakeCharger, funded_client

D = Decimal
_refs = itertools.count(1)


@pytest.fixture
def charger(monkeypatch):
    fake = FakeCharger()
    monkeypatch.setattr("charging.session.charger.send_command", fake)
    return fake


@pytest.fixture
def driver(db):
    return funded_client("1000.00")
