"""Endpoints that belong to the API as a whole rather than to one app."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

API_VERSION = "1"


class VersionSerializer(serializers.Serializer):
    minimum_app_version = serializers.CharField(
        help_text="Oldest app version still supported: an older app must ask for an update."
    )
    latest_app_version = serializers.CharField(
        help_text="Newest released app version: an older app may suggest an update."
    )
    api_version = serializers.CharField(help_text="Major version of this API (the /api/vN/).")


class VersionView(APIView):
    """Public (the app checks it before login), and deliberately blind to tokens: an expired
    token must never stop an app from learning that it has to update."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(operation_id="version_retrieve", responses=VersionSerializer, tags=["meta"])
    def get(self, request):
        response = Response(
            VersionSerializer(
                {
                    "minimum_app_version": settings.APP_MINIMUM_VERSION,
                    "latest_app_version": settings.APP_LATEST_VERSION,
                    "api_version": API_VERSION,
                }
            ).data
        )
        response["Cache-Control"] = "public, max-age=300"
        return response
