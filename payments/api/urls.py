"""/api/v1 routes of payments: the client's wallet."""

from django.urls import include, path

from . import views

urlpatterns = [
    path("wallet", views.WalletView.as_view(), name="wallet"),
    path("wallet/transactions", views.WalletTransactionsView.as_view(), name="wallet-transactions"),
    path("wallet/topups", views.TopupsView.as_view(), name="wallet-topups"),
    path("wallet/topups/<int:payment_id>", views.TopupView.as_view(), name="wallet-topup"),
    path(
        "wallet/topups/<int:payment_id>/cancel",
        views.TopupCancelView.as_view(),
        name="wallet-topup-cancel",
    ),
    # providers call these (each verifies the request itself; no client login)
    path("payments/", include("payments.callbacks.urls")),
]
