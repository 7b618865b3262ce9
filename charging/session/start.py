"""A driver's start (docs/product.md §4).

Start is two short transactions around the charger's answer, so no lock is
held while the charger thinks:
1. `session_open` checks the client, station, connector and funds, freezes the tariff,
   creates the PENDING session and holds its funds;
2. RemoteStartTransaction goes out through the command service;
3. `session_apply_start_answer` fails the session and releases the hold unless the
   charger accepted — or already sent its StartTransaction (chargers often start before
   they answer the remote start).
Stop (`stop.py`) has the same shape. The bill itself is made when the charger reports the
stop (`settle.py`), or by the sweeps when it never does (`sweeps.py`).
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Client
from charging import errors
from charging.session.charger import ask_charger
from charging.session.limits import Limit, hold_amount
from charging.session.models import ChargingSession
from charging.session.settle import session_end_unbilled, session_lock
from charging.transaction_models import OcppTransaction
from payments.errors import InsufficientBalance
from payments.money import money
from payments.wallet import wallet_hold, wallet_lock
from stations.charger_port import CommandResult, CommandStatus
from stations.map_cache import location_changed_for_station
from stations.models import Connector, IdTag, Station
from stations.pricing import NoTariff, quote_for_client
from stations.selectors import station_is_online

log = logging.getLogger("charging")
Status = ChargingSession.Status
Reason = ChargingSession.StopReason

# OCPP connector statuses a driver may start on: free, or plugged in and waiting (1.6's
# Preparing; 2.0.1 says Occupied both for a car plugged in and for one charging, so an
# Occupied connector is startable only while no transaction runs on it)
STARTABLE = ("Available", "Preparing", "Occupied")
BUSY = ("Charging", "SuspendedEV", "SuspendedEVSE", "Finishing", "Reserved")


# -- id tags -----------------------------------------------------------------------------


def client_app_id_tag(client: Client) -> str:
    """The id tag that stands for `client` in RemoteStartTransaction (issued on first use)."""
    tag = IdTag.objects.filter(client=client, kind=IdTag.Kind.APP).order_by("id").first()
    if tag is None:
        tag = IdTag.objects.create(
            id_tag="APP" + secrets.token_hex(8).upper()[:17],
            client=client,
            kind=IdTag.Kind.APP,
            note=f"app tag of client {client.pk}",
        )
    return tag.id_tag


# -- start -------------------------------------------------------------------------------


def session_start(
    *, client: Client, station_id: int, connector_number: int, limit: Limit, requested_by: str = ""
) -> ChargingSession:
    """Open, ask the charger, apply its answer. Raises a ChargingError when the session
    could not start (it is then FAILED with its hold released, or was never created)."""
    session = session_open(
        client=client, station_id=station_id, connector_number=connector_number, limit=limit
    )
    result = ask_charger(
        session,
        "RemoteStartTransaction",
        {"connectorId": session.connector_number, "idTag": session.id_tag},
        requested_by or f"client:{client.pk}",
    )
    session = session_apply_start_answer(session_id=session.pk, result=result)
    if session.status == Status.FAILED:
        raise _start_error(session, result)
    return session


def _start_error(session: ChargingSession, result: CommandResult) -> errors.ChargingError:
    details = {"session": session.pk, "command": result.command_id}
    if session.stop_reason == Reason.STATION_OFFLINE:
        return errors.StationOffline(details)
    if session.stop_reason == Reason.START_TIMEOUT:
        return errors.StationTimeout(details)
    if session.stop_reason == Reason.STATION_UNREACHABLE:
        return errors.StationUnreachable(details)
    return errors.StartRejected(
        {**details, "charger_status": result.status, "response": result.response or {}}
    )


@transaction.atomic
def session_open(
    *,
    client: Client,
    station_id: int,
    connector_number: int,
    limit: Limit,
    now: datetime | None = None,
) -> ChargingSession:
    now = now or timezone.now()
    wallet = wallet_lock(client_id=client.pk)  # first: serialises this client's starts
    _check_client(Client.objects.only("status").get(pk=client.pk))
    station = Station.objects.select_related("location").filter(pk=station_id).first()
    if station is None:
        raise errors.StationNotFound({"station": station_id})
    connector = Connector.objects.filter(station=station, number=connector_number).first()
    if connector is None:
        raise errors.StationNotFound({"station": station_id, "connector": connector_number})
    _check_station(station, connector, now)
    _check_sessions(client, connector)
    try:
        quote = quote_for_client(connector=connector, at=now, client=client)
    except NoTariff:
        raise errors.TariffNotAvailable(
            {"station": station_id, "connector": connector_number}
        ) from None
    if quote.currency != wallet.currency:  # a som tariff cannot be paid from a sum wallet
        raise errors.TariffNotAvailable(
            {
                "station": station_id,
                "connector": connector_number,
                "tariff_currency": quote.currency,
                "wallet_currency": wallet.currency,
            }
        )
    hold = hold_amount(
        limit, quote, available=wallet.available, no_limit_cap=money(settings.CHARGING_NO_LIMIT_CAP)
    )
    minimum = money(settings.CHARGING_MIN_HOLD)
    if limit.by_amount and limit.amount < minimum:
        raise errors.LimitTooLow({"minimum": str(minimum), "currency": wallet.currency})
    if limit.type == ChargingSession.LimitType.NONE and hold < minimum:
        # "no limit" holds what the balance allows: too little of it to start
        raise InsufficientBalance(
            required=minimum, available=wallet.available, currency=wallet.currency
        )
    if hold > wallet.available:
        raise InsufficientBalance(
            required=hold, available=wallet.available, currency=wallet.currency
        )
    try:
        with transaction.atomic():
            session = ChargingSession.objects.create(
                client=client,
                station=station,
                connector=connector,
                connector_number=connector_number,
                origin=ChargingSession.Origin.APP,
                id_tag=client_app_id_tag(client),
                limit_type=limit.type,
                limit_energy_wh=limit.energy_wh if limit.by_energy else None,
                limit_amount=limit.amount if limit.by_amount else None,
                tariff=quote.as_snapshot(),
                currency=quote.currency,
                hold_amount=hold,
            )
    except IntegrityError:  # another start on this connector won the race
        raise errors.ConnectorOccupied({"connector": connector_number}) from None
    session.hold = wallet_hold(
        client=client, amount=hold, ref=("session", session.pk), key=f"session:{session.pk}:hold"
    )
    session.save(update_fields=["hold", "updated_at"])
    # the map shows the connector occupied from now on (stations' selectors_map)
    location_changed_for_station(station.pk, station.location_id)
    return session


def _check_client(client: Client) -> None:
    if client.status == Client.Status.PENDING_DELETION:
        raise errors.AccountPendingDeletion()
    if client.status != Client.Status.ACTIVE:
        raise errors.ClientBlocked()


def _check_station(station: Station, connector: Connector, now: datetime) -> None:
    if (
        station.admin_status != Station.AdminStatus.ACTIVE
        or station.registration_status != Station.Registration.ACCEPTED
    ):
        raise errors.StationUnavailable(
            {"station": station.pk, "admin_status": station.admin_status}
        )
    if not station_is_online(station, now):
        raise errors.StationOffline({"station": station.pk})
    if connector.status in BUSY:
        raise errors.ConnectorOccupied({"connector": connector.number, "status": connector.status})
    if (
        connector.status == "Occupied"
        and OcppTransaction.objects.filter(
            station=station, connector_number=connector.number, status=OcppTransaction.Status.ACTIVE
        ).exists()
    ):
        raise errors.ConnectorOccupied({"connector": connector.number, "status": connector.status})
    if connector.status not in STARTABLE:
        raise errors.ConnectorUnavailable(
            {"connector": connector.number, "status": connector.status}
        )


def _check_sessions(client: Client, connector: Connector) -> None:
    active = ChargingSession.objects.filter(status__in=ChargingSession.ACTIVE_STATUSES)
    if active.filter(connector=connector).exists():
        raise errors.ConnectorOccupied({"connector": connector.number})
    mine = list(active.filter(client=client).values_list("pk", flat=True)[:10])
    if len(mine) >= settings.CHARGING_MAX_ACTIVE_SESSIONS:
        raise errors.SessionAlreadyActive({"sessions": mine})


START_FAILURES = {
    CommandStatus.OFFLINE: Reason.STATION_OFFLINE,
    CommandStatus.TIMEOUT: Reason.START_TIMEOUT,
    CommandStatus.UNREACHABLE: Reason.STATION_UNREACHABLE,
}


@transaction.atomic
def session_apply_start_answer(*, session_id: int, result: CommandResult) -> ChargingSession:
    session = session_lock(session_id)
    session.start_command_id = result.command_id or None  # 0: never sent
    if result.ok or session.status != Status.PENDING:
        # accepted: the charger's StartTransaction links it; or that already happened
        # (a start can arrive before the answer), or the driver cancelled meanwhile
        session.save(update_fields=["start_command_id", "updated_at"])
        return session
    reason = START_FAILURES.get(result.status, Reason.START_REJECTED)
    detail = result.error_description or f"charger answered {result.response or result.status}"
    session_end_unbilled(session, status=Status.FAILED, reason=reason, detail=detail)
    return session
