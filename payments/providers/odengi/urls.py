"""Routes odengi calls (filled in with the provider)."""

urlpatterns: list = []
