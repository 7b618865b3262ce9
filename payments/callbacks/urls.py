"""/api/v1/payments/...: the endpoints providers call. No client login: each view verifies
its provider's signature or credentials on the raw request before anything is written."""

from django.urls import path

from . import click, obank, odengi, payme

urlpatterns = [
    # Payme's Merchant API (JSON-RPC, POST only)
    path("payme", payme.PaymeMerchantApiView.as_view(), name="payme-merchant-api"),
    # Click SHOP API: `prepare` (action 0), `complete` (action 1)
    path("click/prepare", click.PrepareView.as_view(), name="click-prepare"),
    path("click/complete", click.CompleteView.as_view(), name="click-complete"),
    # what O!Dengi calls
    path("odengi/callback", odengi.ODengiCallbackView.as_view(), name="odengi-callback"),
    # OBANK: `notify` (the bank) and `return` (the driver's browser)
    path("obank/notify", obank.NotifyView.as_view(), name="obank-notify"),
    path("obank/return", obank.ReturnView.as_view(), name="obank-return"),
]
