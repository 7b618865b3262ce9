"""The dashboard's figures as the page shows them: each number with the changelist that
lists exactly the rows it counts (same filter, same window), and the charts' data.

A figure appears only to a staff member who may open the list it links to (the list's
own `has_view_permission`), so the page and the sidebar never disagree; a site owner
sees no network-wide figure at all (the ledger, parked messages, reconciliation and
backups are not theirs to count). Each figure is computed only when it will be shown.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from urllib.parse import urlencode

from django.contrib import admin
from django.contrib.admin.exceptions import NotRegistered
from django.db.models import Model
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.admin_scoping import OWNER_PATHS, is_owner_scoped
from charging.parked_models import ParkedMessage
from charging.review_models import BillingReview
from charging.session.models import ChargingSession
from cockpit.dashboard import selectors
from cockpit.dashboard.selectors import WEEK, Windows
from maintenance.models import Backup
from payments.models import LedgerTransaction
from payments.money import DEFAULT_CURRENCY, ZERO
from payments.payment_models import ReconciliationIssue
from stations.models import Station

Status = ChargingSession.Status
KWH = Decimal("0.001")
CHART_COLOUR = "var(--color-primary-600)"  # the theme's app.js resolves var(...) itself


@dataclass(frozen=True)
class Metric:
    name: str  # data-metric="<name>": stable, for browser tests
    label: str
    value: object
    href: str
    note: str = ""
    variant: str = ""  # "danger" / "warning" / "success": the theme's label colours


@dataclass
class Section:
    title: str
    metrics: list[Metric] = field(default_factory=list)
    charts: list[dict] = field(default_factory=list)  # {"title", "type", "data"}
    by_window: bool = False  # figures come in threes (today, 7 days, 30 days): a row each


def may_open(request, model: type[Model]) -> bool:
    if is_owner_scoped(request.user) and model._meta.label_lower not in OWNER_PATHS:
        return False
    try:
        model_admin = admin.site.get_model_admin(model)
    except NotRegistered:
        return False
    return model_admin.has_view_permission(request)


def changelist(model: type[Model], **params) -> str:
    opts = model._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    return f"{url}?{urlencode(params)}" if params else url


def utc(moment: datetime) -> str:
    """A query-string timestamp the admin's field lookups parse (ISO 8601, UTC)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def shown(moment: datetime) -> str:
    return formats.date_format(timezone.localtime(moment), "DATETIME_FORMAT")


def kwh(wh: int) -> Decimal:
    return (Decimal(wh) / 1000).quantize(KWH)


def window_starts(w: Windows) -> tuple[tuple[str, str, datetime, str], ...]:
    """(data-metric suffix, label, start, the `Totals` field) of each window."""
    return (
        ("today", _("today"), w.today, "today"),
        ("7d", _("7 days"), w.week, "week"),
        ("30d", _("30 days"), w.month, "month"),
    )


def chart(title: str, kind: str, days: list[date], datasets: list[dict]) -> dict:
    labels = [formats.date_format(day, "M j") for day in days]
    return {
        "title": title,
        "type": kind,
        "data": json.dumps({"labels": labels, "datasets": datasets}),
    }


def dataset(label: str, values: list, colour: str, suffix: str) -> dict:
    # numbers as strings: Chart.js reads them with +value, and no Decimal turns into a float
    return {
        "label": label,
        "data": [str(v) for v in values],
        "backgroundColor": colour,
        "borderColor": colour,
        "displayYAxis": True,
        "suffixYAxis": suffix,
        "maxTicksXLimit": 10,
    }


def charts_7_and_30(title: str, days: list[date], datasets: list[dict]) -> list[dict]:
    week = [{**d, "data": d["data"][-WEEK:]} for d in datasets]
    return [
        chart(_("%(title)s, last 7 days") % {"title": title}, "bar", days[-WEEK:], week),
        chart(_("%(title)s, last 30 days") % {"title": title}, "line", days, datasets),
    ]


# --- sections ----------------------------------------------------------------------------


def network_now(request, w: Windows) -> Section | None:
    section = Section(_("The network now"))
    if may_open(request, Station):
        s = selectors.station_figures(request.user, w.now)
        section.metrics += [
            Metric(
                "stations-online",
                _("Stations online"),
                s.online,
                changelist(Station, online="yes"),
                _("of %(total)d") % {"total": s.total},
                "success",
            ),
            Metric(
                "stations-offline",
                _("Stations offline"),
                s.offline,
                changelist(Station, online="no"),
                _("no open connection, or silent too long"),
                "danger" if s.offline else "",
            ),
            Metric(
                "stations-faulted",
                _("Stations faulted"),
                s.faulted,
                changelist(Station, faulted="yes"),
                _("the station or a connector reports Faulted"),
                "danger" if s.faulted else "",
            ),
        ]
    if may_open(request, ChargingSession):
        c = selectors.session_figures(request.user, w)
        section.metrics.append(
            Metric(
                "sessions-active",
                _("Sessions active"),
                c.active,
                changelist(ChargingSession, status__in=",".join(ChargingSession.ACTIVE_STATUSES)),
                _("%(charging)d charging; the rest starting or stopping")
                % {"charging": c.charging},
            )
        )
        section.metrics += [
            Metric(
                f"failed-starts-{key}",
                _("Failed starts, %(window)s") % {"window": label},
                count,
                changelist(
                    ChargingSession,
                    status__exact=Status.FAILED,
                    created_at__gte=utc(start),
                    created_at__lt=utc(w.end),
                ),
                _("refused, unanswered or offline"),
                "warning" if count else "",
            )
            for (key, label, start, _total), count in zip(
                window_starts(w)[:2], (c.failed_today, c.failed_week), strict=True
            )
        ]
    return section if section.metrics else None


def energy(request, w: Windows) -> Section | None:
    if not may_open(request, ChargingSession):
        return None
    e = selectors.energy_by_day(request.user, w)
    wh, sessions = e.wh_totals, e.session_totals
    section = Section(_("Energy delivered (completed sessions, kWh)"), by_window=True)
    for key, label, start, total in window_starts(w):
        count = getattr(sessions, total)
        section.metrics.append(
            Metric(
                f"energy-{key}",
                _("Energy, %(window)s") % {"window": label},
                kwh(getattr(wh, total)),
                changelist(
                    ChargingSession,
                    status__exact=Status.COMPLETED,
                    ended_at__gte=utc(start),
                    ended_at__lt=utc(w.end),
                ),
                ngettext("%(count)d completed session", "%(count)d completed sessions", count)
                % {"count": count},
            )
        )
    section.charts = charts_7_and_30(
        _("Energy per day"),
        e.days,
        [dataset(_("kWh"), [kwh(v) for v in e.wh], CHART_COLOUR, _("kWh"))],
    )
    return section


def revenue(request, w: Windows) -> Section | None:
    if not may_open(request, LedgerTransaction):
        return None
    r = selectors.revenue_by_day(w)
    per_currency = r.per_currency or {DEFAULT_CURRENCY: [ZERO] * len(r.days)}
    section = Section(_("Revenue from sessions (charged less refunded)"), by_window=True)
    for code, amounts in per_currency.items():
        sums = selectors.totals(amounts)
        for key, label, start, total in window_starts(w):
            section.metrics.append(
                Metric(
                    f"revenue-{key}-{code.lower()}",
                    _("Revenue, %(window)s, %(currency)s") % {"window": label, "currency": code},
                    getattr(sums, total),
                    changelist(
                        LedgerTransaction,
                        ref_type=selectors.SESSION_REF,
                        kind__in=",".join(selectors.REVENUE_KINDS),
                        currency__exact=code,
                        created_at__gte=utc(start),
                        created_at__lt=utc(w.end),
                    ),
                    _("captures and charges less refunds"),
                )
            )
    for code, amounts in per_currency.items():  # a chart per currency: one unit per axis
        section.charts += charts_7_and_30(
            _("Revenue per day, %(currency)s") % {"currency": code},
            r.days,
            [dataset(code, amounts, CHART_COLOUR, code)],
        )
    return section


def attention(request, w: Windows) -> Section | None:
    section = Section(_("Needs attention"))
    show_parked = may_open(request, ParkedMessage)
    show_review = may_open(request, BillingReview)
    if show_parked or show_review:
        p = selectors.parked_figures()
        if show_parked:
            section.metrics.append(
                Metric(
                    "parked-messages",
                    _("Parked charger messages"),
                    p.unresolved,
                    changelist(ParkedMessage, resolved="no"),
                    _("answered, not applied: an operator decides"),
                    "warning" if p.unresolved else "",
                )
            )
        if show_review:
            section.metrics.append(
                Metric(
                    "billing-review",
                    _("Unbilled transactions to review"),
                    p.billing_review,
                    changelist(BillingReview, resolved="no"),
                    _("charged energy nobody was billed for, or a late stop"),
                    "warning" if p.billing_review else "",
                )
            )
    if may_open(request, ReconciliationIssue):
        count = selectors.open_reconciliation_issues()
        section.metrics.append(
            Metric(
                "reconciliation-open",
                _("Reconciliation discrepancies"),
                count,
                changelist(ReconciliationIssue, resolved="no"),
                _("provider statements that disagree with our payments"),
                "danger" if count else "",
            )
        )
    if may_open(request, Backup):
        section.metrics.append(backup_metric(selectors.backup_figures(w.now)))
    return section if section.metrics else None


def backup_metric(b: selectors.BackupFigures) -> Metric:
    if b.latest is None:
        return Metric(
            "backup-status",
            _("Backup"),
            _("none yet"),
            changelist(Backup),
            _("no backup has run"),
            "danger",
        )
    latest = b.latest
    when = latest.finished_at or latest.created_at
    if b.last_ok_at is None:
        note = _("no successful backup yet")
    else:
        note = _("last successful: %(when)s") % {"when": shown(b.last_ok_at)}
    if b.stale:
        note = _("%(note)s (older than a day)") % {"note": note}
    variant = "danger" if b.stale or latest.status == Backup.Status.FAILED else "success"
    status = {
        Backup.Status.OK: _("OK"),
        Backup.Status.FAILED: _("failed"),
        Backup.Status.RUNNING: _("running"),
    }.get(latest.status, latest.status)
    return Metric(
        "backup-status",
        _("Latest backup: %(when)s") % {"when": shown(when)},
        status,
        reverse("admin:maintenance_backup_change", args=[latest.pk]),
        note,
        variant,
    )


@dataclass(frozen=True)
class TopRow:
    identity: str
    location: str
    station_href: str  # the station's page, or "" when the user may not open it
    kwh: Decimal
    sessions: int
    sessions_href: str


def top_stations(request, w: Windows) -> list[TopRow] | None:
    if not may_open(request, ChargingSession):
        return None
    link_stations = may_open(request, Station)
    return [
        TopRow(
            identity=t.identity,
            location=t.location,
            station_href=reverse("admin:stations_station_change", args=[t.station_id])
            if link_stations
            else "",
            kwh=kwh(t.wh),
            sessions=t.sessions,
            sessions_href=changelist(
                ChargingSession,
                station__id__exact=t.station_id,
                status__exact=Status.COMPLETED,
                ended_at__gte=utc(w.month),
                ended_at__lt=utc(w.end),
            ),
        )
        for t in selectors.top_stations(request.user, w)
    ]


def dashboard(request) -> dict:
    w = selectors.windows()
    sections = [
        s
        for s in (
            network_now(request, w),
            energy(request, w),
            revenue(request, w),
            attention(request, w),
        )
        if s is not None
    ]
    return {"sections": sections, "top_stations": top_stations(request, w)}
