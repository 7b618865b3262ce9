"""/api/v1/payments/obank/...: `notify` (the bank) and `return` (the driver's browser)."""

from django.urls import path

from . import views

urlpatterns = [
    path("notify", views.NotifyView.as_view(), name="obank-notify"),
    path("return", views.ReturnView.as_view(), name="obank-return"),
]
