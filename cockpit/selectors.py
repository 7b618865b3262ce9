"""Reads for the cockpit's live pages (the live station view, the map of locations) and
the staff socket that keeps them current. Every read is scoped to what the staff member
may see (`accounts.admin_scoping`) and costs a fixed number of queries, however many
connectors, sessions or locations there are.

A location's live state on the staff map, worst first (the twin of `locationState` in
static/evpower/admin/map.js, which recomputes it as events arrive):
- faulted   — a station that is online is out of service, or one of its connectors is
              (a connector's availability as drivers see it: `selectors_map`);
- offline   — no station of the location is online (or it has none);
- partial   — some of its stations are offline;
- charging  — a connector is in use (Preparing ... Finishing, or Reserved);
- available — everything online and free.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from accounts.admin_scoping import scope_queryset
from charging.models import OcppTransaction
from charging.session.models import ChargingSession
from ocpp_bridge.models import OcppMessage
from stations.models import Connector, Location, Station
from stations.selectors import station_is_online
from stations.selectors_map import (
    FAULTED,
    OCCUPIED,
    OFFLINE,
    connector_availability,
    connectors_with_use,
    station_in_service,
)

PARTIAL, CHARGING, AVAILABLE = "partial", "charging", "available"
LOCATION_STATES = (FAULTED, OFFLINE, PARTIAL, CHARGING, AVAILABLE)  # worst first
MESSAGES_SHOWN = 20


def visible_stations(user) -> QuerySet[Station]:
    return scope_queryset(Station.objects.all(), user)


def visible_locations(user) -> QuerySet[Location]:
    return scope_queryset(Location.objects.all(), user)


def visible_ids(user, *, stations: list[int], locations: list[int]) -> tuple[list[int], list[int]]:
    """Of the ids asked for, those `user` may watch (unknown ids are simply not visible)."""
    return (
        sorted(visible_stations(user).filter(pk__in=stations).values_list("pk", flat=True)),
        sorted(visible_locations(user).filter(pk__in=locations).values_list("pk", flat=True)),
    )


def _with_connectors(queryset: QuerySet[Station]) -> QuerySet[Station]:
    return queryset.prefetch_related(
        Prefetch("connectors", queryset=connectors_with_use().order_by("number"))
    )


def station_for_live(user, station_id: int) -> Station | None:
    """The station with its location and connectors, if `user` may see it."""
    return (
        _with_connectors(visible_stations(user).select_related("location"))
        .filter(pk=station_id)
        .first()
    )


# -- live state: what the socket's events change ----------------------------------------


@dataclass(frozen=True)
class StationState:
    station: int
    location: int | None
    online: bool
    status: str  # StatusNotification of connectorId 0: the station as a whole
    maintenance: bool
    connectors: list[dict] = field(default_factory=list)  # {connector, status, error_code}
    availability: str = OFFLINE  # the worst of its connectors', as drivers see them

    def as_event(self) -> dict:
        return {
            "station": self.station,
            "location": self.location,
            "online": self.online,
            "status": self.status,
            "maintenance": self.maintenance,
            "connectors": self.connectors,
        }


def station_state(station: Station, now: datetime | None = None) -> StationState:
    """`station` must come with its connectors prefetched."""
    online = station_is_online(station, now)
    connectors = list(station.connectors.all())
    return StationState(
        station=station.pk,
        location=station.location_id,
        online=online,
        status=station.status,
        maintenance=station.admin_status == Station.AdminStatus.MAINTENANCE,
        connectors=[
            {"connector": c.number, "status": c.status, "error_code": c.error_code}
            for c in connectors
        ],
        availability=_station_availability(station, connectors, online),
    )


def _station_availability(station: Station, connectors: list[Connector], online: bool) -> str:
    if not online:
        return OFFLINE
    if not station_in_service(station):
        return FAULTED
    found = {connector_availability(station, c, online=True) for c in connectors}
    for worst in (FAULTED, OCCUPIED):
        if worst in found:
            return worst
    return AVAILABLE


def station_states(user, *, stations: list[int], locations: list[int]) -> list[StationState]:
    """The current state of the given stations and of every station at the given
    locations, as far as `user` may see them (the socket's snapshot after a subscribe)."""
    queryset = visible_stations(user).filter(Q(pk__in=stations) | Q(location_id__in=locations))
    now = timezone.now()
    return [station_state(s, now) for s in _with_connectors(queryset.order_by("pk"))]


def location_state(states: list[StationState]) -> str:
    online = [s for s in states if s.online]
    if any(s.availability == FAULTED for s in online):
        return FAULTED
    if not online:
        return OFFLINE
    if len(online) < len(states):
        return PARTIAL
    if any(s.availability == OCCUPIED for s in online):
        return CHARGING
    return AVAILABLE


# -- the live station view ------------------------------------------------------------------


@dataclass(frozen=True)
class CurrentCharge:
    """What is charging on a connector now: a session (the money side), or a charger
    transaction nobody is billed for (an id tag without an owner)."""

    connector: int
    session_id: int | None
    transaction_id: int | None
    status: str
    client: object | None
    energy_wh: int | None
    started_at: datetime | None

    @property
    def energy_kwh(self) -> Decimal | None:
        return None if self.energy_wh is None else Decimal(self.energy_wh) / 1000


def current_charges(station: Station) -> dict[int, CurrentCharge]:
    """Per connector number, its active session (newest first), else its active
    transaction without a session. Two queries."""
    charges: dict[int, CurrentCharge] = {}
    sessions = (
        ChargingSession.objects.filter(station=station, status__in=ChargingSession.ACTIVE_STATUSES)
        .select_related("client")
        .order_by("-id")
    )
    for s in sessions:
        charges.setdefault(
            s.connector_number,
            CurrentCharge(
                connector=s.connector_number,
                session_id=s.pk,
                transaction_id=s.transaction_id,
                status=s.status,
                client=s.client,
                energy_wh=s.energy_wh,
                started_at=s.charging_started_at or s.created_at,
            ),
        )
    unbilled = OcppTransaction.objects.filter(
        station=station, status=OcppTransaction.Status.ACTIVE, session__isnull=True
    ).order_by("-id")
    for tx in unbilled:
        charges.setdefault(
            tx.connector_number,
            CurrentCharge(
                connector=tx.connector_number,
                session_id=None,
                transaction_id=tx.pk,
                status=tx.status,
                client=None,
                energy_wh=tx.energy_wh,
                started_at=tx.started_at,
            ),
        )
    return charges


def recent_messages(station: Station, limit: int = MESSAGES_SHOWN) -> list[OcppMessage]:
    return list(OcppMessage.objects.filter(station=station).order_by("-id")[:limit])


# -- the map ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LocationLive:
    location: Location
    stations: list[tuple[Station, StationState]]
    state: str

    @property
    def on_map(self) -> bool:
        return self.location.latitude is not None and self.location.longitude is not None


def locations_live(user) -> list[LocationLive]:
    """Every location `user` may see, with its stations' live states. Three queries."""
    stations = _with_connectors(Station.objects.order_by("identity"))
    locations = (
        visible_locations(user)
        .order_by("name")
        .prefetch_related(Prefetch("stations", queryset=stations))
    )
    now = timezone.now()
    result = []
    for location in locations:
        pairs = [(s, station_state(s, now)) for s in location.stations.all()]
        result.append(
            LocationLive(
                location=location,
                stations=pairs,
                state=location_state([state for _, state in pairs]),
            )
        )
    return result
