"""/api/v1 routes of the map."""

from django.urls import path

from . import views

urlpatterns = [
    path("locations", views.LocationListView.as_view(), name="location-list"),
    path("locations/<int:pk>", views.LocationDetailView.as_view(), name="location-detail"),
    path("stations/<int:pk>", views.StationDetailView.as_view(), name="station-detail"),
]
