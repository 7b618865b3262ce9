"""The billing review queue: parked charger messages about money, unresolved first.

- `unbilled_transaction`: a charger transaction nobody was billed for (its id tag has no
  owner, or no tariff applied). "Bill to a client…" picks the client by phone and calls
  `review.transaction_bill_to_client` (a settled session, the parked messages resolved).
- `stop_after_settlement`: the charger's StopTransaction disagrees with a session already
  billed. Refund the session or adjust the wallet from the session's page, then resolve.
- `implausible_meter`: a register no charger could reach in the time; the session was
  billed up to its last plausible reading. "Bill a corrected energy…" bills the figure the
  operator enters (`review.review_bill_energy`: the difference charged or refunded).
"Mark resolved (write off)…" resolves without moving money (`review.review_write_off`,
a note is mandatory). The items are `ParkedMessage` rows (proxy `BillingReview`); the
full list of parked messages stays in the ocpp_bridge admin.
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import F, OuterRef, Subquery
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin

from accounts.models import Client
from charging.session.models import ChargingSession
from charging.transaction_models import OcppTransaction
from evpower.admin_filters import fixed_values_filter
from payments.errors import WalletError

from .admin_parked import ResolvedFilter
from .errors import ChargingError
from .parked_models import ParkedMessage
from .review import review_bill_energy, review_write_off, transaction_bill_to_client
from .review_models import REVIEW_REASONS, BillingReview

UNBILLED = ParkedMessage.Reason.UNBILLED_TRANSACTION
IMPLAUSIBLE = ParkedMessage.Reason.IMPLAUSIBLE_METER
TEMPLATES = "admin/charging/billingreview/"
WRITE_OFF_MAX = 100


class BillToClientForm(forms.Form):
    phone = forms.CharField(max_length=32, help_text=_("the client's phone, e.g. +996700123456"))
    note = forms.CharField(
        required=False,
        max_length=200,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("optional; kept in the resolution note with your name"),
    )

    def clean_phone(self):
        phone = self.cleaned_data["phone"].replace(" ", "").strip()
        self.client = Client.objects.filter(phone=phone).first()
        if self.client is None:
            raise forms.ValidationError("No client has this phone.")
        return phone


class BillEnergyForm(forms.Form):
    energy_wh = forms.IntegerField(
        min_value=0, max_value=10**9, help_text=_("the energy the session really took, in Wh")
    )
    note = forms.CharField(
        required=False,
        max_length=200,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("optional; kept in the resolution note with your name"),
    )


class WriteOffForm(forms.Form):
    note = forms.CharField(
        max_length=280,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("mandatory: why nobody is billed, or what was done instead"),
    )

    def clean_note(self):
        note = self.cleaned_data["note"].strip()
        if not note:
            raise forms.ValidationError("A note is required.")
        return note


def _bill_refusal(item) -> str:
    """Why this queue item cannot be billed from here (the service checks again)."""
    tx = item.transaction_id
    if item.reason != UNBILLED:
        return "only an unbilled_transaction item is billed"
    if item.resolved_at is not None:
        return f"already resolved: {item.resolution_note or 'no note'}"
    if tx is None or item.tx_status is None:
        return f"transaction {tx} not found"
    if item.tx_status != OcppTransaction.Status.STOPPED:
        return (
            f"transaction {tx} is still {item.tx_status}; bill it once the charger reports its stop"
        )
    if item.billed_session_id is not None:
        return f"transaction {tx} already has session {item.billed_session_id}"
    return ""


@admin.register(BillingReview)
class BillingReviewAdmin(ModelAdmin):
    list_display = (
        "received_at",
        "station",
        "reason",
        "transaction_shown",
        "tx_id_tag",
        "energy_kwh",
        "tx_stopped_at",
        "session_shown",
        "detail",
        "resolved",
        "resolved_by",
        "resolution_note",
    )
    list_select_related = ("station", "resolved_by")
    list_filter = (ResolvedFilter, fixed_values_filter("reason", REVIEW_REASONS), "station")
    search_fields = ("=transaction_id", "station__identity")
    search_help_text = "Exact transaction id, or station identity."
    date_hierarchy = "received_at"
    ordering = (F("resolved_at").desc(nulls_first=True), "-received_at")  # unresolved first
    actions = ("bill_to_client", "bill_energy", "write_off")
    fields = (
        "received_at",
        "station",
        "action",
        "reason",
        "detail",
        "transaction_shown",
        "tx_id_tag",
        "energy_kwh",
        "tx_stopped_at",
        "session_shown",
        "payload_json",
        "resolved_at",
        "resolved_by",
        "resolution_note",
    )
    readonly_fields = (
        "transaction_shown",
        "tx_id_tag",
        "energy_kwh",
        "tx_stopped_at",
        "session_shown",
        "payload_json",
    )

    def get_queryset(self, request):
        tx = OcppTransaction.objects.filter(
            pk=OuterRef("transaction_id"), station_id=OuterRef("station_id")
        )
        return (
            super()
            .get_queryset(request)
            .filter(reason__in=REVIEW_REASONS)
            .annotate(
                tx_status=Subquery(tx.values("status")[:1]),
                tx_id_tag=Subquery(tx.values("id_tag")[:1]),
                tx_energy_wh=Subquery(
                    tx.annotate(e=F("meter_stop") - F("meter_start")).values("e")[:1]
                ),
                tx_stopped_at=Subquery(tx.values("stopped_at")[:1]),
                billed_session_id=Subquery(
                    ChargingSession.objects.filter(
                        transaction_id=OuterRef("transaction_id")
                    ).values("pk")[:1]
                ),
            )
        )

    # -- permissions: the charger's message is evidence; decisions are the actions -------

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return (
            super().has_view_permission(request, obj)
            or request.user.has_perm("charging.view_parkedmessage")
            or self.has_bill_permission(request)
            or self.has_resolve_permission(request)
        )

    def has_bill_permission(self, request) -> bool:
        return request.user.has_perm("charging.bill_unbilled_transaction")

    def has_resolve_permission(self, request) -> bool:
        # the permission of "Mark resolved" on the parked messages page
        return request.user.has_perm("charging.change_parkedmessage")

    # -- columns ---------------------------------------------------------------------

    @admin.display(description=_("resolved"), boolean=True, ordering="resolved_at")
    def resolved(self, obj) -> bool:
        return obj.resolved_at is not None

    @admin.display(description=_("transaction"), ordering="transaction_id")
    def transaction_shown(self, obj):
        if obj.transaction_id is None:
            return "—"
        if obj.tx_status is None:
            return f"{obj.transaction_id} (not found)"
        return format_html(
            '<a href="{}">{}</a> ({})',
            reverse("admin:charging_ocpptransaction_change", args=[obj.transaction_id]),
            obj.transaction_id,
            obj.tx_status,
        )

    @admin.display(description=_("id tag"))
    def tx_id_tag(self, obj) -> str:
        return obj.tx_id_tag or "—"

    @admin.display(description=_("energy (kWh)"))
    def energy_kwh(self, obj) -> str:
        return "—" if obj.tx_energy_wh is None else f"{obj.tx_energy_wh / 1000:.3f}"

    @admin.display(description=_("stopped"))
    def tx_stopped_at(self, obj):
        return obj.tx_stopped_at or "—"

    @admin.display(description=_("session"))
    def session_shown(self, obj):
        if obj.billed_session_id is None:
            return "none"
        return format_html(
            '<a href="{}">session {}</a>',
            reverse("admin:charging_chargingsession_change", args=[obj.billed_session_id]),
            obj.billed_session_id,
        )

    @admin.display(description=_("payload"))
    def payload_json(self, obj):
        return format_html(
            '<pre style="white-space: pre-wrap">{}</pre>',
            json.dumps(obj.payload, indent=2, ensure_ascii=False),
        )

    # -- actions ---------------------------------------------------------------------

    def _page(self, request, template: str, context: dict) -> TemplateResponse:
        return TemplateResponse(
            request,
            TEMPLATES + template,
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "checkbox_name": ACTION_CHECKBOX_NAME,
                **context,
            },
        )

    @admin.action(description=_("Bill to a client…"), permissions=["bill"])
    def bill_to_client(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(
                request, gettext("Bill to a client: select exactly one item."), messages.ERROR
            )
            return None
        item = queryset.get()
        refusal = _bill_refusal(item)
        if refusal:
            self.message_user(request, f"Not billed: {refusal}.", messages.ERROR)
            return None
        form = BillToClientForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            try:
                session = transaction_bill_to_client(
                    transaction_id=item.transaction_id,
                    client=form.client,
                    staff=request.user,
                    note=form.cleaned_data["note"],
                )
            except (ChargingError, WalletError) as exc:
                self.message_user(
                    request,
                    gettext("Transaction %(id)s: not billed — %(code)s %(details)s")
                    % {"id": item.transaction_id, "code": exc.code, "details": exc.details},
                    messages.ERROR,
                )
                return None
            self.message_user(
                request,
                format_html(
                    gettext('Transaction {}: billed to {} as <a href="{}">session {}</a>: {} {}.'),
                    item.transaction_id,
                    form.client,
                    reverse("admin:charging_chargingsession_change", args=[session.pk]),
                    session.pk,
                    session.final_cost,
                    session.currency,
                ),
                messages.SUCCESS,
            )
            return None
        tx = (
            OcppTransaction.objects.select_related("station").filter(pk=item.transaction_id).first()
        )
        return self._page(
            request,
            "bill_to_client.html",
            {
                "title": gettext("Bill transaction %(id)s to a client")
                % {"id": item.transaction_id},
                "form": form,
                "item": item,
                "tx": tx,
                "action_name": "bill_to_client",
            },
        )

    @admin.action(description=_("Bill a corrected energy…"), permissions=["bill"])
    def bill_energy(self, request, queryset):
        items = list(queryset[:2])
        if len(items) != 1 or items[0].reason != IMPLAUSIBLE:
            self.message_user(
                request,
                gettext("Bill a corrected energy: select exactly one implausible meter reading."),
                messages.ERROR,
            )
            return None
        item = items[0]
        form = BillEnergyForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            try:
                session = review_bill_energy(
                    message=item,
                    energy_wh=form.cleaned_data["energy_wh"],
                    staff=request.user,
                    note=form.cleaned_data["note"],
                )
            except (ChargingError, WalletError) as exc:
                self.message_user(
                    request,
                    gettext("Not billed: %(code)s %(details)s")
                    % {"code": exc.code, "details": exc.details},
                    messages.ERROR,
                )
                return None
            self.message_user(
                request,
                gettext("Session %(id)s billed for %(wh)s Wh: %(cost)s %(currency)s.")
                % {
                    "id": session.pk,
                    "wh": session.energy_wh,
                    "cost": session.final_cost,
                    "currency": session.currency,
                },
                messages.SUCCESS,
            )
            return None
        session = (
            ChargingSession.objects.filter(transaction_id=item.transaction_id).first()
            if item.transaction_id
            else None
        )
        return self._page(
            request,
            "bill_energy.html",
            {
                "title": gettext("Bill a corrected energy"),
                "form": form,
                "item": item,
                "session": session,
                "readings": json.dumps(item.payload, indent=2, default=str),
                "action_name": "bill_energy",
            },
        )

    @admin.action(description=_("Mark resolved (write off)…"), permissions=["resolve"])
    def write_off(self, request, queryset):
        items = list(queryset.filter(resolved_at__isnull=True).order_by("pk")[:WRITE_OFF_MAX])
        if not items:
            self.message_user(
                request,
                gettext("Write off: the selected items are already resolved."),
                messages.INFO,
            )
            return None
        form = WriteOffForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            done = sum(
                review_write_off(message=item, staff=request.user, note=form.cleaned_data["note"])
                for item in items
            )
            self.message_user(
                request,
                gettext("Wrote off %(count)s item(s).") % {"count": done}
                + (
                    gettext(" %(count)s had been resolved meanwhile.")
                    % {"count": len(items) - done}
                    if done < len(items)
                    else ""
                ),
                messages.SUCCESS,
            )
            return None
        return self._page(
            request,
            "write_off.html",
            {
                "title": gettext("Mark resolved (write off)"),
                "form": form,
                "items": items,
                "action_name": "write_off",
            },
        )
