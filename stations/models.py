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

IDENTITY_PATTERN = r"^[A-Za-z0-9._-]{1,48}$"
identity_validator = RegexValidator(IDENTITY_PATTERN, "1-48 characters of A-Z a-z 0-9 . _ -")


class Location(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active"
        INACTIVE = "inactive"
        UNDER_CONSTRUCTION = "under_construction"

    name = models.CharField(max_length=200, unique=True)
    address = models.CharField(max_length=300, blank=True)
    city = models.CharField(max_length=100, blank=True)
    latitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    time_zone = models.CharField(max_length=64, default="Asia/Bishkek")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    opening_hours = models.CharField(max_length=200, blank=True, default="24/7")
    # the site owner's staff account: in the admin, the "owner" role sees only its own
    # locations (evpower/admin_scoping.py). PROTECT: deleting the account must be a decision
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True,
                              blank=True, related_name="owned_locations")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        # the map's nearby search prefilters on a latitude/longitude bounding box
        indexes = [models.Index(fields=["latitude", "longitude"], name="location_coords")]

    def __str__(self) -> str:
        return self.name


class Station(models.Model):
    class AdminStatus(models.TextChoices):
        ACTIVE = "active"
        INACTIVE = "inactive"
        MAINTENANCE = "maintenance"

    class Registration(models.TextChoices):
        ACCEPTED = "Accepted"
        PENDING = "Pending"  # auto-registered, waiting for an operator
        REJECTED = "Rejected"

    class SecurityProfile(models.IntegerChoices):
        BASIC = 1, "1: Basic auth"
        BASIC_TLS = 2, "2: Basic auth over TLS"
        CLIENT_CERT = 3, "3: TLS client certificate"

    identity = models.CharField(max_length=48, unique=True, validators=[identity_validator])
    location = models.ForeignKey(Location, on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="stations")
    admin_status = models.CharField(max_length=20, choices=AdminStatus.choices,
                                    default=AdminStatus.ACTIVE)
    registration_status = models.CharField(max_length=10, choices=Registration.choices,
                                           default=Registration.ACCEPTED)
    max_power_kw = models.DecimalField(max_digits=7, decimal_places=2, null=True, blank=True)

    # credentials (security profiles 1-3); only a salted hash is kept
    ocpp_version = models.CharField(max_length=8, default="1.6")
    security_profile = models.PositiveSmallIntegerField(choices=SecurityProfile.choices,
                                                        default=SecurityProfile.BASIC)
    password_hash = models.CharField(max_length=200, blank=True)
    allow_missing_subprotocol = models.BooleanField(
        default=False, help_text="Some 1.6 chargers offer no WebSocket subprotocol.")

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

    configuration = models.JSONField(default=dict, blank=True,
                                     help_text="Configuration keys last read from the charger.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["identity"]
        # what locks a charger in or out (password, approval, security profile): not part
        # of `change_station`, which a site owner has for its own stations
        permissions = [("manage_station_security",
                        "Can rotate station passwords, approve registrations and change "
                        "security settings")]

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
    number = models.PositiveSmallIntegerField(help_text="OCPP connectorId (1 and up)")
    connector_type = models.CharField(max_length=10, choices=Type.choices, default=Type.TYPE2)
    max_power_kw = models.DecimalField(max_digits=7, decimal_places=2, null=True, blank=True)
    status = models.CharField(max_length=20, default="Unknown")
    error_code = models.CharField(max_length=30, blank=True, default="NoError")
    info = models.CharField(max_length=50, blank=True)
    vendor_id = models.CharField(max_length=255, blank=True)
    vendor_error_code = models.CharField(max_length=50, blank=True)
    status_at = models.DateTimeField(null=True, blank=True,
                                     help_text="The charger's timestamp of the status shown.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["station", "number"]
        constraints = [
            models.UniqueConstraint(fields=["station", "number"], name="uniq_connector_number"),
            models.CheckConstraint(condition=models.Q(number__gte=1),
                                   name="connector_number_gte_1"),
        ]

    def __str__(self) -> str:
        return f"{self.station.identity}#{self.number}"


class IdTag(models.Model):
    class Status(models.TextChoices):
        ACCEPTED = "Accepted"
        BLOCKED = "Blocked"
        EXPIRED = "Expired"
        INVALID = "Invalid"

    class Kind(models.TextChoices):
        RFID = "rfid", "RFID card"
        APP = "app", "app tag"

    id_tag = models.CharField(max_length=20, unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACCEPTED)
    expiry_date = models.DateTimeField(null=True, blank=True)
    parent = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True,
                               related_name="children")
    # whose wallet pays for charging with this tag (app tags are issued per client; an RFID
    # card without an owner can charge only where an operator reviews it)
    client = models.ForeignKey("accounts.Client", on_delete=models.PROTECT, null=True,
                               blank=True, related_name="id_tags")
    kind = models.CharField(max_length=5, choices=Kind.choices, default=Kind.RFID)
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # differential local-list updates send the tags changed since the last one
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["id_tag"]
        verbose_name = "id tag"

    def __str__(self) -> str:
        return self.id_tag


class LocalListState(models.Model):
    """The local authorisation list we believe a charger holds.

    A row of its own rather than columns on Station: syncs claim it with a conditional
    UPDATE, and the Station row is written constantly by the charger's connection
    (liveness, status) and by operators — neither should contend with a list update.
    """

    station = models.OneToOneField(Station, on_delete=models.CASCADE, primary_key=True,
                                   related_name="local_list")
    version = models.IntegerField(default=0, help_text="listVersion the charger last accepted")
    synced_at = models.DateTimeField(
        null=True, blank=True,
        help_text="When the list the charger last accepted was read from the id tags.")
    tags = models.JSONField(default=list, blank=True,
                            help_text="id tags the charger's list holds after that update")
    last_update_type = models.CharField(max_length=12, blank=True)
    truncated = models.BooleanField(
        default=False, help_text="The last list was cut to the charger's SendLocalListMaxLength.")
    sync_started_at = models.DateTimeField(
        null=True, blank=True, help_text="Set while an update is under way (one at a time).")

    class Meta:
        verbose_name = "local list state"

    def __str__(self) -> str:
        return f"{self.station_id}: v{self.version}"


class Reservation(models.Model):
    """A ReserveNow. The primary key, from a database sequence, IS the OCPP reservationId."""

    class Status(models.TextChoices):
        PENDING = "pending"  # created, ReserveNow under way
        ACCEPTED = "accepted"
        REJECTED = "rejected"
        FAULTED = "faulted"
        OCCUPIED = "occupied"
        UNAVAILABLE = "unavailable"
        FAILED = "failed"  # no answer: offline, timeout, busy, CALLERROR
        USED = "used"  # a StartTransaction consumed it
        CANCELLED = "cancelled"
        EXPIRED = "expired"

    id = models.AutoField(primary_key=True)  # 32-bit: reservationId is an OCPP integer
    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="reservations")
    connector_number = models.PositiveSmallIntegerField(help_text="0 = any connector")
    id_tag = models.CharField(max_length=20)
    parent_id_tag = models.CharField(max_length=20, blank=True)
    expires_at = models.DateTimeField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    charger_status = models.CharField(max_length=20, blank=True,
                                      help_text="The charger's answer to ReserveNow")
    transaction_id = models.IntegerField(null=True, blank=True,
                                         help_text="The OCPP transaction that used it")
    ended_at = models.DateTimeField(
        null=True, blank=True, help_text="When it stopped holding the connector (used, "
                                         "cancelled, expired)")
    created_at = models.DateTimeField(auto_now_add=True)
    requested_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["station", "connector_number", "status"]),
                   models.Index(fields=["status", "expires_at"])]

    def __str__(self) -> str:
        return f"reservation {self.pk}: {self.station.identity}#{self.connector_number} " \
               f"for {self.id_tag}"


class ChargingProfile(models.Model):
    """A charging profile as operators define it; `as_ocpp()` is the csChargingProfiles
    object sent in SetChargingProfile. Limits are kept at 0.1 resolution because the 1.6
    schema makes them multipleOf 0.1."""

    class Purpose(models.TextChoices):
        CHARGE_POINT_MAX = "ChargePointMaxProfile"
        TX_DEFAULT = "TxDefaultProfile"
        TX = "TxProfile"

    class Kind(models.TextChoices):
        ABSOLUTE = "Absolute"
        RECURRING = "Recurring"
        RELATIVE = "Relative"

    class Recurrency(models.TextChoices):
        DAILY = "Daily"
        WEEKLY = "Weekly"

    class RateUnit(models.TextChoices):
        AMPERE = "A"
        WATT = "W"

    name = models.CharField(max_length=100)
    charging_profile_id = models.PositiveIntegerField(
        unique=True, help_text="OCPP chargingProfileId; a charger replaces a profile it "
                               "holds with the same id.")
    stack_level = models.PositiveSmallIntegerField(default=0)
    purpose = models.CharField(max_length=24, choices=Purpose.choices)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.ABSOLUTE)
    recurrency_kind = models.CharField(max_length=8, choices=Recurrency.choices, blank=True)
    valid_from = models.DateTimeField(null=True, blank=True)
    valid_to = models.DateTimeField(null=True, blank=True)
    charging_rate_unit = models.CharField(max_length=1, choices=RateUnit.choices,
                                          default=RateUnit.AMPERE)
    schedule_periods = models.JSONField(
        default=list, help_text='e.g. [{"startPeriod": 0, "limit": 16.0, "numberPhases": 3}]; '
                                "startPeriod in seconds from the schedule's start")
    duration = models.PositiveIntegerField(null=True, blank=True, help_text="seconds")
    start_schedule = models.DateTimeField(null=True, blank=True)
    min_charging_rate = models.DecimalField(max_digits=8, decimal_places=1, null=True,
                                            blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["charging_profile_id"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(kind="Recurring") | ~models.Q(recurrency_kind=""),
                name="recurring_profile_has_recurrency"),
        ]

    def __str__(self) -> str:
        return f"{self.name} (#{self.charging_profile_id})"

    def clean(self) -> None:
        from .charging_profile_rules import profile_errors

        errors = profile_errors(self)
        if errors:
            raise ValidationError(errors)

    def as_ocpp(self, *, transaction_id: int | None = None) -> dict:
        from .charging_profile_rules import profile_as_ocpp

        return profile_as_ocpp(self, transaction_id=transaction_id)


class ChargingProfileAssignment(models.Model):
    """What a station answered when a profile was set on one of its connectors."""

    class Status(models.TextChoices):
        ACCEPTED = "Accepted"
        REJECTED = "Rejected"
        NOT_SUPPORTED = "NotSupported"
        NOT_DELIVERED = "NotDelivered"  # offline, timeout, busy, CALLERROR, invalid
        REPLACED = "Replaced"  # a later profile took its place on the charger
        CLEARED = "Cleared"

    profile = models.ForeignKey(ChargingProfile, on_delete=models.CASCADE,
                                related_name="assignments")
    station = models.ForeignKey(Station, on_delete=models.CASCADE,
                                related_name="charging_profile_assignments")
    connector_number = models.PositiveSmallIntegerField(help_text="0 = the whole station")
    status = models.CharField(max_length=12, choices=Status.choices)
    detail = models.CharField(max_length=300, blank=True)
    command_id = models.IntegerField(null=True, blank=True)
    sent_at = models.DateTimeField()
    cleared_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-sent_at"]
        constraints = [models.UniqueConstraint(fields=["profile", "station", "connector_number"],
                                               name="uniq_profile_assignment")]

    def __str__(self) -> str:
        return f"{self.profile_id} on {self.station_id}#{self.connector_number}: {self.status}"


# tariffs live in their own module (this one is long enough); imported here so Django sees them
from .tariff_models import (  # noqa: E402, F401
    ClientTariff,
    Currency,
    PromoCode,
    PromoRedemption,
    TariffAssignment,
    TariffPlan,
    TariffRule,
)
