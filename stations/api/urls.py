"""/api/v1 routes of the map, and the client's favourite locations and promo codes."""

from django.urls import path

from . import views, views_favourites, views_promos

urlpatterns = [
    path("locations", views.LocationListView.as_view(), name="location-list"),
    path("locations/<int:pk>", views.LocationDetailView.as_view(), name="location-detail"),
    path("stations/<int:pk>", views.StationDetailView.as_view(), name="station-detail"),
    path("me/favourites", views_favourites.FavouritesView.as_view(), name="me-favourites"),
    path(
        "me/favourites/<int:location_id>",
        views_favourites.FavouriteView.as_view(),
        name="me-favourite",
    ),
    path("me/promo-codes", views_promos.MyPromoCodesView.as_view(), name="me-promo-codes"),
]
