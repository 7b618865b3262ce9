"""Root URL configuration."""

from django.contrib import admin
from django.urls import include, path

from evpower import health

urlpatterns = [
    path("admin/", admin.site.urls),
    path("health/live", health.live, name="health-live"),
    path("api/v1/", include("evpower.api.urls")),
]
