"""/api/v1 routes of accounts."""

urlpatterns: list = []
