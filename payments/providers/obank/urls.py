"""Routes obank calls (filled in with the provider)."""

urlpatterns: list = []
