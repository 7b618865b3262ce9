"""Click SHOP API endpoints: Click posts form data and gets Click's JSON back, always with
HTTP 200 (the code is in `error`). No client login: `shop.py` verifies Click's signature on
the raw body before anything is written."""

from __future__ import annotations

from django.http import JsonResponse
from drf_spectacular.utils import extend_schema
from rest_framework.throttling import BaseThrottle

from payments.callbacks.endpoint import ProviderEndpoint
from payments.providers.click.shop import COMPLETE, PREPARE, shop_request_handle


class _ShopView(ProviderEndpoint):
    parser_classes: list = []  # the raw body is read and verified by the service
    action: int

    @extend_schema(exclude=True)  # Click's protocol, not part of the driver API
    def post(self, request):
        answer = shop_request_handle(
            action=self.action,
            body=request.body,
            remote_addr=BaseThrottle().get_ident(request) or "",
        )
        return JsonResponse(answer)


class PrepareView(_ShopView):
    action = PREPARE


class CompleteView(_ShopView):
    action = COMPLETE
