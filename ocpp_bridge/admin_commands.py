"""Admin page: send any OCPP call to a station and see the charger's answer."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from stations.models import Station

from .commands import send_command
from .models import CommandRecord
from .protocol import v16, v201

SEND_PERMISSION = "ocpp_bridge.add_commandrecord"  # sending a command creates its record


class SendCommandForm(forms.Form):
    action = forms.ChoiceField(label=_("Action"), choices=[])
    payload = forms.CharField(
        label=_("Payload"),
        widget=forms.Textarea(attrs={"rows": 6, "cols": 60}),
        initial="{}",
        help_text=_("The call's payload as JSON."),
    )
    timeout = forms.FloatField(label=_("Timeout (s)"), initial=30, min_value=1, max_value=300)

    def __init__(self, *args, version: str = "1.6", **kwargs):
        super().__init__(*args, **kwargs)
        # the calls of the version the station speaks
        may_send = v201.CSMS_MAY_SEND if version == v201.VERSION else v16.CSMS_MAY_SEND
        self.fields["action"].choices = [(a, a) for a in sorted(may_send)]

    def clean_payload(self):
        try:
            value = json.loads(self.cleaned_data["payload"])
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(_("Not valid JSON: %(error)s") % {"error": exc}) from exc
        if not isinstance(value, dict):
            raise forms.ValidationError(_("The payload must be a JSON object."))
        return value


def send_command_view(request, station_id: int):
    if not request.user.has_perm(SEND_PERMISSION):
        raise PermissionDenied
    station = get_object_or_404(Station, pk=station_id)
    result = None
    form = SendCommandForm(
        request.POST or None, initial=request.GET or None, version=station.ocpp_version
    )
    if request.method == "POST" and form.is_valid():
        result = send_command(
            station=station,
            action=form.cleaned_data["action"],
            payload=form.cleaned_data["payload"],
            timeout=form.cleaned_data["timeout"],
            requested_by=f"admin:{request.user.get_username()}",
        )
    recent = CommandRecord.objects.filter(station=station).order_by("-created_at")[:10]
    context = {
        **admin.site.each_context(request),
        "title": gettext("Send an OCPP command to %(station)s") % {"station": station},
        "station": station,
        "form": form,
        "result": result,
        "recent": recent,
        "response_json": json.dumps(result.response, indent=2)
        if result and result.response
        else "",
        "opts": Station._meta,
    }
    return TemplateResponse(request, "admin/ocpp_bridge/send_command.html", context)
