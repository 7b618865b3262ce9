"""Reads for the drivers' map: locations with live summaries, nearby search, details.

What a driver sees of a connector (`availability`):
- offline   — its station is not online (`selectors.station_is_online`, the one source of
              truth), or it never reported a status (Unknown);
- faulted   — online but out of service: the connector is Faulted or Unavailable, or the
              station as a whole (connectorId 0) is Faulted/Unavailable, or an operator put
              the station into maintenance;
- occupied  — Preparing, Charging, SuspendedEV, SuspendedEVSE, Finishing or Reserved, or a
              charging session is active on it whatever the charger reports (a start
              there is refused with CONNECTOR_OCCUPIED, so it must never show available);
- available — Available on an online station in service, with no active session.
The map shows locations that are not inactive and their stations that are accepted
(registered) and not inactive.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from django.db.models import (
    Exists,
    F,
    FloatField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Value,
)
from django.db.models.functions import ASin, Cast, Coalesce, Cos, Least, Power, Radians, Sin, Sqrt

from stations.station_models import Connector, Location, Station

from . import map_cache
from .selectors import online_q, station_is_online

AVAILABLE, OCCUPIED, FAULTED, OFFLINE = "available", "occupied", "faulted", "offline"
AVAILABILITIES = (AVAILABLE, OCCUPIED, FAULTED, OFFLINE)
OCCUPIED_STATUSES = frozenset(
    # 1.6 statuses, and 2.0.1's Occupied
    {"Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing", "Reserved", "Occupied"}
)
OUT_OF_SERVICE_STATUSES = frozenset({"Faulted", "Unavailable"})
EARTH_RADIUS_KM = 6371.0088
# The charging app's ChargingSession.ACTIVE_STATUSES, read here through the connector's
# reverse relation so that stations does not import charging (charging's tests keep the
# two equal).
ACTIVE_SESSION_STATUSES = ("pending", "charging", "finishing")


def _active_sessions():
    session_model = Connector._meta.get_field("charging_sessions").related_model
    return session_model.objects.filter(
        connector=OuterRef("pk"), status__in=ACTIVE_SESSION_STATUSES
    )


def connectors_with_use() -> QuerySet[Connector]:
    """Connectors annotated `in_use`: an active charging session holds them."""
    return Connector.objects.annotate(in_use=Exists(_active_sessions()))


def visible_stations_q(prefix: str = "") -> Q:
    return Q(**{f"{prefix}registration_status": Station.Registration.ACCEPTED}) & ~Q(
        **{f"{prefix}admin_status": Station.AdminStatus.INACTIVE}
    )


def visible_locations() -> QuerySet[Location]:
    return Location.objects.exclude(status=Location.Status.INACTIVE)


def station_in_service(station: Station) -> bool:
    return (
        station.admin_status != Station.AdminStatus.MAINTENANCE
        and station.status not in OUT_OF_SERVICE_STATUSES
    )


def connector_availability(station: Station, connector: Connector, *, online: bool) -> str:
    if not online:
        return OFFLINE
    if not station_in_service(station) or connector.status in OUT_OF_SERVICE_STATUSES:
        return FAULTED
    if connector.status in OCCUPIED_STATUSES or getattr(connector, "in_use", False):
        return OCCUPIED
    if connector.status == "Available":
        return AVAILABLE
    return OFFLINE  # Unknown: never reported


def available_connector_q(now: datetime) -> Q:
    """SQL twin of `connector_availability(...) == AVAILABLE`, on Connector."""
    return (
        online_q(now, "station__")
        & Q(status="Available")
        & ~Q(station__admin_status=Station.AdminStatus.MAINTENANCE)
        & ~Q(station__status__in=OUT_OF_SERVICE_STATUSES)
        & ~Exists(_active_sessions())
    )


# -- list ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class MapQuery:
    lat: float | None = None
    lon: float | None = None
    radius_km: float | None = None
    connector_types: tuple[str, ...] = ()
    min_power_kw: Decimal | None = None
    available_now: bool = False

    @property
    def near(self) -> bool:
        return self.lat is not None and self.lon is not None


def bounding_box(
    lat: float, lon: float, radius_km: float
) -> tuple[float, float, float | None, float | None]:
    """(min lat, max lat, min lon, max lon) enclosing the circle; no longitude bounds when
    the circle holds a pole or crosses the antimeridian."""
    angular = radius_km / EARTH_RADIUS_KM
    min_lat, max_lat = lat - math.degrees(angular), lat + math.degrees(angular)
    if min_lat <= -90 or max_lat >= 90:
        return max(min_lat, -90.0), min(max_lat, 90.0), None, None
    delta = math.degrees(math.asin(min(1.0, math.sin(angular) / math.cos(math.radians(lat)))))
    min_lon, max_lon = lon - delta, lon + delta
    if min_lon < -180 or max_lon > 180:
        return min_lat, max_lat, None, None
    return min_lat, max_lat, min_lon, max_lon


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, a)))


def _distance_expression(lat: float, lon: float):
    """The haversine distance in km from (lat, lon) to a Location row, in SQL."""
    lat2 = Radians(Cast("latitude", FloatField()))
    lon2 = Radians(Cast("longitude", FloatField()))
    lat1, lon1 = Value(math.radians(lat)), Value(math.radians(lon))
    a = Power(Sin((lat2 - lat1) / 2), 2) + Cos(lat1) * Cos(lat2) * Power(Sin((lon2 - lon1) / 2), 2)
    return Value(2 * EARTH_RADIUS_KM) * ASin(Sqrt(Least(a, Value(1.0))))


def locations_for_map(query: MapQuery, *, now: datetime) -> QuerySet[Location]:
    """Visible locations matching the filters; nearest first when a point is given (with
    `distance_km` annotated), else by name. One SQL statement (plus pagination's count)."""
    qs = visible_locations()
    if query.connector_types or query.min_power_kw is not None or query.available_now:
        connectors = Connector.objects.filter(
            visible_stations_q("station__"), station__location_id=OuterRef("pk")
        )
        if query.connector_types:
            connectors = connectors.filter(connector_type__in=query.connector_types)
        if query.min_power_kw is not None:
            connectors = connectors.annotate(
                power=Coalesce("max_power_kw", "station__max_power_kw")
            ).filter(power__gte=query.min_power_kw)
        if query.available_now:
            connectors = connectors.filter(available_connector_q(now))
        qs = qs.filter(Exists(connectors))
    if not query.near:
        return qs.order_by("name", "pk")
    qs = qs.filter(latitude__isnull=False, longitude__isnull=False)
    if query.radius_km is not None:
        min_lat, max_lat, min_lon, max_lon = bounding_box(query.lat, query.lon, query.radius_km)
        qs = qs.filter(
            latitude__gte=_coord(min_lat, ROUND_FLOOR), latitude__lte=_coord(max_lat, ROUND_CEILING)
        )
        if min_lon is not None:
            qs = qs.filter(
                longitude__gte=_coord(min_lon, ROUND_FLOOR),
                longitude__lte=_coord(max_lon, ROUND_CEILING),
            )
    qs = qs.annotate(distance_km=_distance_expression(query.lat, query.lon))
    if query.radius_km is not None:
        qs = qs.filter(distance_km__lte=query.radius_km)
    return qs.order_by(F("distance_km").asc(), "name", "pk")


def _coord(value: float, rounding: str) -> Decimal:
    # the columns are numeric(9, 6): compare with a Decimal, rounded outwards
    return Decimal(repr(value)).quantize(Decimal("0.000001"), rounding=rounding)


# -- summaries ----------------------------------------------------------------------------


def empty_summary() -> dict:
    return {
        "stations": {"total": 0, "online": 0, "offline": 0},
        "connectors": {"total": 0, **{a: 0 for a in AVAILABILITIES}},
        "connector_types": [],
        "max_power_kw": None,
    }


def summarize(stations: list[Station], now: datetime) -> dict:
    """The live summary of one location from its visible stations (connectors loaded)."""
    summary = empty_summary()
    types: set[str] = set()
    best: Decimal | None = None
    for station in stations:
        online = station_is_online(station, now)
        summary["stations"]["total"] += 1
        summary["stations"]["online" if online else "offline"] += 1
        for connector in station.connectors.all():
            summary["connectors"]["total"] += 1
            summary["connectors"][connector_availability(station, connector, online=online)] += 1
            types.add(connector.connector_type)
            power = (
                connector.max_power_kw
                if connector.max_power_kw is not None
                else station.max_power_kw
            )
            if power is not None and (best is None or power > best):
                best = power
    summary["connector_types"] = sorted(types)
    summary["max_power_kw"] = None if best is None else str(best)
    return summary


_SUMMARY_STATION_FIELDS = (
    "id",
    "location_id",
    "connected",
    "last_seen_at",
    "admin_status",
    "status",
    "max_power_kw",
)
_SUMMARY_CONNECTOR_FIELDS = ("id", "station_id", "connector_type", "max_power_kw", "status")


def location_summaries(location_ids: list[int], *, now: datetime) -> dict[int, dict]:
    """Live summary per location: from the cache, the misses from the database in two
    queries whatever their number, then cached (see `map_cache`)."""
    summaries = map_cache.get_summaries(location_ids)
    missing = [i for i in location_ids if i not in summaries]
    if missing:
        stations = (
            Station.objects.filter(visible_stations_q(), location_id__in=missing)
            .only(*_SUMMARY_STATION_FIELDS)
            .prefetch_related(
                Prefetch(
                    "connectors", queryset=connectors_with_use().only(*_SUMMARY_CONNECTOR_FIELDS)
                )
            )
        )
        grouped: dict[int, list[Station]] = {i: [] for i in missing}
        for station in stations:
            grouped[station.location_id].append(station)
        fresh = {i: summarize(grouped[i], now) for i in missing}
        map_cache.set_summaries(fresh)
        summaries.update(fresh)
    return summaries


# -- details ------------------------------------------------------------------------------


def _visible_stations_with_connectors() -> QuerySet[Station]:
    return Station.objects.filter(visible_stations_q()).prefetch_related(
        Prefetch("connectors", queryset=connectors_with_use().order_by("number"))
    )


def location_detail(location_id: int) -> Location | None:
    """A visible location with its visible stations and their connectors (3 queries)."""
    return (
        visible_locations()
        .filter(pk=location_id)
        .prefetch_related(
            Prefetch("stations", queryset=_visible_stations_with_connectors().order_by("identity"))
        )
        .first()
    )


def station_detail(station_id: int) -> Station | None:
    """A visible station of a visible location (or of none), connectors loaded (2 queries)."""
    return (
        _visible_stations_with_connectors()
        .select_related("location")
        .filter(pk=station_id)
        .filter(Q(location__isnull=True) | ~Q(location__status=Location.Status.INACTIVE))
        .first()
    )
