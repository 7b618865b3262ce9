"""/api/v1/payments/odengi/…: what O!Dengi calls (see views.py)."""

from django.urls import path

from .views import ODengiCallbackView

urlpatterns = [
    path("callback", ODengiCallbackView.as_view(), name="odengi-callback"),
]
