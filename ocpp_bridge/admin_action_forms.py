"""Forms of the station command actions (see `admin_actions`): each turns what the
operator typed into one OCPP 1.6 payload, or a form error so that nothing is sent.

A form knows the stations it is for, so it can refuse a connector one of them lacks or a
transaction that is not theirs before any charger is called.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.core.validators import URLValidator
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from charging.models import OcppTransaction
from stations.charger_port import format_timestamp
from stations.models import IdTag

# The 1.6 TriggerMessage enum (ocpp's MessageTrigger adds ExtendedTriggerMessage's values)
TRIGGER_MESSAGES = (
    "BootNotification",
    "DiagnosticsStatusNotification",
    "FirmwareStatusNotification",
    "Heartbeat",
    "MeterValues",
    "StatusNotification",
)
URL_SCHEMES = ["http", "https", "ftp", "ftps", "sftp"]  # firmware servers are often FTP
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]


def _datetime_field(label, required: bool) -> forms.DateTimeField:
    return forms.DateTimeField(
        label=label,
        required=required,
        input_formats=DATETIME_FORMATS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text=format_lazy(
            _("In {time_zone}, e.g. 2030-01-31 22:00."), time_zone=settings.TIME_ZONE
        ),
    )


class LocationField(forms.URLField):
    default_validators = [URLValidator(schemes=URL_SCHEMES)]


def _location_field() -> LocationField:
    return LocationField(label=_("Location URL"), max_length=500, assume_scheme="https")


class StationCommandForm(forms.Form):
    """Base: no fields. Subclasses set `ocpp_action` and build `payload()`."""

    ocpp_action = ""
    single_station = False  # True when the payload only makes sense for one station

    def __init__(self, *args, stations: list, **kwargs):
        super().__init__(*args, **kwargs)
        self.stations = stations

    def payload(self) -> dict:
        return {}

    def _check_connector(self, field: str, number: int | None) -> None:
        """`number` must exist on every selected station (None and 0 mean the station)."""
        if not number:
            return
        lacking = [
            s.identity
            for s in self.stations
            if number not in {c.number for c in s.connectors.all()}
        ]
        if lacking:
            self.add_error(
                field,
                _("No connector %(number)s on: %(stations)s.")
                % {"number": number, "stations": ", ".join(lacking)},
            )


class HardResetForm(StationCommandForm):
    ocpp_action = "Reset"

    def payload(self) -> dict:
        return {"type": "Hard"}


class UnlockConnectorForm(StationCommandForm):
    ocpp_action = "UnlockConnector"
    connector = forms.IntegerField(min_value=1, label=_("Connector number"))

    def clean(self):
        data = super().clean()
        self._check_connector("connector", data.get("connector"))
        return data

    def payload(self) -> dict:
        return {"connectorId": self.cleaned_data["connector"]}


class ChangeAvailabilityForm(StationCommandForm):
    ocpp_action = "ChangeAvailability"
    connector = forms.IntegerField(
        min_value=0, initial=0, label=_("Connector number"), help_text=_("0 = the whole station.")
    )
    availability = forms.ChoiceField(
        label=_("Availability"),
        choices=[("Operative", _("Operative")), ("Inoperative", _("Inoperative"))],
    )

    def clean(self):
        data = super().clean()
        self._check_connector("connector", data.get("connector"))
        return data

    def payload(self) -> dict:
        return {
            "connectorId": self.cleaned_data["connector"],
            "type": self.cleaned_data["availability"],
        }


class RemoteStartForm(StationCommandForm):
    ocpp_action = "RemoteStartTransaction"
    single_station = True
    id_tag = forms.CharField(
        max_length=20, label=_("Id tag"), help_text=_("An id tag known to EvPower (see Id tags).")
    )
    connector = forms.IntegerField(
        min_value=1,
        required=False,
        label=_("Connector number"),
        help_text=_("Empty: the charger chooses."),
    )

    def clean_id_tag(self):
        value = self.cleaned_data["id_tag"]
        if not IdTag.objects.filter(id_tag=value).exists():
            raise forms.ValidationError(_("Unknown id tag %(tag)s.") % {"tag": repr(value)})
        return value

    def clean(self):
        data = super().clean()
        self._check_connector("connector", data.get("connector"))
        return data

    def payload(self) -> dict:
        payload = {"idTag": self.cleaned_data["id_tag"]}
        if self.cleaned_data.get("connector"):
            payload["connectorId"] = self.cleaned_data["connector"]
        return payload


class RemoteStopForm(StationCommandForm):
    ocpp_action = "RemoteStopTransaction"
    single_station = True
    transaction_id = forms.IntegerField(min_value=1, max_value=2**31 - 1, label=_("Transaction id"))

    def clean_transaction_id(self):
        number = self.cleaned_data["transaction_id"]
        tx = OcppTransaction.objects.filter(pk=number).only("station_id", "status").first()
        station = self.stations[0]
        if tx is None or tx.station_id != station.pk:
            raise forms.ValidationError(
                _("Transaction %(number)s is not a transaction of %(station)s.")
                % {"number": number, "station": station.identity}
            )
        if tx.status != OcppTransaction.Status.ACTIVE:
            raise forms.ValidationError(
                _("Transaction %(number)s has already stopped.") % {"number": number}
            )
        return number

    def payload(self) -> dict:
        return {"transactionId": self.cleaned_data["transaction_id"]}


class TriggerMessageForm(StationCommandForm):
    ocpp_action = "TriggerMessage"
    requested_message = forms.ChoiceField(
        label=_("Requested message"), choices=[(m, m) for m in TRIGGER_MESSAGES]
    )
    connector = forms.IntegerField(
        min_value=1,
        required=False,
        label=_("Connector number"),
        help_text=_("Empty: the whole station."),
    )

    def clean(self):
        data = super().clean()
        self._check_connector("connector", data.get("connector"))
        return data

    def payload(self) -> dict:
        payload = {"requestedMessage": self.cleaned_data["requested_message"]}
        if self.cleaned_data.get("connector"):
            payload["connectorId"] = self.cleaned_data["connector"]
        return payload


class ChangeConfigurationForm(StationCommandForm):
    ocpp_action = "ChangeConfiguration"
    key = forms.CharField(max_length=50, label=_("Key"))
    value = forms.CharField(
        max_length=500,
        required=False,
        strip=False,
        label=_("Value"),
        help_text=_("Sent as typed; may be empty."),
    )

    def clean_key(self):
        key = self.cleaned_data["key"]
        if key.lower() == "authorizationkey":  # 1.6 keys are case-insensitive
            raise forms.ValidationError(
                _(
                    'The AuthorizationKey is not changed here: use the action "Rotate charger '
                    'password (ChangeConfiguration AuthorizationKey)", which stores the new '
                    "key only once the charger accepts it."
                )
            )
        return key

    def payload(self) -> dict:
        return {"key": self.cleaned_data["key"], "value": self.cleaned_data["value"]}


class UpdateFirmwareForm(StationCommandForm):
    ocpp_action = "UpdateFirmware"
    location = _location_field()
    retrieve_date = _datetime_field(_("Retrieve at"), required=True)
    retries = forms.IntegerField(min_value=0, max_value=100, required=False, label=_("Retries"))
    retry_interval = forms.IntegerField(min_value=0, required=False, label=_("Retry interval (s)"))

    def payload(self) -> dict:
        data = self.cleaned_data
        payload = {
            "location": data["location"],
            "retrieveDate": format_timestamp(data["retrieve_date"]),
        }
        if data.get("retries") is not None:
            payload["retries"] = data["retries"]
        if data.get("retry_interval") is not None:
            payload["retryInterval"] = data["retry_interval"]
        return payload


class GetDiagnosticsForm(StationCommandForm):
    ocpp_action = "GetDiagnostics"
    location = _location_field()
    start_time = _datetime_field(_("From"), required=False)
    stop_time = _datetime_field(_("Until"), required=False)

    def clean(self):
        data = super().clean()
        start, stop = data.get("start_time"), data.get("stop_time")
        if start and stop and start >= stop:
            self.add_error("stop_time", _("Must be after the start time."))
        return data

    def payload(self) -> dict:
        data = self.cleaned_data
        payload = {"location": data["location"]}
        if data.get("start_time"):
            payload["startTime"] = format_timestamp(data["start_time"])
        if data.get("stop_time"):
            payload["stopTime"] = format_timestamp(data["stop_time"])
        return payload
