"""/api/v1 routes of payments: the client's wallet."""

from django.urls import path

from . import views

urlpatterns = [
    path("wallet", views.WalletView.as_view(), name="wallet"),
    path("wallet/transactions", views.WalletTransactionsView.as_view(),
         name="wallet-transactions"),
]
