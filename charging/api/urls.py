"""/api/v1 routes of charging: start, follow, stop, history."""

from django.urls import path

from . import views

urlpatterns = [
    path("charging/start", views.StartView.as_view(), name="charging-start"),
    path("charging/active", views.ActiveView.as_view(), name="charging-active"),
    path("charging/history", views.HistoryView.as_view(), name="charging-history"),
    path("charging/stats", views.StatsView.as_view(), name="charging-stats"),
    path("charging/<int:session_id>", views.SessionView.as_view(), name="charging-session"),
    path("charging/<int:session_id>/stop", views.StopView.as_view(), name="charging-stop"),
]
