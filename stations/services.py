"""Writes about stations: onboarding, credentials, and what chargers report."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.notifications.service import notify_charger_status
from stations.station_models import Connector, Location, Station

from . import credentials
from .map_cache import location_changed_for_station


@dataclass(frozen=True)
class StationCreated:
    station: Station
    password: str | None  # shown once when generated; never stored in clear


@transaction.atomic
def station_create(
    *,
    identity: str,
    location_name: str,
    connectors: int = 1,
    password: str | None = None,
    generate_password: bool = False,
    security_profile: int = Station.SecurityProfile.BASIC,
    allow_missing_subprotocol: bool = False,
) -> StationCreated:
    if generate_password:
        password = credentials.generate_password()
    station = Station(
        identity=identity,
        security_profile=security_profile,
        allow_missing_subprotocol=allow_missing_subprotocol,
        password_hash=credentials.hash_password(password) if password else "",
    )
    station.location, _ = Location.objects.get_or_create(name=location_name)
    station.full_clean(exclude=["location"])
    station.save()
    Connector.objects.bulk_create(
        Connector(station=station, number=n) for n in range(1, connectors + 1)
    )
    return StationCreated(station=station, password=password if generate_password else None)


@transaction.atomic
def station_set_password(*, station: Station, password: str | None = None) -> str:
    """Set (or generate) the station's password; returns it so it can be shown once."""
    password = password or credentials.generate_password()
    station.password_hash = credentials.hash_password(password)
    station.save(update_fields=["password_hash", "updated_at"])
    return password


@transaction.atomic
def station_auto_register(*, identity: str, password: str = "", password_hash: str = "") -> Station:
    """An unknown charger while auto-registration is on: created Pending, with the
    password it presented (trust on first use); it can do nothing until approved. The
    handshake passes the hash it computed off the database threads (`password_hash`)."""
    station, _ = Station.objects.get_or_create(
        identity=identity,
        defaults={
            "registration_status": Station.Registration.PENDING,
            "password_hash": password_hash or credentials.hash_password(password),
        },
    )
    return station


@transaction.atomic
def station_approve(*, station: Station) -> None:
    station.registration_status = Station.Registration.ACCEPTED
    station.save(update_fields=["registration_status", "updated_at"])


@transaction.atomic
def station_connected(
    *, station_id: int, channel: str, now: datetime, ocpp_version: str = "1.6"
) -> str:
    """Record the socket now holding the station and the OCPP version it speaks on it;
    return the channel it replaced ('' if none)."""
    station = (
        Station.objects.select_for_update()
        .only("connection_channel", "connected", "location_id")
        .get(pk=station_id)
    )
    previous = station.connection_channel if station.connected else ""
    Station.objects.filter(pk=station_id).update(
        connected=True,
        connection_channel=channel,
        connected_at=now,
        last_seen_at=now,
        ocpp_version=ocpp_version,
    )
    location_changed_for_station(station_id, station.location_id)
    return previous


def station_disconnected(*, station_id: int, channel: str, now: datetime) -> bool:
    """Only the socket that still holds the station may mark it disconnected: a replaced
    connection closing late must not take the new one offline."""
    changed = bool(
        Station.objects.filter(pk=station_id, connection_channel=channel).update(
            connected=False, connection_channel="", disconnected_at=now
        )
    )
    if changed:
        location_changed_for_station(station_id)
    return changed


def station_seen(*, station_id: int, now: datetime) -> None:
    Station.objects.filter(pk=station_id).update(last_seen_at=now)


def station_record_heartbeat(*, station_id: int, now: datetime) -> None:
    Station.objects.filter(pk=station_id).update(last_heartbeat_at=now, last_seen_at=now)


def station_record_heartbeats(station_ids: Sequence[int]) -> list[None]:
    """Many heartbeats in one statement (they all mean "alive now")."""
    now = timezone.now()
    Station.objects.filter(pk__in=set(station_ids)).update(last_heartbeat_at=now, last_seen_at=now)
    return [None] * len(station_ids)


@transaction.atomic
def station_record_boot(
    *,
    station_id: int,
    now: datetime,
    vendor: str,
    model: str,
    charge_point_serial: str = "",
    charge_box_serial: str = "",
    firmware_version: str = "",
    iccid: str = "",
    imsi: str = "",
    meter_type: str = "",
    meter_serial: str = "",
    reason: str = "",
) -> str:
    """Store what the charger says about itself; return the registration status to answer."""
    station = Station.objects.select_for_update().get(pk=station_id)
    station.vendor, station.model = vendor, model
    station.charge_point_serial, station.charge_box_serial = charge_point_serial, charge_box_serial
    station.firmware_version, station.iccid, station.imsi = firmware_version, iccid, imsi
    station.meter_type, station.meter_serial = meter_type, meter_serial
    station.boot_reason = reason[:30]
    station.last_boot_at = station.last_seen_at = station.last_heartbeat_at = now
    station.save()
    location_changed_for_station(station_id, station.location_id)
    return station.registration_status


def _newer(field: str, stamp: datetime) -> Q:
    return Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__lte": stamp})


def station_record_status(
    *,
    station_id: int,
    connector_id: int,
    status: str,
    error_code: str,
    info: str,
    vendor_id: str,
    vendor_error_code: str,
    timestamp: datetime | None,
    now: datetime,
) -> bool:
    """Apply a StatusNotification unless a newer one is already stored (chargers replay
    queued notifications out of order). Returns whether it was applied."""
    stamp = timestamp or now
    if connector_id == 0:
        applied = bool(
            Station.objects.filter(Q(pk=station_id) & _newer("status_at", stamp)).update(
                status=status,
                error_code=error_code,
                status_info=info,
                status_vendor_id=vendor_id,
                status_vendor_error_code=vendor_error_code,
                status_at=stamp,
                last_seen_at=now,
            )
        )
    else:
        # chargers know their connectors better than our records: create unknown ones
        Connector.objects.get_or_create(station_id=station_id, number=connector_id)
        applied = bool(
            Connector.objects.filter(
                Q(station_id=station_id, number=connector_id) & _newer("status_at", stamp)
            ).update(
                status=status,
                error_code=error_code,
                info=info,
                vendor_id=vendor_id,
                vendor_error_code=vendor_error_code,
                status_at=stamp,
                updated_at=now,
            )
        )
    if applied:
        location_changed_for_station(station_id)  # the map shows this status
        notify_charger_status(
            station_id=station_id,
            connector_id=connector_id,
            status=status,
            error_code=error_code,
            info=info,
        )  # Faulted: drivers, operators
    return applied


def station_record_firmware_status(
    *, station_id: int, status: str, request_id: int | None, now: datetime
) -> None:
    Station.objects.filter(pk=station_id).update(
        firmware_status=status, firmware_request_id=request_id, firmware_status_at=now
    )


def station_record_diagnostics_status(*, station_id: int, status: str, now: datetime) -> None:
    Station.objects.filter(pk=station_id).update(
        diagnostics_status=status, diagnostics_status_at=now
    )


def station_record_log_status(
    *, station_id: int, status: str, request_id: int | None, now: datetime
) -> None:
    Station.objects.filter(pk=station_id).update(
        log_status=status, log_request_id=request_id, log_status_at=now
    )


def station_record_csr(*, station_id: int, csr: str, now: datetime) -> None:
    """Keep a SignCertificate CSR for an operator / the certificate service to sign."""
    Station.objects.filter(pk=station_id).update(pending_csr=csr, csr_received_at=now)
