"""Root URL configuration."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from evpower import health

urlpatterns = [
    path("admin/", admin.site.urls),
    path("health/live", health.live, name="health-live"),
    path("api/v1/", include("evpower.api.urls")),
    # OpenAPI 3 schema (JSON with ?format=json or Accept: application/json, else YAML) and
    # Swagger UI served from drf-spectacular-sidecar's static files: no CDN needed.
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
