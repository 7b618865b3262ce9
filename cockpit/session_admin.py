"""Admin for charging sessions: what operators see of a charge, and what they may do to it.

Sessions change only through services, so the pages are read-only. Each action is an edge
that calls one service per session and reports that session's outcome as a message:
- "Stop" → `sessions.session_stop` (RemoteStopTransaction to the charger);
- "Close without the charger" → `clockwork.session_close_unreported` (bills from the last
  meter reading; the charger is not told);
- "Refund…" → `payments.wallet.wallet_refund`, at most what the session still has to refund.
Each action has its own permission (`ChargingSession.Meta.permissions`). The session page
shows its timeline (reads in `session_timeline.py`) and links to the client's wallet, where
"Adjust wallet" (reason required) lives. Imported by `charging/admin.py`.
"""

from __future__ import annotations

import logging
import re
import uuid
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin

from accounts.admin_scoping import OwnerScopedAdmin, is_owner_scoped
from charging.errors import ChargingError
from charging.session.models import ChargingSession
from charging.session.stop import session_stop
from charging.session.sweeps import session_close_unreported
from cockpit.session_timeline import (
    METER_FRAMES_SHOWN,
    MeterCurve,
    session_commands,
    session_frames,
    session_ledger,
    session_meter_curve,
)
from evpower.admin_csv import CsvExportMixin
from evpower.admin_filters import DayRangeFilter
from evpower.admin_readonly import ReadOnlyPermissions, computed_once
from payments.errors import WalletError
from payments.models import Wallet
from payments.selectors import refundable_for
from payments.wallet import wallet_refund

log = logging.getLogger("charging")
Status = ChargingSession.Status
Reason = ChargingSession.StopReason

MAX_PER_ACTION = 10  # each stop may wait for a charger's answer
REFUND_TEMPLATE = "admin/charging/chargingsession/refund.html"
# session page fields that show the client's money: not for a site owner
MONEY_FIELDS = ("wallet", "ledger")
FRAME_TYPES = {2: "CALL", 3: "CALLRESULT", 4: "CALLERROR"}


def staff_name(request) -> str:
    return f"staff:{request.user.get_username()}"


def _when(at) -> str:
    return f"{timezone.localtime(at):%Y-%m-%d %H:%M:%S}" if at else "—"


def _kwh(wh: int | Decimal | None) -> str:
    return "—" if wh is None else f"{Decimal(wh) / 1000:.3f}"


def _table(headers: tuple[str, ...], rows: list[tuple], empty: str):
    """An HTML table; every cell is escaped unless it is already safe (a link)."""
    if not rows:
        return empty
    head = format_html_join("", "<th>{}</th>", ((h,) for h in headers))
    body = format_html_join(
        "",
        "<tr>{}</tr>",
        ((format_html_join("", "<td>{}</td>", ((cell,) for cell in row)),) for row in rows),
    )
    return format_html(
        '<table class="session-timeline"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>',
        head,
        body,
    )


def _link(view: str, pk, text) -> str:
    return format_html('<a href="{}">{}</a>', reverse(f"admin:{view}", args=[pk]), text)


def curve_svg(curve: MeterCurve, width: int = 640, height: int = 160):
    """The energy curve as an inline SVG polyline (no script, no library)."""
    points = curve.points
    if len(points) < 2:
        return "No meter readings."
    t0, t1 = points[0][0], points[-1][0]
    span = max((t1 - t0).total_seconds(), 1.0)
    top = max(max(kwh for _, kwh in points), Decimal("0.001"))
    pad = 4
    coords = " ".join(
        f"{pad + (at - t0).total_seconds() / span * (width - 2 * pad):.1f},"
        f"{height - pad - float(max(kwh, Decimal(0)) / top) * (height - 2 * pad):.1f}"
        for at, kwh in points
    )
    last = points[-1][1]
    caption = (
        f"{_when(t0)} → {_when(t1)}: {last:.3f} kWh; {curve.readings} register "
        f"reading(s), {len(points)} point(s) drawn; top of the chart = {top:.3f} kWh"
    )
    return format_html(
        '<svg width="{}" height="{}" viewBox="0 0 {} {}" role="img" aria-label="{}" '
        'style="background:#fafafa;border:1px solid #ddd">'
        '<polyline fill="none" stroke="#417690" stroke-width="2" points="{}"/></svg>'
        "<div>{}</div>",
        width,
        height,
        width,
        height,
        caption,
        coords,
        caption,
    )


class RefundForm(forms.Form):
    amount = forms.DecimalField(max_digits=12, decimal_places=2, min_value=Decimal("0.01"))
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=1000,
        help_text=_("mandatory; written to the log with your name"),
    )
    # one key per opened form: a double submit refunds once
    key = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args, session: ChargingSession, refundable: Decimal, **kwargs):
        super().__init__(*args, **kwargs)
        self.session, self.refundable = session, refundable
        self.fields["amount"].help_text = gettext(
            "%(currency)s; at most %(refundable)s (what the session cost less earlier refunds)"
        ) % {"currency": session.currency, "refundable": refundable}

    def clean_amount(self):
        amount = self.cleaned_data["amount"]
        if amount > self.refundable:
            raise forms.ValidationError(
                gettext("At most %(refundable)s %(currency)s can be refunded for this session.")
                % {"refundable": self.refundable, "currency": self.session.currency}
            )
        return amount

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError(gettext("A reason is required."))
        return reason

    def clean_key(self):
        key = self.cleaned_data["key"]
        if not re.fullmatch(rf"session:{self.session.pk}:refund:[0-9a-f]{{32}}", key):
            raise forms.ValidationError(gettext("Open the refund page again."))
        return key


def _energy_kwh(session: ChargingSession) -> Decimal:
    return (Decimal(session.energy_wh) / 1000).quantize(Decimal("0.001"))


class ChargingSessionAdmin(CsvExportMixin, OwnerScopedAdmin, ReadOnlyPermissions, ModelAdmin):
    list_display = (
        "id",
        "client",
        "station",
        "connector_number",
        "origin",
        "status",
        "limit",
        "energy_kwh",
        "cost_shown",
        "created_at",
        "ended_at",
        "stop_reason",
        "settled",
    )
    list_select_related = ("client", "station")
    # station and location are scoped to an owner's own (accounts.admin_scoping)
    list_filter = (
        "status",
        "origin",
        "stop_reason",
        "settled",
        "station",
        "station__location",
        ("created_at", DayRangeFilter),
    )
    list_filter_submit = True  # the day range is typed, then applied
    search_fields = ("=id", "=transaction__id", "client__phone", "station__identity", "id_tag")
    search_help_text = _(
        "Session id, charger transaction id, client phone, station identity or id tag."
    )
    date_hierarchy = "created_at"
    csv_fields = (
        (_("id"), "id"),
        (_("created at"), "created_at"),
        (_("charging started at"), "charging_started_at"),
        (_("ended at"), "ended_at"),
        (_("status"), "status"),
        (_("origin"), "origin"),
        (_("client phone"), "client__phone"),
        (_("station"), "station__identity"),
        (_("location"), "station__location__name"),
        (_("connector"), "connector_number"),
        (_("id tag"), "id_tag"),
        (_("charger transaction"), "transaction_id"),
        (_("energy (kWh)"), _energy_kwh),
        (_("cost"), "cost"),
        (_("final cost"), "final_cost"),
        (_("currency"), "currency"),
        (_("settled"), "settled"),
        (_("settled at"), "settled_at"),
        (_("stop reason"), "stop_reason"),
        (_("failure detail"), "failure_detail"),
    )
    show_full_result_count = False
    actions = ("stop_sessions", "close_sessions", "refund_session")
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "client",
                    "wallet",
                    "station",
                    "connector_number",
                    "origin",
                    "id_tag",
                    "status",
                    "transaction_link",
                )
            },
        ),
        (
            _("Money"),
            {
                "fields": (
                    "limit",
                    "hold_amount",
                    "cost",
                    "final_cost",
                    "currency",
                    "settled",
                    "settled_at",
                    "receipt_shown",
                    "tariff_shown",
                )
            },
        ),
        (
            _("Meter"),
            {
                "fields": (
                    "energy_kwh",
                    "power_w",
                    "soc_percent",
                    "meter_start_wh",
                    "meter_stop_wh",
                    "meter_at",
                    "energy_changed_at",
                )
            },
        ),
        (
            _("Times and stop"),
            {
                "fields": (
                    "created_at",
                    "charging_started_at",
                    "ended_at",
                    "stop_requested_at",
                    "stop_requested_by",
                    "stop_reason",
                    "failure_detail",
                )
            },
        ),
        (_("Timeline"), {"fields": ("commands_sent", "charger_messages", "meter_curve", "ledger")}),
    )
    readonly_fields = (
        "wallet",
        "transaction_link",
        "limit",
        "receipt_shown",
        "tariff_shown",
        "energy_kwh",
        "commands_sent",
        "charger_messages",
        "meter_curve",
        "ledger",
    )

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("client", "station", "transaction")

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if not is_owner_scoped(request.user):
            return fieldsets
        return [
            (name, {**options, "fields": [f for f in options["fields"] if f not in MONEY_FIELDS]})
            for name, options in fieldsets
        ]

    # -- permissions: one per action; any of them shows the list -----------------------

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) or any(
            check(request)
            for check in (
                self.has_stop_permission,
                self.has_close_permission,
                self.has_refund_permission,
            )
        )

    def has_stop_permission(self, request) -> bool:
        return request.user.has_perm("charging.stop_chargingsession")

    def has_close_permission(self, request) -> bool:
        return request.user.has_perm("charging.close_chargingsession")

    def has_refund_permission(self, request) -> bool:
        return request.user.has_perm("charging.refund_chargingsession")

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            obj.wallet_row = Wallet.objects.filter(client_id=obj.client_id).first()
            context.update(
                refund_allowed=self.has_refund_permission(request),
                adjust_allowed=request.user.has_perm("payments.adjust_wallet"),
                wallet_id=obj.wallet_row.pk if obj.wallet_row else None,
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    # -- columns and fields ----------------------------------------------------------

    @admin.display(description=_("limit"))
    def limit(self, obj: ChargingSession) -> str:
        parts = []
        if obj.limit_energy_wh:
            parts.append(f"{_kwh(obj.limit_energy_wh)} kWh")
        if obj.limit_amount is not None:
            parts.append(f"{obj.limit_amount} {obj.currency}")
        return " or ".join(parts) or "none"

    @admin.display(description=_("energy (kWh)"), ordering="energy_wh")
    def energy_kwh(self, obj: ChargingSession) -> str:
        return _kwh(obj.energy_wh)

    @admin.display(description=_("cost / final"))
    def cost_shown(self, obj: ChargingSession) -> str:
        if obj.final_cost is not None:
            return f"{obj.final_cost} {obj.currency}"
        return f"{obj.cost} {obj.currency} so far"

    @admin.display(description=_("client's wallet"))
    def wallet(self, obj: ChargingSession):
        wallet = getattr(obj, "wallet_row", None)
        if wallet is None:
            return gettext("No wallet yet (no money has moved).")
        adjust = reverse("admin:payments_wallet_changelist") + f"?client__id__exact={obj.client_id}"
        return format_html(
            'balance {} {}, held {}, available {}, debt {} — <a href="{}">wallet and its '
            'ledger</a> · <a href="{}">adjust (reason required)</a>',
            wallet.balance,
            wallet.currency,
            wallet.held,
            wallet.available,
            wallet.debt,
            reverse("admin:payments_wallet_change", args=[wallet.pk]),
            adjust,
        )

    @admin.display(description=_("charger transaction"))
    def transaction_link(self, obj: ChargingSession):
        tx = obj.transaction if obj.transaction_id else None
        if tx is None:
            return gettext("none (the charger never started it)")
        return format_html(
            "{} — {}, started {}, stopped {}, meter {} → {} Wh",
            _link("charging_ocpptransaction_change", tx.pk, f"transaction {tx.pk}"),
            tx.status,
            _when(tx.started_at),
            _when(tx.stopped_at),
            tx.meter_start,
            tx.meter_stop if tx.meter_stop is not None else f"{tx.last_meter_wh} (last reading)",
        )

    @admin.display(description=_("receipt"))
    def receipt_shown(self, obj: ChargingSession):
        if not obj.receipt:
            return "—"
        return _table(
            ("line", "amount"),
            [(line["kind"], line["amount"]) for line in obj.receipt.get("lines", [])]
            + [
                (key.replace("_", " "), obj.receipt[key])
                for key in ("total", "paid_from_hold", "paid_from_balance", "debt")
                if key in obj.receipt
            ],
            "—",
        )

    @admin.display(description=_("tariff frozen at start"))
    def tariff_shown(self, obj: ChargingSession) -> str:
        t = obj.tariff or {}
        name = " / ".join(filter(None, (t.get("plan_name"), t.get("rule_name")))) or "?"
        return (
            f"{name}: {t.get('per_kwh')} "
            f"per kWh, {t.get('per_minute')} per minute, fee {t.get('session_fee')}, "
            f"idle {t.get('idle_fee_per_minute')} per minute after "
            f"{t.get('idle_grace_minutes')} min, discount {t.get('discount_percent')}% "
            f"({t.get('currency')})"
        )

    @admin.display(description=_("commands sent"))
    @computed_once
    def commands_sent(self, obj: ChargingSession):
        rows = [
            (
                _link("ocpp_bridge_commandrecord_change", c.pk, _when(c.created_at)),
                c.action,
                c.requested_by,
                c.status,
                (c.response or {}).get("status", "") if isinstance(c.response, dict) else "",
                " ".join(filter(None, (c.error_code, c.error_description))),
            )
            for c in session_commands(obj)
        ]
        return _table(
            ("sent", "action", "requested by", "outcome", "charger's answer", "error"),
            rows,
            gettext("No commands were sent for this session."),
        )

    @admin.display(description=_("charger messages"))
    @computed_once
    def charger_messages(self, obj: ChargingSession):
        found = session_frames(obj)
        rows = [
            (
                _link("ocpp_bridge_ocppmessage_change", m.pk, _when(m.created_at)),
                "charger → us" if m.direction == "in" else "us → charger",
                FRAME_TYPES.get(m.message_type, m.message_type),
                m.action,
                m.message_id,
                format_html("<code>{}</code>", m.raw if len(m.raw) <= 300 else m.raw[:300] + "…"),
            )
            for m in found.frames
        ]
        table = _table(
            ("logged", "direction", "type", "action", "message id", "frame"),
            rows,
            gettext(
                "No frames of this transaction in the message log (pruned, or logging is off)."
            ),
        )
        if found.meter_frames_cut:
            return format_html(
                gettext("{}<p>Only the newest {} MeterValues are shown.</p>"),
                table,
                METER_FRAMES_SHOWN,
            )
        return table

    @admin.display(description=_("energy over time"))
    @computed_once
    def meter_curve(self, obj: ChargingSession):
        return curve_svg(session_meter_curve(obj))

    @admin.display(description=_('ledger ("session", id)'))
    @computed_once
    def ledger(self, obj: ChargingSession):
        rows = [
            (
                _link("payments_ledgertransaction_change", t.pk, _when(t.created_at)),
                t.kind,
                f"{t.amount} {t.currency}",
                "; ".join(f"{p.account} {p.amount:+}" for p in t.postings.all()),
                t.author.get_username() if t.author else "",
                t.reason,
                t.key,
            )
            for t in session_ledger(obj)
        ]
        return _table(
            ("posted", "kind", "amount", "postings", "author", "reason", "key"),
            rows,
            gettext("Nothing posted for this session."),
        )

    # -- actions ---------------------------------------------------------------------

    def _chosen(self, request, queryset, label: str) -> list[tuple[int, str]]:
        chosen = list(queryset.order_by("id").values_list("pk", "status")[: MAX_PER_ACTION + 1])
        if len(chosen) > MAX_PER_ACTION:
            self.message_user(
                request,
                gettext("%(label)s: select at most %(max)s sessions.")
                % {"label": label, "max": MAX_PER_ACTION},
                messages.ERROR,
            )
            return []
        return chosen

    @admin.action(description=_("Stop (RemoteStopTransaction)"), permissions=["stop"])
    def stop_sessions(self, request, queryset):
        for session_id, before in self._chosen(request, queryset, gettext("Stop")):
            try:
                session = session_stop(
                    session_id=session_id, requested_by=staff_name(request), reason=Reason.OPERATOR
                )
            except ChargingError as exc:
                charger = exc.details.get("charger_status")
                self.message_user(
                    request,
                    gettext("Session %(id)s: not stopped — %(code)s")
                    % {"id": session_id, "code": exc.code}
                    + (gettext(" (charger: %(status)s)") % {"status": charger} if charger else ""),
                    messages.ERROR,
                )
                continue
            if before == Status.CHARGING and session.status == Status.FINISHING:
                text = gettext(
                    "the charger accepted the stop; the bill follows its "
                    "StopTransaction (or the clockwork)"
                )
            elif before == Status.PENDING and session.status == Status.CANCELLED:
                text = gettext("cancelled before the charger started; the hold is released")
            elif session.is_active:
                text = gettext("already stopping (%(status)s); nothing sent") % {
                    "status": session.status
                }
            else:
                text = gettext("already ended (%(status)s); nothing sent") % {
                    "status": session.status
                }
            self.message_user(
                request,
                gettext("Session %(id)s: %(text)s.") % {"id": session_id, "text": text},
                messages.SUCCESS if session.status != before else messages.INFO,
            )

    @admin.action(
        description=_("Close without the charger (bill from last reading)"), permissions=["close"]
    )
    def close_sessions(self, request, queryset):
        for session_id, before in self._chosen(request, queryset, gettext("Close")):
            try:
                ended = session_close_unreported(
                    session_id=session_id, reason=Reason.OPERATOR, requested_by=staff_name(request)
                )
            except (ChargingError, WalletError) as exc:
                self.message_user(
                    request,
                    gettext("Session %(id)s: not closed — %(code)s %(details)s")
                    % {"id": session_id, "code": exc.code, "details": exc.details},
                    messages.ERROR,
                )
                continue
            if not ended:
                self.message_user(
                    request,
                    gettext("Session %(id)s: already ended (%(status)s); nothing done.")
                    % {"id": session_id, "status": before},
                    messages.INFO,
                )
                continue
            session = ChargingSession.objects.get(pk=session_id)
            if session.status == Status.COMPLETED:
                text = gettext(
                    "billed %(cost)s %(currency)s for %(kwh)s kWh from the last reading"
                ) % {
                    "cost": session.final_cost,
                    "currency": session.currency,
                    "kwh": _kwh(session.energy_wh),
                }
                if before == Status.CHARGING:
                    text += gettext(
                        "; the charger was not told — it may still be charging "
                        "(stop it there or with RemoteStopTransaction)"
                    )
            else:
                text = gettext("%(status)s (it had not started); the hold is released") % {
                    "status": session.status
                }
            self.message_user(
                request,
                gettext("Session %(id)s: %(text)s.") % {"id": session_id, "text": text},
                messages.SUCCESS,
            )

    @admin.action(description=_("Refund…"), permissions=["refund"])
    def refund_session(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(
                request, gettext("Refund: select exactly one session."), messages.ERROR
            )
            return None
        session = queryset.get()
        refundable = refundable_for(client=session.client, ref=("session", session.pk))
        if refundable <= 0:
            self.message_user(
                request,
                gettext(
                    "Session %(id)s: nothing to refund (nothing "
                    "was charged, or it was all refunded)."
                )
                % {"id": session.pk},
                messages.WARNING,
            )
            return None
        submitted = "apply" in request.POST
        form = RefundForm(
            request.POST if submitted else None,
            session=session,
            refundable=refundable,
            initial={"key": f"session:{session.pk}:refund:{uuid.uuid4().hex}"},
        )
        if submitted and form.is_valid():
            data = form.cleaned_data
            try:
                txn = wallet_refund(
                    client=session.client,
                    amount=data["amount"],
                    ref=("session", session.pk),
                    key=data["key"],
                    author=request.user,
                    reason=data["reason"],
                )
            except WalletError as exc:
                self.message_user(
                    request,
                    gettext("Session %(id)s: not refunded — %(code)s %(details)s")
                    % {"id": session.pk, "code": exc.code, "details": exc.details},
                    messages.ERROR,
                )
                return None
            log.info(
                "session %s: %s refunded %s %s to client %s (ledger transaction %s, "
                "key %s); reason: %s",
                session.pk,
                staff_name(request),
                txn.amount,
                txn.currency,
                session.client_id,
                txn.pk,
                txn.key,
                data["reason"],
            )
            self.message_user(
                request,
                gettext(
                    "Session %(id)s: refunded %(amount)s %(currency)s to %(client)s (reason: "
                    "%(reason)s); balance now %(balance)s."
                )
                % {
                    "id": session.pk,
                    "amount": txn.amount,
                    "currency": txn.currency,
                    "client": session.client,
                    "reason": data["reason"],
                    "balance": txn.balance_after,
                },
                messages.SUCCESS,
            )
            return None
        return TemplateResponse(
            request,
            REFUND_TEMPLATE,
            {
                **self.admin_site.each_context(request),
                "title": gettext("Refund session %(id)s") % {"id": session.pk},
                "opts": self.model._meta,
                "form": form,
                "session": session,
                "refundable": refundable,
                "checkbox_name": ACTION_CHECKBOX_NAME,
                "action_name": "refund_session",
                "media": self.media + form.media,
            },
        )


admin.site.register(ChargingSession, ChargingSessionAdmin)
