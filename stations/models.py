"""Locations, charge points, connectors and id tags.

Liveness is deliberately not a stored boolean: `selectors.station_is_online` derives
it from the socket flag plus the last message time, the one source of truth.
"""

from __future__ import annotations

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
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

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

    id_tag = models.CharField(max_length=20, unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACCEPTED)
    expiry_date = models.DateTimeField(null=True, blank=True)
    parent = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True,
                               related_name="children")
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id_tag"]
        verbose_name = "id tag"

    def __str__(self) -> str:
        return self.id_tag
