"""Operators' admin for locations and id tags. The station page, which joins the
charger's commands and its command log, is the cockpit's (cockpit/station_admin.py)."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin

from accounts.admin_scoping import OwnerScopedAdmin
from stations.station_models import IdTag, Location


@admin.register(Location)
class LocationAdmin(OwnerScopedAdmin, ModelAdmin):
    list_display = ("name", "city", "status", "owner", "station_count")
    list_select_related = ("owner",)
    # only the users who own a site (an owner: just themselves, the list being scoped)
    list_filter = ("status", "city", ("owner", admin.RelatedOnlyFieldListFilter))
    search_fields = ("name", "city", "address")
    scoped_readonly_fields = ("owner",)  # an owner cannot give a site away (or take one)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(station_count=Count("stations"))

    @admin.display(description=_("stations"), ordering="station_count")
    def station_count(self, obj: Location) -> int:
        return obj.station_count


@admin.register(IdTag)
class IdTagAdmin(ModelAdmin):
    list_display = ("id_tag", "status", "kind", "client", "expiry_date", "parent", "note")
    list_select_related = ("parent", "client")
    list_filter = ("status", "kind", ("client", admin.EmptyFieldListFilter), "expiry_date")
    search_fields = ("id_tag", "note", "client__phone")
    autocomplete_fields = ("parent",)


# reservations, charging profiles, local lists; tariff plans and their assignments
from . import (  # noqa: E402,F401
    admin_charger_reports,
    admin_device_model,
    admin_extras,
    tariff_admin,
)
