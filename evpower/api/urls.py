"""/api/v1/: each app contributes its own routes."""

from django.urls import include, path

from .views import VersionView

urlpatterns = [
    path("version", VersionView.as_view(), name="api-version"),
    path("", include("accounts.api.urls")),
    path("", include("stations.api.urls")),
    path("", include("payments.api.urls")),
    path("", include("charging.api.urls")),
]
