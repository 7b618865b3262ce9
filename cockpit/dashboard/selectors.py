"""The dashboard's figures, read from the database: each function is ONE query (an aggregate
or a grouped query), whatever the size of the network, so the page costs the same with ten
stations or ten thousand.

Days are UTC calendar days (the charts group with TruncDate in UTC): "today" starts at
00:00 UTC, "7 days" is today and the 6 days before it, "30 days" today and the 29 before.
Every window ends at the start of tomorrow (UTC), so a charger clock running ahead cannot
put a session into a window the charts do not draw.

Scoped models (stations, sessions) go through `scope_queryset`: a site owner counts only
their own locations. The ledger, parked messages, reconciliation issues and backups are
network-wide; whether a staff member sees them at all is decided by the caller.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.db.models import Count, Q, Subquery, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts.admin_scoping import scope_queryset
from charging.parked_models import ParkedMessage
from charging.review_models import REVIEW_REASONS
from charging.session.models import ChargingSession
from maintenance.models import Backup
from payments.models import LedgerTransaction
from payments.money import ZERO, money
from payments.payment_models import ReconciliationIssue
from stations.models import Station
from stations.selectors import faulted_q, online_q

DAYS = 30
WEEK = 7
TOP_STATIONS = 5
BACKUP_MAX_AGE = timedelta(days=1)  # the backup job runs daily
SESSION_REF = "session"  # ledger ref_type of everything a session charged or refunded
EARNED_KINDS = (LedgerTransaction.Kind.CAPTURE, LedgerTransaction.Kind.CHARGE)
REVENUE_KINDS = (*EARNED_KINDS, LedgerTransaction.Kind.REFUND)
Status = ChargingSession.Status


@dataclass(frozen=True)
class Windows:
    """The UTC day boundaries every figure is counted in."""

    now: datetime
    today: datetime  # 00:00 UTC today
    week: datetime  # 00:00 UTC six days ago
    month: datetime  # 00:00 UTC 29 days ago
    end: datetime  # 00:00 UTC tomorrow: every window ends here

    @property
    def days(self) -> list[date]:
        first = self.month.date()
        return [first + timedelta(days=n) for n in range(DAYS)]


def windows(now: datetime | None = None) -> Windows:
    now = now or timezone.now()
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return Windows(
        now=now,
        today=today,
        week=today - timedelta(days=WEEK - 1),
        month=today - timedelta(days=DAYS - 1),
        end=today + timedelta(days=1),
    )


@dataclass(frozen=True)
class Totals:
    """A per-day series summed over today, the last 7 and the last 30 days."""

    today: Decimal | int
    week: Decimal | int
    month: Decimal | int


def totals(per_day: list) -> Totals:
    return Totals(today=per_day[-1], week=sum(per_day[-WEEK:]), month=sum(per_day))


# --- stations ----------------------------------------------------------------------------


@dataclass(frozen=True)
class StationFigures:
    total: int
    online: int  # stations.selectors.online_q: socket open and heard from recently
    offline: int  # every other station, whatever its admin status
    faulted: int  # faulted_q


def station_figures(user, now: datetime) -> StationFigures:
    counts = scope_queryset(Station.objects.all(), user).aggregate(
        total=Count("pk"),
        online=Count("pk", filter=online_q(now)),
        faulted=Count("pk", filter=faulted_q()),
    )
    return StationFigures(
        total=counts["total"],
        online=counts["online"],
        offline=counts["total"] - counts["online"],
        faulted=counts["faulted"],
    )


# --- sessions ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionFigures:
    active: int  # pending, charging or finishing: ChargingSession.ACTIVE_STATUSES
    charging: int  # of which the charger is delivering
    failed_today: int  # failed starts (status "failed": refused, no answer, offline...)
    failed_week: int


def session_figures(user, w: Windows) -> SessionFigures:
    failed = Q(status=Status.FAILED, created_at__gte=w.week, created_at__lt=w.end)
    counts = (
        scope_queryset(ChargingSession.objects.all(), user)
        .filter(Q(status__in=ChargingSession.ACTIVE_STATUSES) | failed)
        .aggregate(
            active=Count("pk", filter=Q(status__in=ChargingSession.ACTIVE_STATUSES)),
            charging=Count("pk", filter=Q(status=Status.CHARGING)),
            failed_week=Count("pk", filter=failed),
            failed_today=Count("pk", filter=failed & Q(created_at__gte=w.today)),
        )
    )
    return SessionFigures(**counts)


def completed_sessions(user, w: Windows):
    """Sessions billed as charged (status completed) that ended in the last 30 days: the
    source of the energy figures and of the top stations."""
    return scope_queryset(ChargingSession.objects.all(), user).filter(
        status=Status.COMPLETED, ended_at__gte=w.month, ended_at__lt=w.end
    )


@dataclass(frozen=True)
class EnergyFigures:
    days: list[date]
    wh: list[int]  # energy of completed sessions, by the UTC day they ended
    sessions: list[int]  # how many completed sessions ended that day

    @property
    def wh_totals(self) -> Totals:
        return totals(self.wh)

    @property
    def session_totals(self) -> Totals:
        return totals(self.sessions)


def energy_by_day(user, w: Windows) -> EnergyFigures:
    rows = (
        completed_sessions(user, w)
        .annotate(day=TruncDate("ended_at", tzinfo=UTC))
        .values("day")
        .annotate(wh=Sum("energy_wh"), sessions=Count("pk"))
        .order_by()
    )
    found = {row["day"]: row for row in rows}
    days = w.days
    return EnergyFigures(
        days=days,
        wh=[found[d]["wh"] if d in found else 0 for d in days],
        sessions=[found[d]["sessions"] if d in found else 0 for d in days],
    )


@dataclass(frozen=True)
class TopStation:
    station_id: int
    identity: str
    location: str
    wh: int
    sessions: int


def top_stations(user, w: Windows, limit: int = TOP_STATIONS) -> list[TopStation]:
    """The stations that delivered the most energy in completed sessions over 30 days."""
    rows = (
        completed_sessions(user, w)
        .values("station_id", "station__identity", "station__location__name")
        .annotate(wh=Sum("energy_wh"), sessions=Count("pk"))
        .order_by("-wh", "station__identity")[:limit]
    )
    return [
        TopStation(
            station_id=r["station_id"],
            identity=r["station__identity"],
            location=r["station__location__name"] or "",
            wh=r["wh"],
            sessions=r["sessions"],
        )
        for r in rows
    ]


# --- money -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RevenueFigures:
    """Net session revenue per currency, by the UTC day of the ledger transaction: what
    sessions were charged (captures from a hold, charges without one; the part a client
    still owes as debt included) less what was refunded for sessions. The ledger rather
    than the sessions' final cost: a refund lowers it, as it lowers the money earned."""

    days: list[date]
    per_currency: dict[str, list[Decimal]]

    def totals(self) -> dict[str, Totals]:
        return {code: totals(amounts) for code, amounts in self.per_currency.items()}


def revenue_by_day(w: Windows) -> RevenueFigures:
    rows = (
        LedgerTransaction.objects.filter(
            ref_type=SESSION_REF,
            kind__in=REVENUE_KINDS,
            created_at__gte=w.month,
            created_at__lt=w.end,
        )
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values("day", "currency")
        .annotate(
            earned=Sum("amount", filter=Q(kind__in=EARNED_KINDS), default=ZERO),
            refunded=Sum("amount", filter=Q(kind=LedgerTransaction.Kind.REFUND), default=ZERO),
        )
        .order_by()
    )
    found: dict[str, dict[date, Decimal]] = defaultdict(dict)
    for row in rows:
        found[row["currency"]][row["day"]] = money(row["earned"] - row["refunded"])
    days = w.days
    return RevenueFigures(
        days=days,
        per_currency={
            code: [by_day.get(d, ZERO) for d in days] for code, by_day in sorted(found.items())
        },
    )


def open_reconciliation_issues() -> int:
    """Differences between a provider's statement and our payments nobody resolved yet."""
    return ReconciliationIssue.objects.filter(resolved_at__isnull=True).count()


# --- needs an operator -------------------------------------------------------------------


@dataclass(frozen=True)
class ParkedFigures:
    unresolved: int  # every parked charger message nobody resolved
    billing_review: int  # of which about money: the billing review queue


def parked_figures() -> ParkedFigures:
    counts = ParkedMessage.objects.filter(resolved_at__isnull=True).aggregate(
        unresolved=Count("pk"), billing_review=Count("pk", filter=Q(reason__in=REVIEW_REASONS))
    )
    return ParkedFigures(**counts)


@dataclass(frozen=True)
class BackupFigures:
    latest: Backup | None  # the newest run, whatever its outcome
    last_ok_at: datetime | None  # when the newest successful backup finished
    stale: bool  # no successful backup finished in the last day


def backup_figures(now: datetime) -> BackupFigures:
    last_ok = (
        Backup.objects.filter(status=Backup.Status.OK, finished_at__isnull=False)
        .order_by("-finished_at")
        .values("finished_at")[:1]
    )
    latest = (
        Backup.objects.annotate(last_ok_at=Subquery(last_ok)).order_by("-created_at", "-id").first()
    )
    last_ok_at = latest.last_ok_at if latest is not None else None
    return BackupFigures(
        latest=latest,
        last_ok_at=last_ok_at,
        stale=last_ok_at is None or last_ok_at < now - BACKUP_MAX_AGE,
    )
