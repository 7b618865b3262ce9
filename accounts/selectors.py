"""Reads on clients' own data; every query is scoped to the client (no BOLA)."""

from __future__ import annotations

from django.db.models import QuerySet

from .models import Client, Device, Favourite, LoginSession


def favourites_of(*, client: Client) -> QuerySet[Favourite]:
    return Favourite.objects.filter(client=client).select_related("location")


def devices_of(*, client: Client) -> QuerySet[Device]:
    return Device.objects.filter(client=client)


def active_sessions_of(*, client: Client) -> QuerySet[LoginSession]:
    return LoginSession.objects.filter(client=client, revoked_at__isnull=True)
