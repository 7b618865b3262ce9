"""/sandbox/...: mounted by evpower/urls.py only when PAYMENT_SANDBOX is on."""

from django.urls import path

from . import views

urlpatterns = [
    path("odengi/api", views.odengi_api, name="sandbox-odengi-api"),
    path("odengi/pay/<str:invoice_id>", views.odengi_pay, name="sandbox-odengi-pay"),
    path("payme/checkout/<path:encoded>", views.payme_checkout, name="sandbox-payme-checkout"),
    path("click/pay", views.click_pay, name="sandbox-click-pay"),
    path(
        "click/api/payment/status_by_mti/<str:service_id>/<str:merchant_trans_id>/<str:day>",
        views.click_status_by_mti,
        name="sandbox-click-status-by-mti",
    ),
    path(
        "click/api/payment/status/<str:service_id>/<str:payment_id>",
        views.click_status,
        name="sandbox-click-status",
    ),
    path(
        "click/api/payment/reversal/<str:service_id>/<str:payment_id>",
        views.click_reversal,
        name="sandbox-click-reversal",
    ),
]
