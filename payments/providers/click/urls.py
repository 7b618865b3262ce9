"""Click SHOP API, under /api/v1/payments/click/: `prepare` (action 0), `complete` (action 1)."""

from django.urls import path

from .views import CompleteView, PrepareView

urlpatterns = [
    path("prepare", PrepareView.as_view(), name="click-prepare"),
    path("complete", CompleteView.as_view(), name="click-complete"),
]
