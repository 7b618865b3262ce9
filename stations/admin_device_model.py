"""The device model of OCPP 2.0.1 stations in the admin: what each charger reported about
its components and variables (read only; edits go to the charger with SetVariables, from
the station's command page)."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin

from accounts.admin_scoping import OwnerScopedAdmin
from evpower.admin_readonly import ReadOnlyPermissions

from .device_model_models import DeviceVariable


@admin.register(DeviceVariable)
class DeviceVariableAdmin(OwnerScopedAdmin, ReadOnlyPermissions, ModelAdmin):
    list_display = (
        "station",
        "component",
        "component_instance",
        "evse_id",
        "variable",
        "variable_instance",
        "attribute_type",
        "value",
        "mutability",
        "unit",
        "updated_at",
    )
    list_select_related = ("station",)
    list_filter = ("station", "attribute_type", "mutability")
    search_fields = ("component", "variable", "=station__identity")
    search_help_text = _("Component, variable or exact station identity.")
    show_full_result_count = False
