"""The admin's sidebar and header (django-unfold callbacks named in `settings.UNFOLD`).

The sidebar is grouped by job rather than by Django app. Each entry appears only for a
staff member who may view its list, so an owner sees the network pages and nothing of
money, and finance sees no command log. The extra pages (dashboard, map) are open to
every staff member; what they show is scoped by the same rules as the lists.
"""

from __future__ import annotations

from django.conf import settings
from django.templatetags.static import static
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _

# (title, icon, "app_label.model" or None for a page of ours, URL name)
SIDEBAR: list[tuple[str, list[tuple[str, str, str | None, str]]]] = [
    (
        _("Cockpit"),
        [
            (_("Dashboard"), "dashboard", None, "admin:index"),
            (_("Map of locations"), "map", None, "admin:cockpit_map"),
        ],
    ),
    (
        _("Network"),
        [
            (
                _("Locations"),
                "location_on",
                "stations.location",
                "admin:stations_location_changelist",
            ),
            (_("Stations"), "ev_station", "stations.station", "admin:stations_station_changelist"),
            (
                _("Tariff plans"),
                "sell",
                "stations.tariffplan",
                "admin:stations_tariffplan_changelist",
            ),
            (_("Id tags"), "badge", "stations.idtag", "admin:stations_idtag_changelist"),
            (
                _("Reservations"),
                "event",
                "stations.reservation",
                "admin:stations_reservation_changelist",
            ),
            (
                _("Charging profiles"),
                "speed",
                "stations.chargingprofile",
                "admin:stations_chargingprofile_changelist",
            ),
            # what OCPP 2.0.1 stations report about themselves
            (
                _("Station events"),
                "notifications_active",
                "stations.stationevent",
                "admin:stations_stationevent_changelist",
            ),
            (
                _("Device models"),
                "tune",
                "stations.devicevariable",
                "admin:stations_devicevariable_changelist",
            ),
            (
                _("Charger reports"),
                "summarize",
                "stations.chargerreport",
                "admin:stations_chargerreport_changelist",
            ),
        ],
    ),
    (
        _("Charging"),
        [
            (
                _("Charging sessions"),
                "bolt",
                "charging.chargingsession",
                "admin:charging_chargingsession_changelist",
            ),
            (
                _("OCPP transactions"),
                "receipt_long",
                "charging.ocpptransaction",
                "admin:charging_ocpptransaction_changelist",
            ),
            (
                _("Billing review queue"),
                "rule",
                "charging.billingreview",
                "admin:charging_billingreview_changelist",
            ),
            (
                _("Parked messages"),
                "inventory_2",
                "charging.parkedmessage",
                "admin:charging_parkedmessage_changelist",
            ),
            (
                _("Commands"),
                "terminal",
                "ocpp_bridge.commandrecord",
                "admin:ocpp_bridge_commandrecord_changelist",
            ),
            (
                _("OCPP messages"),
                "swap_horiz",
                "ocpp_bridge.ocppmessage",
                "admin:ocpp_bridge_ocppmessage_changelist",
            ),
        ],
    ),
    (
        _("Clients and money"),
        [
            (_("Clients"), "group", "accounts.client", "admin:accounts_client_changelist"),
            (_("Payments"), "payments", "payments.payment", "admin:payments_payment_changelist"),
            (
                _("Wallets"),
                "account_balance_wallet",
                "payments.wallet",
                "admin:payments_wallet_changelist",
            ),
            (
                _("Ledger"),
                "menu_book",
                "payments.ledgertransaction",
                "admin:payments_ledgertransaction_changelist",
            ),
            (
                _("Reconciliation issues"),
                "difference",
                "payments.reconciliationissue",
                "admin:payments_reconciliationissue_changelist",
            ),
            (_("Debts"), "money_off", "payments.debt", "admin:payments_debt_changelist"),
        ],
    ),
    (
        _("System"),
        [
            (_("Alert history"), "campaign", "evpower.alert", "admin:evpower_alert_changelist"),
            (
                _("Security events"),
                "shield",
                "evpower.securityevent",
                "admin:evpower_securityevent_changelist",
            ),
            (_("Backups"), "backup", "maintenance.backup", "admin:maintenance_backup_changelist"),
            (
                _("Scheduled jobs"),
                "schedule",
                "django_celery_beat.periodictask",
                "admin:django_celery_beat_periodictask_changelist",
            ),
            (_("Staff users"), "person", "auth.user", "admin:auth_user_changelist"),
            (_("Audit log"), "history", "auditlog.logentry", "admin:auditlog_logentry_changelist"),
        ],
    ),
]


def _may_view(user, model: str | None) -> bool:
    if model is None:
        return True
    app_label, name = model.split(".")
    return user.has_perm(f"{app_label}.view_{name}") or user.has_perm(f"{app_label}.change_{name}")


def sidebar_navigation(request) -> list[dict]:
    groups = []
    for title, entries in SIDEBAR:
        items = []
        for label, icon, model, url_name in entries:
            if not _may_view(request.user, model):
                continue
            try:
                link = reverse(url_name)
            except NoReverseMatch:
                continue  # a page that is not installed here
            items.append({"title": label, "icon": icon, "link": link})
        if items:
            groups.append({"title": title, "separator": True, "collapsible": False, "items": items})
    return groups


def environment_badge(request) -> list[str] | None:
    """The header's badge: which installation this is, so nobody refunds on staging
    thinking it is a test, or the other way round."""
    name = settings.EVPOWER_ENV
    if name == "production":
        return [str(_("Production")), "danger"]
    if name in ("staging", "test"):
        return [name.title(), "warning"]
    return [str(_("Development")), "info"]


def cockpit_stylesheet(request) -> str:
    return static("evpower/admin/cockpit.css")


def favicon_url(request) -> str:
    return static("evpower/admin/favicon.svg")
