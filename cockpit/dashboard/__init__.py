"""The admin's dashboard (the index page): what the network is doing now.

`selectors` reads the figures (a fixed number of queries), `cards` decides who sees
which and links each to the list it counts; `templates/admin/index.html` draws them.
"""

from __future__ import annotations

from cockpit.dashboard.cards import dashboard


def dashboard_callback(request, context: dict) -> dict:
    """django-unfold's DASHBOARD_CALLBACK (settings.UNFOLD): runs for the admin index."""
    context["dashboard"] = dashboard(request)
    return context
