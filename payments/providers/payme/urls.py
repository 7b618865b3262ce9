"""Routes payme calls (filled in with the provider)."""

urlpatterns: list = []
