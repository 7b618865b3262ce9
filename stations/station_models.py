"""Locations, charge points, connectors and id tags; what we keep installed on chargers
(local authorisation list, reservations, charging profiles).

Liveness is deliberately not a stored boolean: `selectors.station_is_online` derives
it from the socket flag plus the last message time, the one source of truth.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from evpower.display_names import display_names
from stations.charging_profile_rules import profile_as_ocpp, profile_errors

IDENTITY_PATTERN = r"^[A-Za-z0-9._-]{1,48}$"
identity_validator = RegexValidator(IDENTITY_PATTERN, _("1-48 characters of A-Z a-z 0-9 . _ -"))


class Location(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        INACTIVE = "inactive", _("Inactive")
        UNDER_CONSTRUCTION = "under_construction", _("Under Construction")

    name = models.CharField(max_length=200, unique=True)
    address = models.CharField(max_length=300, blank=True)
    city = models.CharField(max_length=100, blank=True)
    latitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    time_zone = models.CharField(max_length=64, default="Asia/Bishkek")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    opening_hours = models.CharField(max_length=200, blank=True, default="24/7")
    # the site owner's staff account: in the admin, the "owner" role sees only its own
    # locations (accounts/admin_scoping.py). PROTECT: deleting the account must be a decision
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="owned_locations",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        # the map's nearby search prefilters on a latitude/longitude bounding box
        indexes = [models.Index(fields=["latitude", "longitude"], name="location_coords")]

    def __str__(self) -> str:
        return self.name


class Station(models.Model):
    class AdminStatus(models.TextChoices):
        ACTIVE = "active", _("Active")
        INACTIVE = "inactive", _("Inactive")
        MAINTENANCE = "maintenance", pgettext_lazy("station status", "Maintenance")

    class Registration(models.TextChoices):
        ACCEPTED = "Accepted", _("Accepted")
        PENDING = "Pending", _("Pending")  # auto-registered, waiting for an operator
        REJECTED = "Rejected", _("Rejected")

    class SecurityProfile(models.IntegerChoices):
        BASIC = 1, _("1: Basic auth")
        BASIC_TLS = 2, _("2: Basic auth over TLS")
        CLIENT_CERT = 3, _("3: TLS client certificate")

    identity = models.CharField(max_length=48, unique=True, validators=[identity_validator])
    location = models.ForeignKey(
        Location, on_delete=models.PROTECT, null=True, blank=True, related_name="stations"
    )
    admin_status = models.CharField(
        max_length=20, choices=AdminStatus.choices, default=AdminStatus.ACTIVE
    )
    registration_status = models.CharField(
        max_length=10, choices=Registration.choices, default=Registration.ACCEPTED
    )
    max_power_kw = models.DecimalField(max_digits=7, decimal_places=2, null=True, blank=True)

    # the OCPP version it last spoke, chosen by the subprotocol at each connection; an
    # operator may pin it to one version (the other is then refused at the handshake)
    ocpp_version = models.CharField(max_length=8, default="1.6")
    ocpp_version_pin = models.CharField(
        max_length=8, blank=True, choices=[("1.6", "OCPP 1.6"), ("2.0.1", "OCPP 2.0.1")]
    )
    boot_reason = models.CharField(max_length=30, blank=True)  # 2.0.1's BootNotification

    # credentials (security profiles 1-3); only a salted hash is kept
    security_profile = models.PositiveSmallIntegerField(
        choices=SecurityProfile.choices, default=SecurityProfile.BASIC
    )
    password_hash = models.CharField(max_length=200, blank=True)
    allow_missing_subprotocol = models.BooleanField(
        default=False, help_text=_("Some 1.6 chargers offer no WebSocket subprotocol.")
    )

    # what the charger told us in BootNotification
    vendor = models.CharField(max_length=20, blank=True)
    model = models.CharField(max_length=20, blank=True)
    charge_point_serial = models.CharField(max_length=25, blank=True)
    charge_box_serial = models.CharField(max_length=25, blank=True)
    firmware_version = models.CharField(max_length=50, blank=True)
    iccid = models.CharField(max_length=20, blank=True)
    imsi = models.CharField(max_length=20, blank=True)
    meter_type = models.CharField(max_length=25, blank=True)
    meter_serial = models.CharField(max_length=25, blank=True)
    last_boot_at = models.DateTimeField(null=True, blank=True)

    # connection and liveness inputs
    connected = models.BooleanField(default=False)
    connection_channel = models.CharField(max_length=200, blank=True)
    connected_at = models.DateTimeField(null=True, blank=True)
    disconnected_at = models.DateTimeField(null=True, blank=True)
    last_heartbeat_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)

    # StatusNotification for connectorId 0: the station as a whole
    status = models.CharField(max_length=20, blank=True)
    error_code = models.CharField(max_length=30, blank=True)
    status_info = models.CharField(max_length=50, blank=True)
    status_vendor_id = models.CharField(max_length=255, blank=True)
    status_vendor_error_code = models.CharField(max_length=50, blank=True)
    status_at = models.DateTimeField(null=True, blank=True)

    # jobs the charger reports on
    firmware_status = models.CharField(max_length=40, blank=True)
    firmware_request_id = models.IntegerField(null=True, blank=True)
    firmware_status_at = models.DateTimeField(null=True, blank=True)
    diagnostics_status = models.CharField(max_length=20, blank=True)
    diagnostics_status_at = models.DateTimeField(null=True, blank=True)
    log_status = models.CharField(max_length=30, blank=True)
    log_request_id = models.IntegerField(null=True, blank=True)
    log_status_at = models.DateTimeField(null=True, blank=True)
    pending_csr = models.TextField(blank=True)
    csr_received_at = models.DateTimeField(null=True, blank=True)

    configuration = models.JSONField(
        default=dict, blank=True, help_text=_("Configuration keys last read from the charger.")
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["identity"]
        # what locks a charger in or out (password, approval, security profile): not part
        # of `change_station`, which a site owner has for its own stations
        permissions = [
            (
                "manage_station_security",
                "Can rotate station passwords, approve registrations and change security settings",
            )
        ]

    def __str__(self) -> str:
        return self.identity


class Connector(models.Model):
    class Type(models.TextChoices):
        TYPE2 = "Type2"
        CCS2 = "CCS2"
        CHADEMO = "CHAdeMO"
        GBT_AC = "GB/T AC"
        GBT_DC = "GB/T DC"
        TYPE1 = "Type1"

    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="connectors")
    number = models.PositiveSmallIntegerField(help_text=_("OCPP connectorId (1 and up)"))
    connector_type = models.CharField(max_length=10, choices=Type.choices, default=Type.TYPE2)
    max_power_kw = models.DecimalField(max_digits=7, decimal_places=2, null=True, blank=True)
    status = models.CharField(max_length=20, default="Unknown")
    error_code = models.CharField(max_length=30, blank=True, default="NoError")
    info = models.CharField(max_length=50, blank=True)
    vendor_id = models.CharField(max_length=255, blank=True)
    vendor_error_code = models.CharField(max_length=50, blank=True)
    status_at = models.DateTimeField(
        null=True, blank=True, help_text=_("The charger's timestamp of the status shown.")
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["station", "number"]
        constraints = [
            models.UniqueConstraint(fields=["station", "number"], name="uniq_connector_number"),
            models.CheckConstraint(
                condition=models.Q(number__gte=1), name="connector_number_gte_1"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.station.identity}#{self.number}"


class IdTag(models.Model):
    class Status(models.TextChoices):
        ACCEPTED = "Accepted", pgettext_lazy("id tag status", "Accepted")
        BLOCKED = "Blocked", pgettext_lazy("id tag status", "Blocked")
        EXPIRED = "Expired", pgettext_lazy("id tag status", "Expired")
        INVALID = "Invalid", pgettext_lazy("id tag status", "Invalid")

    class Kind(models.TextChoices):
        RFID = "rfid", _("RFID card")
        APP = "app", _("app tag")

    # 36: OCPP 2.0.1's idToken; a 1.6 charger sees up to 20 (longer ones it cannot send)
    id_tag = models.CharField(max_length=36, unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACCEPTED)
    expiry_date = models.DateTimeField(null=True, blank=True)
    parent = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="children"
    )
    # whose wallet pays for charging with this tag (app tags are issued per client; an RFID
    # card without an owner can charge only where an operator reviews it)
    client = models.ForeignKey(
        "accounts.Client", on_delete=models.PROTECT, null=True, blank=True, related_name="id_tags"
    )
    kind = models.CharField(max_length=5, choices=Kind.choices, default=Kind.RFID)
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # differential local-list updates send the tags changed since the last one
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["id_tag"]
        verbose_name = _("id tag")

    def __str__(self) -> str:
        return self.id_tag


class LocalListState(models.Model):
    """The local authorisation list we believe a charger holds.

    A row of its own rather than columns on Station: syncs claim it with a conditional
    UPDATE, and the Station row is written constantly by the charger's connection
    (liveness, status) and by operators — neither should contend with a list update.
    """

    station = models.OneToOneField(
        Station, on_delete=models.CASCADE, primary_key=True, related_name="local_list"
    )
    version = models.IntegerField(default=0, help_text=_("listVersion the charger last accepted"))
    synced_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=_("When the list the charger last accepted was read from the id tags."),
    )
    tags = models.JSONField(
        default=list, blank=True, help_text=_("id tags the charger's list holds after that update")
    )
    last_update_type = models.CharField(max_length=12, blank=True)
    truncated = models.BooleanField(
        default=False, help_text=_("The last list was cut to the charger's SendLocalListMaxLength.")
    )
    sync_started_at = models.DateTimeField(
        null=True, blank=True, help_text=_("Set while an update is under way (one at a time).")
    )

    class Meta:
        verbose_name = _("local list state")

    def __str__(self) -> str:
        return f"{self.station_id}: v{self.version}"


class Reservation(models.Model):
    """A ReserveNow. The primary key, from a database sequence, IS the OCPP reservationId."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")  # created, ReserveNow under way
        ACCEPTED = "accepted", _("Accepted")
        REJECTED = "rejected", _("Rejected")
        FAULTED = "faulted", pgettext_lazy("reservation status", "Faulted")
        OCCUPIED = "occupied", pgettext_lazy("reservation status", "Occupied")
        UNAVAILABLE = "unavailable", pgettext_lazy("reservation status", "Unavailable")
        FAILED = "failed", _("Failed")  # no answer: offline, timeout, busy, CALLERROR
        USED = "used", pgettext_lazy("reservation status", "Used")  # a StartTransaction consumed it
        CANCELLED = "cancelled", _("Cancelled")
        EXPIRED = "expired", _("Expired")

    id = models.AutoField(primary_key=True)  # 32-bit: reservationId is an OCPP integer
    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="reservations")
    connector_number = models.PositiveSmallIntegerField(help_text=_("0 = any connector"))
    id_tag = models.CharField(max_length=20)
    parent_id_tag = models.CharField(max_length=20, blank=True)
    expires_at = models.DateTimeField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    charger_status = models.CharField(
        max_length=20, blank=True, help_text=_("The charger's answer to ReserveNow")
    )
    transaction_id = models.IntegerField(
        null=True, blank=True, help_text=_("The OCPP transaction that used it")
    )
    ended_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=_("When it stopped holding the connector (used, cancelled, expired)"),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    requested_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["station", "connector_number", "status"]),
            models.Index(fields=["status", "expires_at"]),
        ]

    def __str__(self) -> str:
        return (
            f"reservation {self.pk}: {self.station.identity}#{self.connector_number} "
            f"for {self.id_tag}"
        )


class ChargingProfile(models.Model):
    """A charging profile as operators define it; `as_ocpp()` is the csChargingProfiles
    object sent in SetChargingProfile. Limits are kept at 0.1 resolution because the 1.6
    schema makes them multipleOf 0.1."""

    class Purpose(models.TextChoices):
        CHARGE_POINT_MAX = "ChargePointMaxProfile", _("Charge Point Max")
        TX_DEFAULT = "TxDefaultProfile", _("Tx Default")
        TX = "TxProfile", _("Tx")

    class Kind(models.TextChoices):
        ABSOLUTE = "Absolute", _("Absolute")
        RECURRING = "Recurring", _("Recurring")
        RELATIVE = "Relative", _("Relative")

    class Recurrency(models.TextChoices):
        DAILY = "Daily", _("Daily")
        WEEKLY = "Weekly", _("Weekly")

    class RateUnit(models.TextChoices):
        AMPERE = "A", _("Ampere")
        WATT = "W", _("Watt")

    name = models.CharField(max_length=100)
    charging_profile_id = models.PositiveIntegerField(
        unique=True,
        help_text=_(
            "OCPP chargingProfileId; a charger replaces a profile it holds with the same id."
        ),
    )
    stack_level = models.PositiveSmallIntegerField(default=0)
    purpose = models.CharField(max_length=24, choices=Purpose.choices)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.ABSOLUTE)
    recurrency_kind = models.CharField(max_length=8, choices=Recurrency.choices, blank=True)
    valid_from = models.DateTimeField(null=True, blank=True)
    valid_to = models.DateTimeField(null=True, blank=True)
    charging_rate_unit = models.CharField(
        max_length=1, choices=RateUnit.choices, default=RateUnit.AMPERE
    )
    schedule_periods = models.JSONField(
        default=list,
        help_text=_(
            'e.g. [{"startPeriod": 0, "limit": 16.0, "numberPhases": 3}]; '
            "startPeriod in seconds from the schedule's start"
        ),
    )
    duration = models.PositiveIntegerField(null=True, blank=True, help_text=_("seconds"))
    start_schedule = models.DateTimeField(null=True, blank=True)
    min_charging_rate = models.DecimalField(max_digits=8, decimal_places=1, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["charging_profile_id"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(kind="Recurring") | ~models.Q(recurrency_kind=""),
                name="recurring_profile_has_recurrency",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} (#{self.charging_profile_id})"

    def clean(self) -> None:

        errors = profile_errors(self)
        if errors:
            raise ValidationError(errors)

    def as_ocpp(self, *, transaction_id: int | None = None) -> dict:

        return profile_as_ocpp(self, transaction_id=transaction_id)


class ChargingProfileAssignment(models.Model):
    """What a station answered when a profile was set on one of its connectors."""

    class Status(models.TextChoices):
        ACCEPTED = "Accepted", _("Accepted")
        REJECTED = "Rejected", _("Rejected")
        NOT_SUPPORTED = "NotSupported", _("Not Supported")
        # offline, timeout, busy, CALLERROR, invalid
        NOT_DELIVERED = "NotDelivered", _("Not Delivered")
        REPLACED = "Replaced", _("Replaced")  # a later profile took its place on the charger
        CLEARED = "Cleared", _("Cleared")

    profile = models.ForeignKey(
        ChargingProfile, on_delete=models.CASCADE, related_name="assignments"
    )
    station = models.ForeignKey(
        Station, on_delete=models.CASCADE, related_name="charging_profile_assignments"
    )
    connector_number = models.PositiveSmallIntegerField(help_text=_("0 = the whole station"))
    status = models.CharField(max_length=12, choices=Status.choices)
    detail = models.CharField(max_length=300, blank=True)
    command_id = models.IntegerField(null=True, blank=True)
    sent_at = models.DateTimeField()
    cleared_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-sent_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["profile", "station", "connector_number"], name="uniq_profile_assignment"
            )
        ]

    def __str__(self) -> str:
        return f"{self.profile_id} on {self.station_id}#{self.connector_number}: {self.status}"


display_names(
    Location,
    _("location"),
    _("locations"),
    {
        "name": _("name"),
        "address": _("address"),
        "city": _("city"),
        "latitude": _("latitude"),
        "longitude": _("longitude"),
        "time_zone": _("time zone"),
        "status": _("status"),
        "opening_hours": _("opening hours"),
        "owner": _("owner"),
        "created_at": _("created at"),
    },
)

display_names(
    Station,
    _("station"),
    _("stations"),
    {
        "identity": _("identity"),
        "location": _("location"),
        "admin_status": _("admin status"),
        "registration_status": _("registration status"),
        "max_power_kw": _("max power (kW)"),
        "ocpp_version": _("OCPP version"),
        "ocpp_version_pin": _("OCPP version pinned"),
        "boot_reason": _("boot reason"),
        "security_profile": _("security profile"),
        "password_hash": _("password hash"),
        "allow_missing_subprotocol": _("allow missing subprotocol"),
        "vendor": _("vendor"),
        "model": _("model"),
        "charge_point_serial": _("charge point serial"),
        "charge_box_serial": _("charge box serial"),
        "firmware_version": _("firmware version"),
        "iccid": _("ICCID"),
        "imsi": _("IMSI"),
        "meter_type": _("meter type"),
        "meter_serial": _("meter serial"),
        "last_boot_at": _("last boot at"),
        "connected": _("connected"),
        "connection_channel": _("connection channel"),
        "connected_at": _("connected at"),
        "disconnected_at": _("disconnected at"),
        "last_heartbeat_at": _("last heartbeat at"),
        "last_seen_at": _("last seen at"),
        "status": _("status"),
        "error_code": _("error code"),
        "status_info": _("status info"),
        "status_vendor_id": _("status vendor ID"),
        "status_vendor_error_code": _("status vendor error code"),
        "status_at": _("status at"),
        "firmware_status": _("firmware status"),
        "firmware_request_id": _("firmware request ID"),
        "firmware_status_at": _("firmware status at"),
        "diagnostics_status": _("diagnostics status"),
        "diagnostics_status_at": _("diagnostics status at"),
        "log_status": _("log status"),
        "log_request_id": _("log request ID"),
        "log_status_at": _("log status at"),
        "pending_csr": _("pending CSR"),
        "csr_received_at": _("CSR received at"),
        "configuration": _("configuration"),
        "created_at": _("created at"),
        "updated_at": _("updated at"),
    },
)

display_names(
    Connector,
    _("connector"),
    _("connectors"),
    {
        "station": _("station"),
        "number": _("number"),
        "connector_type": _("connector type"),
        "max_power_kw": _("max power (kW)"),
        "status": _("status"),
        "error_code": _("error code"),
        "info": _("info"),
        "vendor_id": _("vendor ID"),
        "vendor_error_code": _("vendor error code"),
        "status_at": _("status at"),
        "updated_at": _("updated at"),
    },
)

display_names(
    IdTag,
    _("id tag"),
    _("id tags"),
    {
        "id_tag": _("id tag"),
        "status": _("status"),
        "expiry_date": _("expiry date"),
        "parent": _("parent"),
        "client": _("client"),
        "kind": _("kind"),
        "note": _("note"),
        "created_at": _("created at"),
        "updated_at": _("updated at"),
    },
)

display_names(
    LocalListState,
    _("local list state"),
    _("local list states"),
    {
        "station": _("station"),
        "version": _("version"),
        "synced_at": _("synced at"),
        "tags": _("tags"),
        "last_update_type": _("last update type"),
        "truncated": _("truncated"),
        "sync_started_at": _("sync started at"),
    },
)

display_names(
    Reservation,
    _("reservation"),
    _("reservations"),
    {
        "id": _("ID"),
        "station": _("station"),
        "connector_number": _("connector number"),
        "id_tag": _("id tag"),
        "parent_id_tag": _("parent id tag"),
        "expires_at": _("expires at"),
        "status": _("status"),
        "charger_status": _("charger status"),
        "transaction_id": _("transaction ID"),
        "ended_at": _("ended at"),
        "created_at": _("created at"),
        "requested_by": _("requested by"),
    },
)

display_names(
    ChargingProfile,
    _("charging profile"),
    _("charging profiles"),
    {
        "name": _("name"),
        "charging_profile_id": _("charging profile ID"),
        "stack_level": _("stack level"),
        "purpose": _("purpose"),
        "kind": _("kind"),
        "recurrency_kind": _("recurrency kind"),
        "valid_from": _("valid from"),
        "valid_to": _("valid to"),
        "charging_rate_unit": _("charging rate unit"),
        "schedule_periods": _("schedule periods"),
        "duration": _("duration"),
        "start_schedule": _("start schedule"),
        "min_charging_rate": _("min charging rate"),
        "created_at": _("created at"),
        "updated_at": _("updated at"),
    },
)

display_names(
    ChargingProfileAssignment,
    _("charging profile assignment"),
    _("charging profile assignments"),
    {
        "profile": _("profile"),
        "station": _("station"),
        "connector_number": _("connector number"),
        "status": _("status"),
        "detail": _("detail"),
        "command_id": _("command ID"),
        "sent_at": _("sent at"),
        "cleared_at": _("cleared at"),
    },
)
