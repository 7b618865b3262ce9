"""Physically impossible meter readings are never billed (charging/plausibility.py).

A faulty meter (a lifetime register sent as meterStop, a negative register, a jump no
charger could make) is billed up to the last plausible reading and parked for an operator,
who bills a corrected figure or waives it (charging/review.py). No path creates a debt
from an implausible reading without that decision."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from charging.parked_models import ParkedMessage
from charging.review import AlreadyResolved, SessionNotBilledYet, review_bill_energy
from charging.session.limits import Limit
from charging.session.models import ChargingSession
from charging.session.sweeps import session_close_unreported
from charging.tests.support import funded_client
from payments.models import Debt, Wallet
from stations.models import Connector, IdTag, Station
from stations.tests.factories import IdTagFactory

from .support import (
    assert_ledger_consistent,
    charging_session,
    fresh,
    meter,
    ocpp_start,
    ocpp_stop,
)

pytestmark = pytest.mark.django_db

D = Decimal
IMPLAUSIBLE = ParkedMessage.Reason.IMPLAUSIBLE_METER


@pytest.fixture
def ac_station(station):
    """7.4 kW connectors (the ceiling of a plausible move)."""
    Connector.objects.filter(station=station).update(max_power_kw=D("7.4"))
    return station


def start_time():
    return timezone.now().replace(microsecond=0) - timedelta(minutes=5)


def implausible_items():
    return list(ParkedMessage.objects.filter(reason=IMPLAUSIBLE).order_by("id"))


def test_a_lifetime_register_as_meter_stop_is_not_billed_and_is_parked(ac_station):
    driver = funded_client("500.00")
    at = start_time()
    session, tx = charging_session(
        driver, ac_station, at=at, meter_start=0, limit=Limit("amount", amount=D("50.00"))
    )
    ocpp_stop(ac_station, tx, meter_stop=5_000_000, at=at + timedelta(seconds=1))

    session = fresh(session)
    assert session.status == ChargingSession.Status.COMPLETED
    assert session.energy_wh == 0 and session.meter_stop_wh == 5_000_000
    # the session fee and one second of time, nothing for the energy
    assert session.final_cost == D("5.01")
    assert session.receipt["energy_under_review_wh"] == 5_000_000
    wallet = Wallet.objects.get(client=driver)
    assert (wallet.balance, wallet.debt) == (D("494.99"), 0) and not Debt.objects.exists()
    [item] = implausible_items()
    assert (item.transaction_id, item.action) == (tx, "StopTransaction")
    assert item.payload["meter_stop_wh"] == 5_000_000 and item.payload["billed_energy_wh"] == 0
    assert item.payload["stop"] == {"transactionId": tx, "meterStop": 5_000_000}
    assert "5000000 Wh in 1 s" in item.detail
    assert_ledger_consistent()


def test_a_negative_register_is_implausible(ac_station):
    driver = funded_client("500.00")
    at = start_time()
    session, tx = charging_session(driver, ac_station, at=at, meter_start=-1_000_000)
    ocpp_stop(ac_station, tx, meter_stop=0, at=at + timedelta(seconds=1))

    session = fresh(session)
    assert session.energy_wh == 0 and session.final_cost == D("5.01")
    assert Wallet.objects.get(client=driver).debt == 0
    [item] = implausible_items()
    assert "negative register -1000000 Wh" in item.detail


def test_a_charger_start_with_no_hold_creates_no_debt_from_an_implausible_stop(ac_station):
    driver = funded_client("200.00")
    IdTagFactory(id_tag="CARD-1", client=driver, kind=IdTag.Kind.RFID)
    at = start_time()
    tx = ocpp_start(ac_station, "CARD-1", at=at, meter_start=0).transaction_id
    ocpp_stop(ac_station, tx, meter_stop=5_000_000, at=at + timedelta(seconds=1))

    session = ChargingSession.objects.get(transaction_id=tx)
    assert session.origin == ChargingSession.Origin.ID_TAG and session.energy_wh == 0
    assert session.final_cost == D("5.01")
    assert Wallet.objects.get(client=driver).debt == 0 and not Debt.objects.exists()
    assert len(implausible_items()) == 1


def test_a_live_jump_moves_neither_the_register_nor_the_live_cost(ac_station):
    driver = funded_client("500.00")
    at = start_time() - timedelta(minutes=30)
    session, tx = charging_session(driver, ac_station, at=at, meter_start=1_000)
    meter(ac_station, tx, wh=3_000, at=at + timedelta(minutes=20))  # 6 kW: plausible
    cost_before = fresh(session).cost
    for minute in (21, 22):  # a meter that jumped keeps reporting from its new base
        meter(ac_station, tx, wh=5_000_000 + minute, at=at + timedelta(minutes=minute))

    session = fresh(session)
    assert session.energy_wh == 2_000 and session.cost == cost_before
    [item] = implausible_items()  # parked once, not once per report
    assert item.action == "MeterValues" and "billing stays at 3000 Wh" in item.detail

    ocpp_stop(ac_station, tx, meter_stop=5_000_023, at=at + timedelta(minutes=23))
    session = fresh(session)
    assert session.energy_wh == 2_000  # billed to the last plausible reading
    assert session.receipt["energy_under_review_wh"] == 5_000_023 - 1_000 - 2_000
    assert len(implausible_items()) == 2


def test_the_12_hour_cap_bills_the_last_plausible_reading(ac_station):
    driver = funded_client("500.00")
    at = start_time() - timedelta(hours=13)
    session, tx = charging_session(driver, ac_station, at=at, meter_start=0)
    meter(ac_station, tx, wh=10_000, at=at + timedelta(hours=2))
    meter(ac_station, tx, wh=9_000_000, at=at + timedelta(hours=3))

    assert session_close_unreported(session_id=session.pk, reason="max_duration")
    session = fresh(session)
    assert session.energy_wh == 10_000 and session.settled
    assert Wallet.objects.get(client=driver).debt == 0


def test_a_plausible_session_is_billed_in_full_and_nothing_is_parked(ac_station):
    driver = funded_client("500.00")
    at = start_time() - timedelta(hours=1)
    session, tx = charging_session(driver, ac_station, at=at, meter_start=1_000)
    meter(ac_station, tx, wh=4_000, at=at + timedelta(minutes=30))
    ocpp_stop(ac_station, tx, meter_stop=8_400, at=at + timedelta(hours=1))  # 7.4 kW for 1 h
    assert fresh(session).energy_wh == 7_400 and not implausible_items()


def test_without_a_rated_power_the_station_then_the_configured_ceiling_bounds(station, settings):
    settings.CHARGING_PLAUSIBLE_POWER_CEILING_KW = 22
    at = start_time() - timedelta(hours=1)
    # 22 kW × (3600 + 60 s) × 1.25 = 27.9 kWh is the most in an hour
    _, tx = charging_session(funded_client(), station, at=at, meter_start=0)
    ocpp_stop(station, tx, meter_stop=27_000, at=at + timedelta(hours=1))
    assert not implausible_items()
    Station.objects.filter(pk=station.pk).update(max_power_kw=D("3.7"))
    _, tx = charging_session(funded_client(), station, at=at, meter_start=0, connector=2)
    ocpp_stop(station, tx, meter_stop=27_000, at=at + timedelta(hours=1))
    assert [item.transaction_id for item in implausible_items()] == [tx]


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_user("operator", is_staff=True)


def test_an_operator_bills_a_corrected_figure_once(ac_station, staff):
    driver = funded_client("500.00")
    at = start_time()
    session, tx = charging_session(driver, ac_station, at=at, meter_start=0)
    ocpp_stop(ac_station, tx, meter_stop=5_000_000, at=at + timedelta(seconds=1))
    [item] = implausible_items()
    before = Wallet.objects.get(client=driver).balance

    session = review_bill_energy(message=item, energy_wh=5_000, staff=staff, note="meter log")
    assert session.energy_wh == 5_000 and session.final_cost == D("65.01")  # + 5 kWh × 12
    assert Wallet.objects.get(client=driver).balance == before - D("60.00")
    item.refresh_from_db()
    assert (
        item.resolved_by == staff
        and "billed 5000 Wh (was 0 Wh): +60.00" in item.resolution_note
        and "meter log" in item.resolution_note
    )
    with pytest.raises(AlreadyResolved):  # called twice: nothing moves again
        review_bill_energy(message=item, energy_wh=5_000, staff=staff)
    assert Wallet.objects.get(client=driver).balance == before - D("60.00")
    assert_ledger_consistent()


def test_a_correction_down_is_refunded(ac_station, staff):
    driver = funded_client("500.00")
    at = start_time() - timedelta(minutes=30)
    session, tx = charging_session(driver, ac_station, at=at, meter_start=0)
    meter(ac_station, tx, wh=2_000, at=at + timedelta(minutes=20))
    ocpp_stop(ac_station, tx, meter_stop=4_000_000, at=at + timedelta(minutes=21))
    [item] = implausible_items()
    billed = fresh(session).final_cost
    balance = Wallet.objects.get(client=driver).balance

    session = review_bill_energy(message=item, energy_wh=1_000, staff=staff)
    assert session.final_cost == billed - D("12.00")
    assert Wallet.objects.get(client=driver).balance == balance + D("12.00")
    assert_ledger_consistent()


def test_a_reading_parked_mid_charge_is_decided_once_the_session_is_billed(ac_station, staff):
    at = start_time()
    session, tx = charging_session(funded_client(), ac_station, at=at, meter_start=0)
    meter(ac_station, tx, wh=9_000_000, at=at + timedelta(seconds=30))
    [item] = implausible_items()
    with pytest.raises(SessionNotBilledYet):
        review_bill_energy(message=item, energy_wh=100, staff=staff)
    item.refresh_from_db()
    assert item.resolved_at is None
