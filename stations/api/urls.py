"""/api/v1 routes of the map, and the client's promo codes."""

from django.urls import path

from . import views, views_promos

urlpatterns = [
    path("locations", views.LocationListView.as_view(), name="location-list"),
    path("locations/<int:pk>", views.LocationDetailView.as_view(), name="location-detail"),
    path("stations/<int:pk>", views.StationDetailView.as_view(), name="station-detail"),
    path("me/promo-codes", views_promos.MyPromoCodesView.as_view(), name="me-promo-codes"),
]
