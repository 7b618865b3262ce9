"""Routes click calls (filled in with the provider)."""

urlpatterns: list = []
