"""Admin for what we install on chargers: reservations, charging profiles, local lists.

Anything that reaches a charger goes through its service (`reservations`,
`charging_profiles`, `local_list`) and the charger's answer is shown as a message.
Imported at the end of `stations/admin.py` so these register with the site.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin, TabularInline

from stations.station_models import (
    ChargingProfile,
    ChargingProfileAssignment,
    LocalListState,
    Reservation,
    Station,
)

from .charging_profiles import charging_profile_apply, charging_profile_clear
from .local_list import local_list_sync
from .reservations import reservation_cancel, reservation_check, reservation_create


def _who(request) -> str:
    return f"admin:{request.user.get_username()}"


def _say(request, what: str, result) -> None:
    """One message per charger call: its answer, or why there was none."""
    if result.response is not None:
        text, level = (
            f"{what}: charger answered {result.response}",
            (messages.SUCCESS if result.ok else messages.WARNING),
        )
    else:
        reason = " ".join(filter(None, [result.error_code, result.error_description]))
        text, level = (
            f"{what}: {result.status}" + (f" ({reason})" if reason else ""),
            messages.ERROR,
        )
    messages.add_message(request, level, text)


# --- reservations ---------------------------------------------------------------


class ReservationAddForm(forms.ModelForm):
    class Meta:
        model = Reservation
        fields = ("station", "connector_number", "id_tag", "expires_at")
        help_texts = {"expires_at": "UTC"}

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            reservation_check(
                station=data["station"],
                connector_number=data["connector_number"],
                id_tag=data["id_tag"],
                expires_at=data["expires_at"],
            )
        except ValidationError as exc:
            raise ValidationError(exc.message_dict) from None
        return data


@admin.register(Reservation)
class ReservationAdmin(ModelAdmin):
    """Adding one sends ReserveNow; the row keeps the charger's answer. Reservations are
    never edited or deleted here: cancel them (that tells the charger)."""

    list_display = (
        "id",
        "station",
        "connector_number",
        "id_tag",
        "status",
        "charger_status",
        "expires_at",
        "transaction_id",
        "created_at",
        "requested_by",
    )
    list_select_related = ("station",)
    list_filter = ("status", "station", "connector_number")
    search_fields = ("=id", "id_tag", "station__identity")
    date_hierarchy = "created_at"
    actions = ("cancel_reservations",)
    autocomplete_fields = ("station",)
    readonly = (
        "station",
        "connector_number",
        "id_tag",
        "parent_id_tag",
        "expires_at",
        "status",
        "charger_status",
        "transaction_id",
        "ended_at",
        "created_at",
        "requested_by",
    )

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ReservationAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        return self.readonly if obj else ReservationAddForm.Meta.fields

    def get_readonly_fields(self, request, obj=None):
        return self.readonly if obj else ()

    def has_delete_permission(self, request, obj=None):
        return False

    def save_form(self, request, form, change):
        return form.instance  # saved by reservation_create in save_model

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        reservation, result = reservation_create(
            station=data["station"],
            connector_number=data["connector_number"],
            id_tag=data["id_tag"],
            expires_at=data["expires_at"],
            requested_by=_who(request),
        )
        for field in Reservation._meta.concrete_fields:
            setattr(obj, field.attname, getattr(reservation, field.attname))
        obj._state.adding, obj._state.db = False, reservation._state.db
        _say(request, f"Reservation {reservation.pk} ({reservation.status})", result)

    def save_related(self, request, form, formsets, change):
        pass  # no inlines or many-to-many: reservation_create wrote everything

    @admin.action(description=_("Cancel reservation (tells the charger)"), permissions=["change"])
    def cancel_reservations(self, request, queryset):
        for reservation in queryset.select_related("station"):
            result = reservation_cancel(reservation=reservation, requested_by=_who(request))
            _say(request, f"Cancel reservation {reservation.pk} ({reservation.status})", result)


# --- charging profiles ----------------------------------------------------------


class AssignmentInline(TabularInline):
    model = ChargingProfileAssignment
    extra = 0
    can_delete = False
    fields = (
        "station",
        "connector_number",
        "status",
        "detail",
        "sent_at",
        "cleared_at",
        "command_id",
    )
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class ApplyProfileForm(forms.Form):
    station = forms.ModelChoiceField(queryset=Station.objects.all())
    connector_number = forms.IntegerField(
        min_value=0, initial=0, help_text=_("0 = the whole station")
    )


@admin.register(ChargingProfile)
class ChargingProfileAdmin(ModelAdmin):
    list_display = (
        "name",
        "charging_profile_id",
        "purpose",
        "kind",
        "stack_level",
        "charging_rate_unit",
        "installed_on",
    )
    list_filter = ("purpose", "kind")
    search_fields = ("name", "charging_profile_id")
    inlines = (AssignmentInline,)
    actions = ("apply_to_station", "clear_from_stations")
    readonly_fields = ("created_at", "updated_at")

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("assignments__station")

    @admin.display(description=_("installed on"))
    def installed_on(self, obj: ChargingProfile) -> str:
        return ", ".join(
            f"{a.station.identity}#{a.connector_number}"
            for a in obj.assignments.all()
            if a.status == a.Status.ACCEPTED
        )

    def get_actions(self, request):
        # deleting here would leave the profile on chargers: clear it first (below)
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def has_delete_permission(self, request, obj=None):
        installed = (
            obj is not None
            and obj.assignments.filter(status=ChargingProfileAssignment.Status.ACCEPTED).exists()
        )
        return not installed and super().has_delete_permission(request, obj)

    @admin.action(description=_("Apply to a station/connector"), permissions=["change"])
    def apply_to_station(self, request, queryset):
        form = ApplyProfileForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            station, connector = form.cleaned_data["station"], form.cleaned_data["connector_number"]
            for profile in queryset:
                label = f"{profile} on {station.identity}#{connector}"
                try:
                    result = charging_profile_apply(
                        profile=profile,
                        station=station,
                        connector_number=connector,
                        requested_by=_who(request),
                    )
                except ValidationError as exc:
                    messages.error(request, f"{label}: not sent: {' '.join(exc.messages)}")
                    continue
                _say(request, label, result)
            return None
        return TemplateResponse(
            request,
            "admin/stations/chargingprofile/apply.html",
            {
                **self.admin_site.each_context(request),
                "title": gettext("Apply charging profiles"),
                "opts": self.model._meta,
                "form": form,
                "profiles": queryset,
                "checkbox_name": ACTION_CHECKBOX_NAME,
                "action_name": "apply_to_station",
            },
        )

    @admin.action(description=_("Clear from stations where applied"), permissions=["change"])
    def clear_from_stations(self, request, queryset):
        for profile in queryset:
            installed = profile.assignments.filter(
                status=ChargingProfileAssignment.Status.ACCEPTED
            ).select_related("station")
            if not installed:
                messages.info(
                    request,
                    gettext("%(profile)s: not installed on any station") % {"profile": profile},
                )
            for assignment in installed:
                result = charging_profile_clear(
                    station=assignment.station, profile=profile, requested_by=_who(request)
                )
                _say(request, f"Clear {profile} from {assignment.station.identity}", result)


# --- local authorisation lists ----------------------------------------------------


@admin.register(LocalListState)
class LocalListStateAdmin(ModelAdmin):
    """What each charger's local list holds. Rows appear with a station's first sync
    (`manage.py sync_local_list <identity>`); updates are sent with the actions."""

    list_display = (
        "station",
        "version",
        "synced_at",
        "last_update_type",
        "truncated",
        "tag_count",
        "sync_started_at",
    )
    list_select_related = ("station",)
    search_fields = ("station__identity",)
    actions = ("send_differential", "send_full")

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    @admin.display(description=_("id tags"))
    def tag_count(self, obj: LocalListState) -> int:
        return len(obj.tags)

    def _sync(self, request, queryset, full: bool) -> None:
        for state in queryset.select_related("station"):
            result = local_list_sync(station=state.station, full=full, requested_by=_who(request))
            what = (
                f"{state.station.identity}: {result.update_type} list v{result.list_version}"
                f", {result.entries} entries" + (f" — {result.note}" if result.note else "")
            )
            _say(request, what, result)

    @admin.action(
        description=_("Send local list (differential when possible)"), permissions=["change"]
    )
    def send_differential(self, request, queryset):
        self._sync(request, queryset, full=False)

    @admin.action(description=_("Send full local list"), permissions=["change"])
    def send_full(self, request, queryset):
        self._sync(request, queryset, full=True)
