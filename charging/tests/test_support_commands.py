"""Support commands for sessions: `session_stop` (through the charger, or --close from the
last reading) and `session_refund`, run with `call_command` as an operator would.

The charger's answers come from the fake command service (`charger` fixture); everything
else — sessions, wallet, ledger — is real."""

from __future__ import annotations

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model

from charging.session.limits import Limit
from charging.session.models import ChargingSession
from evpower.tests.support.commands import Terminal, command_fails, run_command
from ocpp_bridge.models import CommandRecord
from payments.models import LedgerTransaction, Wallet
from payments.tests.support import assert_ledger_consistent

from .support import base_time, charging_session, fresh, meter, money_state, open_session

pytestmark = pytest.mark.django_db

D = Decimal
Status = ChargingSession.Status


run = run_command  # (stdout, stderr)
fails = command_fails


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_user("aida", password="pw-0123456789", is_staff=True)


def billed_session(driver, station) -> ChargingSession:
    """A session charged 10 kWh and closed from its last reading (billed)."""
    t0 = base_time()
    session, tx = charging_session(driver, station, at=t0, limit=Limit("none"))
    meter(station, tx, wh=11_000, at=t0 + timedelta(minutes=30))
    run("session_stop", session.pk, close=True, yes=True)
    session = fresh(session)
    assert session.status == Status.COMPLETED and session.final_cost > 0
    return session


# -- session_stop ----------------------------------------------------------------------------


def test_a_stop_without_yes_from_a_non_terminal_is_refused_and_sends_nothing(
    station, driver, charger
):
    session, _ = charging_session(driver, station, at=base_time())
    error = fails("session_stop", session.pk, stdin=io.StringIO("yes\n"))  # a pipe, not a tty
    assert error.returncode == 4 and "ABORTED" in str(error) and "--yes" in str(error)
    assert charger.calls == [] and fresh(session).status == Status.CHARGING
    assert fresh(session).stop_requested_at is None


def test_the_prompt_goes_on_only_on_yes(station, driver, charger):
    session, tx = charging_session(driver, station, at=base_time())
    for answer in ("no\n", "", "yess\n", "\n"):
        error = fails("session_stop", session.pk, stdin=Terminal(answer))
        assert error.returncode == 4 and "nothing was changed" in str(error)
    assert charger.calls == []
    out, _ = run("session_stop", session.pk, stdin=Terminal("Yes\n"))
    assert "Stop session" in out and charger.actions() == ["RemoteStopTransaction"]


def test_a_dry_run_shows_the_stop_it_would_send_and_changes_nothing(station, driver, charger):
    session, tx = charging_session(driver, station, at=base_time())
    records, state = CommandRecord.objects.count(), money_state()
    out, _ = run("session_stop", session.pk, dry_run=True)
    assert f"would: send RemoteStopTransaction {{transactionId: {tx}}} to CP-1" in out
    assert "dry run: nothing was changed" in out
    assert charger.calls == [] and CommandRecord.objects.count() == records
    assert money_state() == state and fresh(session).status == Status.CHARGING


def test_a_stop_sends_one_remote_stop_and_records_who_asked(station, driver, charger):
    session, tx = charging_session(driver, station, at=base_time())
    out, _ = run("session_stop", session.pk, yes=True, reason="cable stuck")
    assert charger.calls == [("RemoteStopTransaction", {"transactionId": tx})]
    session = fresh(session)
    assert (session.status, session.stop_reason) == (Status.FINISHING, "operator")
    assert session.stop_requested_by.startswith("support:")
    assert session.stop_requested_by.endswith("(cable stuck)")
    assert "the charger accepted the stop" in out
    # asked again: already stopping, nothing is sent and no prompt is needed
    out, _ = run("session_stop", session.pk)
    assert "nothing to do" in out and len(charger.calls) == 1


def test_a_pending_session_is_cancelled_and_its_hold_released(station, driver, charger):
    session = open_session(driver, station, Limit("amount", amount=D("100")))
    out, _ = run("session_stop", session.pk, yes=True)
    assert "cancelled before the charger started" in out and charger.calls == []
    assert fresh(session).status == Status.CANCELLED
    assert Wallet.objects.get(client=driver).held == 0
    assert_ledger_consistent()


@pytest.mark.parametrize(
    ("answer", "code", "exit_code"),
    [
        ("rejected", "STOP_FAILED", 1),
        ("offline", "STATION_OFFLINE", 5),
        ("timeout", "STOP_FAILED", 1),
    ],
)
def test_a_stop_the_charger_does_not_take_exits_non_zero_with_the_code(
    station, driver, charger, answer, code, exit_code
):
    session, _ = charging_session(driver, station, at=base_time())
    charger.answers = [answer]
    error = fails("session_stop", session.pk, yes=True)
    assert (error.returncode, error.code) == (exit_code, code)
    assert f"charger_status={answer}" in str(error)
    assert fresh(session).status == Status.CHARGING


def test_close_bills_once_from_the_last_reading_without_the_charger(station, driver, charger):
    t0 = base_time()
    session, tx = charging_session(driver, station, at=t0)
    meter(station, tx, wh=6_000, at=t0 + timedelta(minutes=20))
    state = money_state()
    out, _ = run("session_stop", session.pk, close=True, dry_run=True)
    assert "would: bill 5000 Wh from the last reading (6000 Wh at" in out
    assert money_state() == state and fresh(session).status == Status.CHARGING
    assert fails("session_stop", session.pk, close=True).returncode == 4
    assert money_state() == state

    out, _ = run("session_stop", session.pk, close=True, yes=True, reason="charger offline")
    session = fresh(session)
    assert (session.status, session.meter_stop_wh, session.energy_wh) == (
        Status.COMPLETED,
        6_000,
        5_000,
    )
    assert f"billed {session.final_cost} KGS for 5000 Wh" in out and "NOT told" in out
    assert charger.calls == [] and session.stop_requested_by.startswith("support:")
    bills = LedgerTransaction.objects.filter(
        ref_type="session", ref_id=str(session.pk), kind="capture"
    )
    assert bills.count() == 1
    # closing again: nothing more is billed
    out, _ = run("session_stop", session.pk, close=True, yes=True)
    assert "nothing to do" in out and bills.count() == 1
    assert_ledger_consistent()


def test_an_unknown_session_exits_3(db):
    error = fails("session_stop", 999_999, yes=True)
    assert (error.returncode, error.code) == (3, "NOT_FOUND")
    assert "no session 999999" in str(error)


# -- session_refund --------------------------------------------------------------------------


def test_a_refund_needs_confirmation_and_a_dry_run_changes_nothing(station, driver, charger, staff):
    session = billed_session(driver, station)
    state = money_state()
    out, _ = run(
        "session_refund", session.pk, "5", reason="stopped early", staff="aida", dry_run=True
    )
    assert f"refundable {session.final_cost}" in out and "would refund 5.00 KGS" in out
    error = fails("session_refund", session.pk, "5", reason="stopped early", staff="aida")
    assert error.returncode == 4
    assert money_state() == state


def test_a_refund_credits_once_with_its_author_and_reason(station, driver, charger, staff):
    session = billed_session(driver, station)
    before = Wallet.objects.get(client=driver).balance
    out, _ = run(
        "session_refund", session.pk, "5.00", reason="stopped early", staff="aida", yes=True
    )
    refund = LedgerTransaction.objects.get(kind="refund")
    assert (refund.amount, refund.ref_type, refund.ref_id) == (
        D("5.00"),
        "session",
        str(session.pk),
    )
    assert (refund.author, refund.reason) == (staff, "stopped early")
    assert refund.key.startswith(f"support:session:{session.pk}:refund:")
    assert Wallet.objects.get(client=driver).balance == before + D("5.00")
    assert f"refunded 5.00 KGS; balance now {before + D('5.00')}" in out
    assert_ledger_consistent()


def test_a_refund_above_what_is_left_is_refused_with_its_code(station, driver, charger, staff):
    session = billed_session(driver, station)
    state = money_state()
    too_much = session.final_cost + D("0.01")
    out, _ = run(
        "session_refund", session.pk, str(too_much), reason="x", staff="aida", dry_run=True
    )
    assert "it would be refused: REFUND_EXCEEDS_CHARGE" in out
    error = fails("session_refund", session.pk, str(too_much), reason="x", staff="aida", yes=True)
    assert (error.returncode, error.code) == (1, "REFUND_EXCEEDS_CHARGE")
    assert f"refundable={session.final_cost}" in str(error)
    assert money_state() == state


def test_a_refund_needs_an_active_staff_user_and_a_known_session(station, driver, charger, staff):
    session = billed_session(driver, station)
    get_user_model().objects.create_user("bob", password="pw-0123456789")  # not staff
    state = money_state()
    assert (
        fails("session_refund", session.pk, "5", reason="x", staff="nobody", yes=True).returncode
        == 3
    )
    assert (
        fails("session_refund", session.pk, "5", reason="x", staff="bob", yes=True).code
        == "NOT_STAFF"
    )
    assert fails("session_refund", 999_999, "5", reason="x", staff="aida", yes=True).returncode == 3
    error = fails("session_refund", session.pk, "1.005", reason="x", staff="aida", yes=True)
    assert "not an amount in whole cents" in str(error)
    assert money_state() == state
