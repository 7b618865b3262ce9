"""Reads of charging sessions. Every driver-facing read is scoped to the client."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from charging.session.models import ChargingSession
from payments.money import ZERO

Status = ChargingSession.Status
ENDED = (Status.COMPLETED, Status.FAILED, Status.CANCELLED)


def _mine(client) -> QuerySet[ChargingSession]:
    return ChargingSession.objects.filter(client=client).select_related(
        "station", "station__location"
    )


def session_of(*, client, session_id: int) -> ChargingSession | None:
    """The client's own session (None for anyone else's: no way to probe other ids)."""
    return _mine(client).filter(pk=session_id).first()


def sessions_active(*, client) -> QuerySet[ChargingSession]:
    return _mine(client).filter(status__in=ChargingSession.ACTIVE_STATUSES).order_by("-id")


def sessions_history(*, client) -> QuerySet[ChargingSession]:
    return _mine(client).filter(status__in=ENDED).order_by("-id")


def sessions_stats(*, client, since: datetime | None = None) -> dict:
    """Totals of the client's billed sessions (all time, and since `since`)."""
    since = since or timezone.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    billed = ChargingSession.objects.filter(client=client, status=Status.COMPLETED)

    def totals(extra: Q) -> dict:
        row = billed.filter(extra).aggregate(
            sessions=Count("id"), energy_wh=Sum("energy_wh"), spent=Sum("final_cost")
        )
        return {
            "sessions": row["sessions"],
            "energy_wh": row["energy_wh"] or 0,
            "spent": row["spent"] or ZERO,
        }

    return {
        "all_time": totals(Q()),
        "this_month": totals(Q(ended_at__gte=since)),
        "month_started_at": since,
    }
