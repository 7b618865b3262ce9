"""List filters the dashboard's links need and the admins did not have."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from .selectors import faulted_q


class FaultedFilter(admin.SimpleListFilter):
    """Stations reporting a fault, on connector 0 or any connector (the dashboard's
    "faulted" card links here: ?faulted=yes)."""

    title = _("fault")
    parameter_name = "faulted"

    def lookups(self, request, model_admin):
        return (("yes", _("Faulted")), ("no", _("No fault")))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(faulted_q())
        if self.value() == "no":
            return queryset.exclude(faulted_q())
        return queryset
