"""/api/v1/payments/payme: Payme's Merchant API calls (JSON-RPC, POST only)."""

from django.urls import path

from .views import PaymeMerchantApiView

urlpatterns = [
    path("", PaymeMerchantApiView.as_view(), name="payme-merchant-api"),
]
