"""The client's favourite locations (/api/v1/me/favourites). Scoped to request.user, so
another client's id answers 404 like an id that does not exist. Here rather than in
accounts: a favourite joins a client (accounts keeps the record) with a location."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.models import Favourite
from stations.station_models import Location


class FavouriteLocation(serializers.ModelSerializer):
    class Meta:
        model = Location
        fields = ["id", "name", "address", "city", "latitude", "longitude"]


class FavouriteOut(serializers.ModelSerializer):
    location = FavouriteLocation()

    class Meta:
        model = Favourite
        fields = ["location", "created_at"]


class FavouriteIn(serializers.Serializer):
    location = serializers.IntegerField(min_value=1, help_text="id of a location")

    def validate_location(self, value: int) -> int:
        if not Location.objects.filter(pk=value).exists():
            raise serializers.ValidationError("No such location.")
        return value


class FavouritesView(ListAPIView):
    serializer_class = FavouriteOut

    def get_queryset(self):
        return selectors.favourites_of(client=self.request.user)

    @extend_schema(
        request=FavouriteIn,
        responses={201: FavouriteOut, 200: FavouriteOut},
        tags=["favourites"],
        summary="Add a location (adding it twice is harmless)",
    )
    def post(self, request):
        data = FavouriteIn(data=request.data)
        data.is_valid(raise_exception=True)
        saved = services.favourite_add(
            client=request.user, location_id=data.validated_data["location"]
        )
        return Response(
            FavouriteOut(saved.obj).data,
            status=status.HTTP_201_CREATED if saved.created else status.HTTP_200_OK,
        )


class FavouriteView(APIView):
    @extend_schema(responses={204: None}, tags=["favourites"])
    def delete(self, request, location_id: int):
        services.favourite_remove(client=request.user, location_id=location_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
