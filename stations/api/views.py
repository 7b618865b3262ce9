"""The map: public, read-only. Each view parses input, calls the map selectors and the
pricing module, and renders; no rules here.

The location and station details also answer `your_price` per connector when the request
carries a client's access token (`quote_for_client`). Authentication there is optional:
no Authorization header → the public answer; a bad or expired token → 401 TOKEN_INVALID
(standard DRF: the app refreshes and retries, or drops the header). Requests with an
Authorization header bypass the edge cache (stations/edge_cache.py)."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import ClientJWTAuthentication
from accounts.models import Client
from stations.station_models import Station

from .. import pricing
from ..selectors import station_is_online
from ..selectors_map import (
    connector_availability,
    location_detail,
    location_summaries,
    locations_for_map,
    station_detail,
    station_in_service,
    summarize,
)
from .serializers import (
    LocationDetailSerializer,
    LocationSerializer,
    MapQuerySerializer,
    StationSerializer,
)


class PublicView(APIView):
    """Anyone may read the map: no authentication, so no token is even looked at."""

    authentication_classes: list = []
    permission_classes = [AllowAny]


class OptionalClientView(PublicView):
    """Public, but a client's token (if any) is read to personalise prices."""

    authentication_classes = [ClientJWTAuthentication]

    def client(self) -> Client | None:
        user = self.request.user
        return user if isinstance(user, Client) else None


def _present_stations(stations: list[Station], now: datetime, client: Client | None = None) -> None:
    """Attach live status and the current price (and the client's, given one) to loaded
    stations and connectors."""
    connectors = [c for s in stations for c in s.connectors.all()]
    prices = pricing.quotes(connectors, at=now)
    yours = (
        pricing.quotes_for_client(connectors, at=now, client=client) if client is not None else None
    )
    for station in stations:
        station.online = station_is_online(station, now)
        station.in_service = station_in_service(station)
        station.map_connectors = list(station.connectors.all())
        for connector in station.map_connectors:
            connector.availability = connector_availability(
                station, connector, online=station.online
            )
            connector.effective_power_kw = pricing.connector_power(connector)
            connector.price = prices[connector.pk]
            if yours is not None:
                connector.your_price = yours[connector.pk]


class LocationListView(PublicView, GenericAPIView):
    """Locations on the map with live summaries; nearest first when lat/lon are given."""

    serializer_class = LocationSerializer

    @extend_schema(
        operation_id="locations_list",
        parameters=[MapQuerySerializer],
        responses=LocationSerializer(many=True),
        auth=[],
    )
    def get(self, request):
        params = MapQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        now = timezone.now()
        page = self.paginate_queryset(locations_for_map(params.to_query(), now=now))
        summaries = location_summaries([location.pk for location in page], now=now)
        for location in page:
            location.summary = summaries[location.pk]
        return self.get_paginated_response(LocationSerializer(page, many=True).data)


class LocationDetailView(OptionalClientView):
    """A location with its stations, their connectors, live status and current prices."""

    @extend_schema(operation_id="locations_retrieve", responses=LocationDetailSerializer)
    def get(self, request, pk: int):
        location = location_detail(pk)
        if location is None:
            raise NotFound()
        now = timezone.now()
        stations = list(location.stations.all())
        _present_stations(stations, now, self.client())
        location.map_stations = stations
        location.summary = summarize(stations, now)
        return Response(LocationDetailSerializer(location).data)


class StationDetailView(OptionalClientView):
    """A station with its connectors, live status and current prices."""

    @extend_schema(operation_id="stations_retrieve", responses=StationSerializer)
    def get(self, request, pk: int):
        station = station_detail(pk)
        if station is None:
            raise NotFound()
        _present_stations([station], timezone.now(), self.client())
        return Response(StationSerializer(station).data)
