"""The base of every endpoint a payment provider calls."""

from __future__ import annotations

from rest_framework.permissions import AllowAny
from rest_framework.views import APIView


class ProviderEndpoint(APIView):
    """No client login (the provider is not a driver: each view verifies the provider's
    signature or credentials on the raw request itself) and no throttling (providers
    retry from a few addresses, and a refused notification is money left unapplied)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []
