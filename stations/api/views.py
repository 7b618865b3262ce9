"""The map: public, read-only. Each view parses input, calls the map selectors and the
pricing module, and renders; no rules here."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import pricing
from ..models import Station
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


def _present_stations(stations: list[Station], now: datetime) -> None:
    """Attach live status and the current price to loaded stations and connectors."""
    connectors = [c for s in stations for c in s.connectors.all()]
    prices = pricing.quotes(connectors, at=now)
    for station in stations:
        station.online = station_is_online(station, now)
        station.in_service = station_in_service(station)
        station.map_connectors = list(station.connectors.all())
        for connector in station.map_connectors:
            connector.availability = connector_availability(station, connector,
                                                            online=station.online)
            connector.effective_power_kw = pricing.connector_power(connector)
            connector.price = prices[connector.pk]


class LocationListView(PublicView, GenericAPIView):
    """Locations on the map with live summaries; nearest first when lat/lon are given."""

    serializer_class = LocationSerializer

    @extend_schema(operation_id="locations_list", parameters=[MapQuerySerializer],
                   responses=LocationSerializer(many=True), auth=[])
    def get(self, request):
        params = MapQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        now = timezone.now()
        page = self.paginate_queryset(locations_for_map(params.to_query(), now=now))
        summaries = location_summaries([location.pk for location in page], now=now)
        for location in page:
            location.summary = summaries[location.pk]
        return self.get_paginated_response(LocationSerializer(page, many=True).data)


class LocationDetailView(PublicView):
    """A location with its stations, their connectors, live status and current prices."""

    @extend_schema(operation_id="locations_retrieve", responses=LocationDetailSerializer,
                   auth=[])
    def get(self, request, pk: int):
        location = location_detail(pk)
        if location is None:
            raise NotFound()
        now = timezone.now()
        stations = list(location.stations.all())
        _present_stations(stations, now)
        location.map_stations = stations
        location.summary = summarize(stations, now)
        return Response(LocationDetailSerializer(location).data)


class StationDetailView(PublicView):
    """A station with its connectors, live status and current prices."""

    @extend_schema(operation_id="stations_retrieve", responses=StationSerializer, auth=[])
    def get(self, request, pk: int):
        station = station_detail(pk)
        if station is None:
            raise NotFound()
        _present_stations([station], timezone.now())
        return Response(StationSerializer(station).data)
