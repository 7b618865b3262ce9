"""The station page of the admin: a station, its connectors, its security, the commands an
operator sends it and the latest commands sent. In the cockpit because it joins stations
with the charger edge (command actions and the command log).

Writes that carry rules (creating a station, its password, approving it) go through
`stations.services`; liveness comes only from `stations.selectors`. The password hash is
never a form field nor shown: the admin only says whether one is set.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Prefetch
from django.urls import path
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin, TabularInline

from accounts.admin_scoping import OwnerScopedAdmin
from ocpp_bridge.admin import CommandRecordInline
from ocpp_bridge.admin_actions import StationCommandActions
from ocpp_bridge.admin_commands import send_command_view
from stations import credentials
from stations.models import Connector, Station
from stations.selectors import faulted_q, online_q, station_is_online
from stations.services import station_approve, station_create, station_set_password


class OnlineFilter(admin.SimpleListFilter):
    title = _("connection")
    parameter_name = "online"

    def lookups(self, request, model_admin):
        return (("yes", _("Online")), ("no", _("Offline")))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(online_q())
        if self.value() == "no":
            return queryset.exclude(online_q())
        return queryset


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


class StationAddForm(forms.ModelForm):
    """What `manage.py station_add` asks for; `StationAdmin.save_model` hands it to
    `station_create`, so both ways of onboarding a charger behave the same."""

    new_location = forms.CharField(
        max_length=200,
        required=False,
        label=_("Or a new location"),
        help_text=_("Name of a location to create (leave the choice above empty)."),
    )
    connectors = forms.IntegerField(
        min_value=1, max_value=32, initial=1, label=_("Number of connectors")
    )
    password = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=_("HTTP Basic password: 16-40 characters of A-Z a-z 0-9 * - _ = : + | @ ."),
    )
    generate_password = forms.BooleanField(
        required=False,
        initial=True,
        help_text=_("Generate a random password; it is shown once after saving."),
    )

    class Meta:
        model = Station
        fields = ("identity", "location", "security_profile", "allow_missing_subprotocol")

    def clean(self):
        data = super().clean()
        if bool(data.get("location")) == bool(data.get("new_location", "").strip()):
            self.add_error(
                "new_location", gettext("Choose an existing location or name a new one.")
            )
        password, generate = data.get("password"), data.get("generate_password")
        if bool(password) == bool(generate):
            self.add_error(
                "password", gettext("Type a password or tick 'generate password' (one).")
            )
        elif password and not credentials.PASSWORD_PATTERN.match(password):
            self.add_error("password", self.fields["password"].help_text)
        return data

    def location_name(self) -> str:
        location = self.cleaned_data.get("location")
        return location.name if location else self.cleaned_data["new_location"].strip()


class ConnectorInline(TabularInline):
    model = Connector
    extra = 0
    fields = (
        "number",
        "connector_type",
        "max_power_kw",
        "status",
        "error_code",
        "info",
        "status_at",
    )
    readonly_fields = ("status", "error_code", "info", "status_at")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("station")  # __str__ shows it


BOOT_FIELDS = (
    "vendor",
    "model",
    "charge_point_serial",
    "charge_box_serial",
    "firmware_version",
    "iccid",
    "imsi",
    "meter_type",
    "meter_serial",
    "last_boot_at",
    "boot_reason",
)
LIVENESS_FIELDS = (
    "online",
    "connected",
    "connection_channel",
    "connected_at",
    "disconnected_at",
    "last_heartbeat_at",
    "last_seen_at",
)
STATUS_FIELDS = (
    "status",
    "error_code",
    "status_info",
    "status_vendor_id",
    "status_vendor_error_code",
    "status_at",
)
# who may connect as this station: `stations.manage_station_security`, not `change_station`
SECURITY_FIELDS = (
    "registration_status",
    "security_profile",
    "allow_missing_subprotocol",
    "ocpp_version_pin",  # which protocol versions may connect
)
JOB_FIELDS = (
    "firmware_status",
    "firmware_request_id",
    "firmware_status_at",
    "diagnostics_status",
    "diagnostics_status_at",
    "log_status",
    "log_request_id",
    "log_status_at",
    "pending_csr",
    "csr_received_at",
)


@admin.register(Station)
class StationAdmin(OwnerScopedAdmin, StationCommandActions, ModelAdmin):
    list_display = (
        "identity",
        "location",
        "admin_status",
        "registration_status",
        "online",
        "last_heartbeat_at",
        "last_seen_at",
        "firmware_version",
        "vendor_model",
        "connector_statuses",
    )
    list_select_related = ("location",)
    list_filter = (
        "admin_status",
        "registration_status",
        OnlineFilter,
        FaultedFilter,
        "location",
        "vendor",
        "ocpp_version",
    )  # scoped for an owner
    search_fields = ("identity", "charge_point_serial", "charge_box_serial", "location__name")
    actions = ("rotate_password", "approve_registration", *StationCommandActions.command_actions)

    def get_urls(self):
        own = [
            path(
                "<int:station_id>/ocpp-command/",
                self.admin_site.admin_view(send_command_view),
                name="stations_station_send_command",
            )
        ]
        return own + super().get_urls()

    inlines = (ConnectorInline, CommandRecordInline)
    fieldsets = (
        (
            _("Identity and location"),
            {
                "fields": (
                    "identity",
                    "location",
                    "admin_status",
                    "registration_status",
                    "max_power_kw",
                    "ocpp_version",
                )
            },
        ),
        (
            _("Credentials"),
            {
                "fields": (
                    "security_profile",
                    "allow_missing_subprotocol",
                    "ocpp_version_pin",
                    "password_set",
                )
            },
        ),
        (_("Boot information"), {"fields": BOOT_FIELDS}),
        (_("Liveness"), {"fields": LIVENESS_FIELDS}),
        (_("Station status (connector 0)"), {"fields": STATUS_FIELDS}),
        (_("Jobs"), {"classes": ("collapse",), "fields": JOB_FIELDS}),
        (
            _("Configuration read from the charger"),
            {"classes": ("collapse",), "fields": ("configuration",)},
        ),
        (_("Record"), {"fields": ("created_at", "updated_at")}),
    )
    add_fieldsets = (
        (None, {"fields": ("identity", "location", "new_location", "connectors")}),
        (
            _("Credentials"),
            {
                "fields": (
                    "password",
                    "generate_password",
                    "security_profile",
                    "allow_missing_subprotocol",
                )
            },
        ),
    )
    # identity is what the charger logs in with: set once, at creation
    change_readonly_fields = (
        "identity",
        "ocpp_version",
        "password_set",
        *BOOT_FIELDS,
        *LIVENESS_FIELDS,
        *STATUS_FIELDS,
        *JOB_FIELDS,
        "configuration",
        "created_at",
        "updated_at",
    )

    def get_queryset(self, request):
        connectors = Connector.objects.order_by("number")
        return (
            super()
            .get_queryset(request)
            .prefetch_related(Prefetch("connectors", queryset=connectors))
        )

    def get_fieldsets(self, request, obj=None):
        return self.fieldsets if obj else self.add_fieldsets

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        if self.has_manage_security_permission(request):
            return self.change_readonly_fields
        return (*self.change_readonly_fields, *SECURITY_FIELDS)

    def has_manage_security_permission(self, request) -> bool:
        return request.user.has_perm("stations.manage_station_security")

    def get_inlines(self, request, obj):
        return self.inlines if obj else ()  # connectors are created from the count

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = StationAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    # --- list columns -----------------------------------------------------------

    @admin.display(description=_("online"))
    def online(self, obj: Station) -> str:
        return "ONLINE" if station_is_online(obj) else "OFFLINE"

    @admin.display(description=_("vendor / model"))
    def vendor_model(self, obj: Station) -> str:
        return f"{obj.vendor} {obj.model}".strip()

    @admin.display(description=_("connectors"))
    def connector_statuses(self, obj: Station) -> str:
        # .all() reads the prefetched, ordered list: no query per row
        return ", ".join(f"{c.number}: {c.status}" for c in obj.connectors.all())

    @admin.display(description=_("password set"), boolean=True)
    def password_set(self, obj: Station) -> bool:
        return bool(obj.password_hash)

    # --- saving -----------------------------------------------------------------

    def save_form(self, request, form, change):
        if change:
            return super().save_form(request, form, change)
        return form.instance  # not saved here: save_model creates it through the service

    def save_model(self, request, obj, form, change):
        if change:
            # Only the edited columns: a full save would write back liveness and status
            # that the charger's connection may have updated during this request.
            if form.changed_data:
                obj.save(update_fields=[*form.changed_data, "updated_at"])
            return
        data = form.cleaned_data
        created = station_create(
            identity=data["identity"],
            location_name=form.location_name(),
            connectors=data["connectors"],
            password=data["password"] or None,
            generate_password=data["generate_password"],
            security_profile=data["security_profile"],
            allow_missing_subprotocol=data["allow_missing_subprotocol"],
        )
        # the admin goes on with `obj` (history entry, redirect): make it the saved row
        for field in Station._meta.concrete_fields:
            setattr(obj, field.attname, getattr(created.station, field.attname))
        obj._state.adding, obj._state.db = False, created.station._state.db
        if created.password:
            messages.success(
                request,
                gettext(
                    "Password for %(identity)s (shown once, store it in the charger now): "
                    "%(password)s"
                )
                % {"identity": obj.identity, "password": created.password},
            )

    def save_related(self, request, form, formsets, change):
        if change:  # a new station has no inlines or many-to-many: station_create did it all
            super().save_related(request, form, formsets, change)

    def save_formset(self, request, form, formset, change):
        if formset.model is not Connector:
            return super().save_formset(request, form, formset, change)
        formset.save(commit=False)
        for connector in formset.deleted_objects:
            connector.delete()
        for connector in formset.new_objects:
            connector.save()
        # as above: never write back the status columns the charger keeps current
        for connector, fields in formset.changed_objects:
            connector.save(update_fields=[*fields, "updated_at"])

    # --- actions ----------------------------------------------------------------

    @admin.action(description=_("Rotate password (generate new)"), permissions=["manage_security"])
    def rotate_password(self, request, queryset):
        for station in queryset:
            password = station_set_password(station=station)
            messages.success(
                request,
                gettext(
                    "New password for %(identity)s (shown once; the charger is refused until it "
                    "has it): %(password)s"
                )
                % {"identity": station.identity, "password": password},
            )

    @admin.action(description=_("Approve pending registration"), permissions=["manage_security"])
    def approve_registration(self, request, queryset):
        pending = list(queryset.filter(registration_status=Station.Registration.PENDING))
        for station in pending:
            station_approve(station=station)
        skipped = queryset.count() - len(pending)
        messages.success(
            request,
            gettext(
                "Approved %(count)s station(s); they are accepted at their next BootNotification."
            )
            % {"count": len(pending)}
            + (
                gettext(" %(skipped)s were not pending and were left as they are.")
                % {"skipped": skipped}
                if skipped
                else ""
            ),
        )
