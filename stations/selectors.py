"""Reads about stations: liveness (the one source of truth) and id-tag status."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from stations.station_models import Connector, IdTag, Station


def liveness_window() -> timedelta:
    """A station is offline after two missed heartbeats (docs/product.md §7) plus a grace."""
    return timedelta(
        seconds=2 * settings.OCPP_HEARTBEAT_INTERVAL + settings.OCPP_OFFLINE_GRACE_SECONDS
    )


FAULTED = "Faulted"  # the OCPP 1.6 ChargePointStatus


def online_q(now: datetime | None = None, prefix: str = "") -> Q:
    """`prefix` filters through a relation, e.g. `online_q(now, "station__")` on connectors."""
    since = (now or timezone.now()) - liveness_window()
    return Q(**{f"{prefix}connected": True, f"{prefix}last_seen_at__gte": since})


def faulted_q() -> Q:
    """A station reports a fault: on connector 0 (the station as a whole) or on any of its
    connectors. It is the charger's last StatusNotification, online or not."""
    faulty_connector = Connector.objects.filter(station=OuterRef("pk"), status=FAULTED)
    return Q(status=FAULTED) | Q(Exists(faulty_connector))


def station_is_online(station: Station, now: datetime | None = None) -> bool:
    """Online = its socket is open AND it has been heard from recently. A process that
    died with the socket flag still set is caught by the second half."""
    if not station.connected or station.last_seen_at is None:
        return False
    return station.last_seen_at >= (now or timezone.now()) - liveness_window()


def stations_online(now: datetime | None = None) -> QuerySet[Station]:
    return Station.objects.filter(online_q(now))


def station_by_identity(identity: str) -> Station | None:
    return Station.objects.filter(identity=identity).first()


def id_tag_status(id_tag: str, now: datetime | None = None) -> tuple[str, IdTag | None]:
    """The OCPP authorization status of an id tag, and the tag when we know it."""
    tag = IdTag.objects.select_related("parent", "client").filter(id_tag=id_tag).first()
    if tag is None:
        return IdTag.Status.INVALID, None
    return effective_status(tag, now or timezone.now()), tag


def effective_status(tag: IdTag, now: datetime) -> str:
    """A known tag's status: its own, unless expired or its parent is blocked. Also what
    the local authorisation list tells chargers, so online and offline answers agree."""
    if tag.status != IdTag.Status.ACCEPTED:
        return tag.status
    if tag.expiry_date is not None and tag.expiry_date <= now:
        return IdTag.Status.EXPIRED
    if tag.parent is not None and tag.parent.status == IdTag.Status.BLOCKED:
        return IdTag.Status.BLOCKED  # blocking a fleet card blocks its children
    if tag.client is not None and not tag.client.is_active:
        return IdTag.Status.BLOCKED  # a blocked (or leaving) client's cards stop working
    return IdTag.Status.ACCEPTED
