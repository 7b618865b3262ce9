"""python manage.py session_stop <session_id> [--close] [--reason TEXT] [--yes] [--dry-run]"""

from __future__ import annotations

import logging

from charging.session.models import ChargingSession
from charging.session.stop import session_stop
from charging.session.sweeps import session_close_unreported
from charging.transaction_models import OcppTransaction
from evpower.management_support import SupportCommand, not_found, support_actor

log = logging.getLogger("charging")
Status = ChargingSession.Status
Reason = ChargingSession.StopReason


class Command(SupportCommand):
    help = """Stop a charging session as an operator.

Without --close: a session charging is stopped through the charger (RemoteStopTransaction;
it is billed when the charger reports the stop); one not started yet is cancelled and its
hold released; one already stopping or ended is left as it is.
With --close: the session is billed from its last meter reading WITHOUT the charger (for a
charger that is offline or never reports the stop). The charger is not told: stop it there
too if it is still charging."""
    examples = (
        "1234 --dry-run",
        "1234 --reason 'driver called: cable stuck'",
        "1234 --close --reason 'charger offline since noon' --yes",
    )
    supports_dry_run = True

    def add_arguments(self, parser):
        parser.add_argument("session_id", type=int, help="the charging session's id")
        parser.add_argument(
            "--close", action="store_true", help="bill from the last reading without the charger"
        )
        parser.add_argument(
            "--reason",
            default="",
            help="a note kept with who stopped it (stop_requested_by) and in the log",
        )

    def handle(self, *args, session_id: int, close: bool, reason: str, **options):
        session = (
            ChargingSession.objects.select_related("client", "station")
            .filter(pk=session_id)
            .first()
        )
        if session is None:
            raise not_found(f"session {session_id}")
        requested_by = support_actor() + (f" ({reason.strip()})" if reason.strip() else "")
        self.say(describe(session))
        plan = close_plan(session) if close else stop_plan(session)
        self.say(("would: " if self.dry_run else "plan: ") + plan)
        if self.dry_run:
            self.dry_run_note()
            return
        if plan.startswith("nothing"):
            self.say("nothing to do")
            return
        self.confirm(f"{'Close' if close else 'Stop'} session {session.pk}?")
        log.info("session %s: %s by %s", session.pk, "close" if close else "stop", requested_by)
        if close:
            self._close(session, requested_by)
        else:
            self._stop(session, requested_by)

    def _stop(self, session: ChargingSession, requested_by: str) -> None:
        before = session.status
        after = session_stop(
            session_id=session.pk, requested_by=requested_by, reason=Reason.OPERATOR
        )
        if before == Status.CHARGING and after.status == Status.FINISHING:
            self.done(
                f"session {after.pk}: the charger accepted the stop; the bill follows "
                "its StopTransaction (or the clockwork)"
            )
        elif after.status == Status.CANCELLED and before == Status.PENDING:
            self.done(
                f"session {after.pk}: cancelled before the charger started; the hold is released"
            )
        else:
            self.say(f"session {after.pk}: {after.status}; nothing sent")

    def _close(self, session: ChargingSession, requested_by: str) -> None:
        before = session.status
        ended = session_close_unreported(
            session_id=session.pk, reason=Reason.OPERATOR, requested_by=requested_by
        )
        session.refresh_from_db()
        if not ended:
            self.say(f"session {session.pk}: already ended ({session.status}); nothing done")
        elif session.status == Status.COMPLETED:
            self.done(
                f"session {session.pk}: billed {session.final_cost} {session.currency} "
                f"for {session.energy_wh} Wh from the last reading"
                + (
                    "; the charger was NOT told — stop it there if it still charges"
                    if before == Status.CHARGING
                    else ""
                )
            )
        else:
            self.done(
                f"session {session.pk}: {session.status} (it had not started); the hold is released"
            )


def describe(session: ChargingSession) -> str:
    started = (
        f"{session.charging_started_at:%Y-%m-%d %H:%M} UTC"
        if session.charging_started_at
        else "not started"
    )
    return (
        f"session {session.pk}: {session.status}, client {session.client_id} "
        f"({session.client.phone}), {session.station.identity}#{session.connector_number}, "
        f"charging since {started}, {session.energy_wh} Wh, cost so far {session.cost} "
        f"{session.currency}, hold {session.hold_amount}"
    )


def stop_plan(session: ChargingSession) -> str:
    if session.status == Status.PENDING:
        return "cancel it (the charger has not started), release the hold"
    if session.status == Status.CHARGING:
        return (
            f"send RemoteStopTransaction {{transactionId: {session.transaction_id}}} to "
            f"{session.station.identity}"
        )
    if session.status == Status.FINISHING:
        return "nothing: a stop was already accepted, waiting for the charger's report"
    return f"nothing: it already ended ({session.status})"


def close_plan(session: ChargingSession) -> str:
    if not session.is_active:
        return f"nothing: it already ended ({session.status})"
    tx = (
        OcppTransaction.objects.filter(pk=session.transaction_id).first()
        if session.transaction_id
        else None
    )
    if tx is None:
        return "cancel it (the charger never started it), release the hold"
    end_wh = tx.last_meter_wh or tx.meter_start
    at = tx.last_meter_at or tx.started_at
    return (
        f"bill {end_wh - tx.meter_start} Wh from the last reading ({end_wh} Wh at "
        f"{at:%Y-%m-%d %H:%M:%S} UTC) without the charger; the charger is not told"
    )
