"""Staff roles: Django groups and the permissions each job needs — the one place that
defines them. `roles_sync()` makes the groups match (a data migration ran it once;
`manage.py roles_sync` runs it again after new models or permissions).

- owner: a site owner. Sees its own locations, stations, connectors, sessions,
  transactions and tariffs (scoped in the admin by `accounts.admin_scoping`), edits its
  locations and its stations' ordinary fields; no clients, payments or ledger, no commands.
- operator: runs the network: locations, stations (including passwords and approval),
  connectors, tariffs, id tags, reservations, charging profiles and local lists, commands
  to chargers, sessions (view, stop, close), parked messages.
- support: helps drivers: clients (view, block/unblock), sessions (view, stop, refund),
  id tags; reads tariffs and wallets but changes neither, sends no commands.
- finance: money: payments (refund), wallets (adjust), ledger (view), reconciliation
  issues (resolve), session refunds and the billing review queue; reads stations but
  changes none and sends no commands.

Superusers stand above the roles; the audit log is theirs alone unless a group is given
`auditlog.view_logentry`.
"""

from __future__ import annotations

from django.apps import apps as global_apps
from django.db import transaction

OWNER, OPERATOR, SUPPORT, FINANCE = "owner", "operator", "support", "finance"


def _all(*models: str) -> set[str]:
    """add, change, delete and view of each "app_label.model"."""
    return {
        f"{model.split('.')[0]}.{verb}_{model.split('.')[1]}"
        for model in models
        for verb in ("add", "change", "delete", "view")
    }


def _view(*models: str) -> set[str]:
    return {f"{model.split('.')[0]}.view_{model.split('.')[1]}" for model in models}


TARIFF_MODELS = ("stations.tariffplan", "stations.tariffrule", "stations.tariffassignment")
MONEY_MODELS = (
    "payments.wallet",
    "payments.hold",
    "payments.ledgertransaction",
    "payments.ledgerposting",
    "payments.debt",
    "payments.payment",
    "payments.paymentevent",
    "payments.reconciliationissue",
)

ROLE_PERMISSIONS: dict[str, set[str]] = {
    OWNER: _view(
        "stations.location",
        "stations.station",
        "stations.connector",
        "stations.devicevariable",  # their stations' device models, events and reports
        "stations.stationevent",
        "stations.chargerreport",
        "charging.chargingsession",
        "charging.ocpptransaction",
        *TARIFF_MODELS,
    )
    | {"stations.change_location", "stations.change_station"},
    OPERATOR: _all(
        "stations.location",
        "stations.station",
        "stations.connector",
        "stations.idtag",
        "stations.reservation",
        "stations.chargingprofile",
        "stations.localliststate",
        "stations.promocode",
        *TARIFF_MODELS,
    )
    | _view(
        "stations.chargingprofileassignment",
        "stations.clienttariff",
        "stations.promoredemption",
        "charging.chargingsession",
        "charging.ocpptransaction",
        "charging.metersample",
        "stations.devicevariable",
        "stations.stationevent",
        "stations.chargerreport",
        "ocpp_bridge.ocppmessage",
        "evpower.securityevent",
        "evpower.alert",  # the alert history
        "ocpp_bridge.commandrecord",
        "charging.parkedmessage",
        "maintenance.backup",
        "django_celery_beat.periodictask",
        "django_celery_beat.crontabschedule",
        "django_celery_beat.intervalschedule",
    )
    | {
        "stations.manage_station_security",
        "ocpp_bridge.add_commandrecord",  # = send commands
        "charging.change_parkedmessage",  # = resolve parked messages
        "charging.stop_chargingsession",
        "charging.close_chargingsession",
    },
    SUPPORT: _all("stations.idtag")
    | _view(
        "accounts.client",
        "accounts.loginsession",
        "charging.chargingsession",
        "charging.ocpptransaction",
        "stations.location",
        "stations.station",
        "stations.connector",
        "stations.clienttariff",
        "stations.promocode",
        "stations.promoredemption",
        "stations.tariffplan",
        "stations.tariffrule",
        "payments.wallet",
        "payments.ledgertransaction",
        "payments.hold",
        "payments.debt",
        "payments.payment",
    )
    | {
        "accounts.change_client",  # = block / unblock
        "charging.stop_chargingsession",
        "charging.refund_chargingsession",
    },
    FINANCE: _view(
        *MONEY_MODELS,
        "accounts.client",
        "charging.chargingsession",
        "charging.ocpptransaction",
        "charging.billingreview",
        "stations.location",
        "stations.station",
        "stations.clienttariff",
        "stations.promocode",
        "stations.promoredemption",
        *TARIFF_MODELS,
    )
    | {
        "payments.adjust_wallet",
        "payments.refund_payment",
        "payments.change_reconciliationissue",
        "payments.resolve_reconciliationissue",
        "charging.refund_chargingsession",
        "charging.bill_unbilled_transaction",
    },
}


class UnknownPermission(LookupError):
    pass


@transaction.atomic
def roles_sync(*, apps=global_apps, skip_missing: bool = False) -> dict[str, int]:
    """Create the role groups and set each one's permissions to exactly its list
    (permissions added by hand to a role group are removed: this file is the truth).
    Returns the number of permissions per group. `apps`: a migration's registry.
    `skip_missing`: for an early migration, whose registry predates models named here."""
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    wanted = set().union(*ROLE_PERMISSIONS.values())
    found = {
        f"{app_label}.{codename}": pk
        for pk, app_label, codename in permission_model.objects.filter(
            codename__in={name.split(".")[1] for name in wanted}
        ).values_list("pk", "content_type__app_label", "codename")
    }
    missing = sorted(wanted - found.keys())
    if missing and skip_missing:
        wanted -= set(missing)
    elif missing:
        raise UnknownPermission(f"permissions not in the database (migrate first): {missing}")
    counts = {}
    for role, permissions in ROLE_PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=role)
        group.permissions.set([found[name] for name in permissions if name in wanted])
        counts[role] = len(permissions & wanted)
    return counts
