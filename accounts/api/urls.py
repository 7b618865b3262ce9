"""/api/v1 routes of accounts: auth (login by code, tokens) and the client's own data."""

from django.urls import path

from . import views_auth, views_me

urlpatterns = [
    path("auth/otp/request", views_auth.OtpRequestView.as_view(), name="auth-otp-request"),
    path("auth/otp/verify", views_auth.OtpVerifyView.as_view(), name="auth-otp-verify"),
    path("auth/refresh", views_auth.RefreshView.as_view(), name="auth-refresh"),
    path("auth/logout", views_auth.LogoutView.as_view(), name="auth-logout"),
    path("auth/logout-all", views_auth.LogoutAllView.as_view(), name="auth-logout-all"),
    path("me", views_me.MeView.as_view(), name="me"),
    path("me/delete", views_me.MeDeleteView.as_view(), name="me-delete"),
    path("me/devices", views_me.DevicesView.as_view(), name="me-devices"),
    path("me/devices/<int:device_id>", views_me.DeviceView.as_view(), name="me-device"),
]
