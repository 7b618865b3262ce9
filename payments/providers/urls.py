"""/api/v1/payments/...: the endpoints providers call. No client login: each view verifies
its provider's signature or credentials on the raw request before anything is written."""

from django.urls import include, path

urlpatterns = [
    path("payme", include("payments.providers.payme.urls")),
    path("click/", include("payments.providers.click.urls")),
    path("odengi/", include("payments.providers.odengi.urls")),
    path("obank/", include("payments.providers.obank.urls")),
]
