"""The admin's dashboard (the index page): what the network is doing now."""

from __future__ import annotations


def dashboard_callback(request, context: dict) -> dict:
    return context
