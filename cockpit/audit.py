"""The audit log of staff actions: which models django-auditlog watches, and how.

Every save of a registered model records its before/after values, the staff member (the
request's user, set by `AuditlogMiddleware`), the address and the correlation id. Only
what people configure is registered: append-only money tables (the ledger is its own
audit) and hot-path tables (meter samples, the message log, transactions, sessions) are
not, and fields the chargers keep current are left out, so the log holds decisions, not
heartbeats. Entries are read in the admin (Audit log → Log entries), read-only, by
superusers and anyone given `auditlog.view_logentry`.
"""

from __future__ import annotations

from auditlog.middleware import AuditlogMiddleware as _LibraryAuditlogMiddleware
from auditlog.registry import auditlog
from auditlog.signals import post_log
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from accounts.models import Client
from stations.models import Connector, IdTag, Location, Station
from stations.tariff_models import ClientTariff, PromoCode, TariffAssignment, TariffPlan, TariffRule

# what a charger's connection, BootNotification and status messages change
STATION_CHARGER_FIELDS = [
    "connected",
    "connection_channel",
    "connected_at",
    "disconnected_at",
    "last_heartbeat_at",
    "last_seen_at",
    "last_boot_at",
    "boot_reason",
    "ocpp_version",  # the version it spoke last (the operator's pin is audited)
    "updated_at",
    "configuration",
    "vendor",
    "model",
    "charge_point_serial",
    "charge_box_serial",
    "firmware_version",
    "iccid",
    "imsi",
    "meter_type",
    "meter_serial",
    "status",
    "error_code",
    "status_info",
    "status_vendor_id",
    "status_vendor_error_code",
    "status_at",
    "firmware_status",
    "firmware_request_id",
    "firmware_status_at",
    "diagnostics_status",
    "diagnostics_status_at",
    "log_status",
    "log_request_id",
    "log_status_at",
    "pending_csr",
    "csr_received_at",
]
CLIENT_PERSONAL_FIELDS = ["phone", "name", "email"]
MASK = "cockpit.audit.mask_personal"


def mask_personal(value: str) -> str:
    """A personal value as the log keeps it: that it changed, never what it was (the
    log outlives a client's anonymisation)."""
    return "[masked]" if value and value != "None" else value


def register_audited_models() -> None:

    def watch(model, **options) -> None:
        if not auditlog.contains(model):  # ready() may run twice (tests, reloads)
            auditlog.register(model, **options)

    watch(Location)
    watch(Station, exclude_fields=STATION_CHARGER_FIELDS)
    watch(Connector, include_fields=["station", "number", "connector_type", "max_power_kw"])
    watch(IdTag)
    for model in (TariffPlan, TariffRule, TariffAssignment, ClientTariff, PromoCode):
        watch(model)
    watch(
        Client,
        exclude_fields=["created_at"],
        mask_fields=CLIENT_PERSONAL_FIELDS,
        mask_callable=MASK,
    )
    watch(
        get_user_model(),
        exclude_fields=["password", "last_login"],
        m2m_fields={"groups", "user_permissions"},
    )
    watch(Group, m2m_fields={"permissions"})
    # beat bumps last_run_at and the run count on every run; the schedule is what matters
    watch(PeriodicTask, exclude_fields=["last_run_at", "total_run_count", "date_changed"])
    watch(CrontabSchedule)
    watch(IntervalSchedule)
    post_log.connect(
        _client_entry_without_personal_data, sender=Client, dispatch_uid="cockpit.audit.client_repr"
    )


def _client_entry_without_personal_data(sender, instance, log_entry=None, **kwargs) -> None:
    # the entry's label is str(client), i.e. the phone and name: name it by id instead
    if log_entry is not None:
        type(log_entry).objects.filter(pk=log_entry.pk).update(object_repr=f"client {instance.pk}")


class AuditlogMiddleware(_LibraryAuditlogMiddleware):
    """The library's, but the address recorded is the socket's (uvicorn --proxy-headers
    sets it from trusted proxies), not a raw X-Forwarded-For anyone can forge."""

    @staticmethod
    def _get_remote_addr(request):
        return request.META.get("REMOTE_ADDR")

    @staticmethod
    def _get_remote_port(request):
        return None
