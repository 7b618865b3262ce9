"""The client's own profile and push devices (favourite locations are served by
stations/api/views_favourites.py). Every query is scoped to request.user, so another
client's id answers 404 like an id that does not exist."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services

from .serializers import (
    ClientSerializer,
    DeletionOut,
    DeviceIn,
    DeviceOut,
)


class MeView(APIView):
    @extend_schema(responses=ClientSerializer, tags=["profile"])
    def get(self, request):
        return Response(ClientSerializer(request.user).data)

    @extend_schema(
        request=ClientSerializer,
        responses=ClientSerializer,
        tags=["profile"],
        summary="Update name, email or language (the phone cannot change)",
    )
    def patch(self, request):
        data = ClientSerializer(request.user, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        client = services.client_update_profile(client=request.user, **data.validated_data)
        return Response(ClientSerializer(client).data)


class MeDeleteView(APIView):
    @extend_schema(
        request=None,
        responses={202: DeletionOut},
        tags=["profile"],
        summary="Request account deletion: logs out everywhere; personal data is "
        "anonymised after the grace period",
    )
    def post(self, request):
        client = services.client_request_deletion(client_id=request.user.pk)
        grace = timedelta(days=settings.ACCOUNT_DELETION_GRACE_DAYS)
        return Response(
            {
                "status": client.status,
                "deletion_requested_at": client.deletion_requested_at,
                "anonymise_after": client.deletion_requested_at + grace,
            },
            status=status.HTTP_202_ACCEPTED,
        )


class DevicesView(ListAPIView):
    serializer_class = DeviceOut

    def get_queryset(self):
        return selectors.devices_of(client=self.request.user)

    @extend_schema(
        request=DeviceIn,
        responses={201: DeviceOut, 200: DeviceOut},
        tags=["devices"],
        summary="Register (or refresh) a push target",
    )
    def post(self, request):
        data = DeviceIn(data=request.data)
        data.is_valid(raise_exception=True)
        saved = services.device_register(client=request.user, **data.validated_data)
        return Response(
            DeviceOut(saved.obj).data,
            status=status.HTTP_201_CREATED if saved.created else status.HTTP_200_OK,
        )


class DeviceView(APIView):
    @extend_schema(responses={204: None}, tags=["devices"])
    def delete(self, request, device_id: int):
        services.device_remove(client=request.user, device_id=device_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
