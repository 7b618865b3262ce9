"""/api/v1 routes of stations."""

urlpatterns: list = []
