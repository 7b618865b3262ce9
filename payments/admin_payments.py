"""Admin for top-ups: payments, the provider audit log and reconciliation issues.

Everything is read-only; changes go through services, one per action:
- Payment: "Check with the provider" → `topups.payment_sync` (a payment found paid is
  credited by the one crediting path); "Refund through the provider…" (a page with a
  mandatory reason; permission `payments.refund_payment`) →
  `topups.payment_refund_to_provider` with the staff user as author.
- PaymentEvent: the append-only audit (the database refuses changes too).
- ReconciliationIssue: unresolved first. "Credit the payment" (a missing credit of one of
  our payments) → `reconciliation.issue_credit` → `payment_mark_paid(source=
  "reconciliation")`; "Mark resolved…" with a mandatory note → `reconciliation.issue_resolve`
  (both: permission `payments.resolve_reconciliationissue`); "Export CSV" (view): the
  selected issues in `reconciliation.issues_csv`'s format.
Payments and reconciliation issues also export the whole filtered list (the list's
"Export CSV" button, `evpower.admin_csv`); the issues in the same columns, then more.
Imported by `payments/admin.py`.
"""

from __future__ import annotations

import logging

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import F
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin, TabularInline

from evpower.admin_csv import CsvExportMixin
from evpower.admin_filters import DayRangeFilter
from evpower.admin_readonly import ReadOnlyPermissions, computed_once, latest_rows_formset

from . import reconciliation
from .errors import WalletError
from .payment_models import Payment, PaymentEvent, ReconciliationIssue
from .providers.base import ProviderError
from .topups import payment_refund_to_provider, payment_sync

log = logging.getLogger("payments")

MAX_SYNC = 20  # each one asks the provider, one after the other
MAX_CREDIT = 50
MAX_RESOLVE = 200
EVENTS_SHOWN = 50


def _link(view: str, pk, text):
    return format_html('<a href="{}">{}</a>', reverse(f"admin:{view}", args=[pk]), text)


def staff_name(request) -> str:
    return f"staff:{request.user.get_username()}"


class ReasonForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=300,
        help_text=_("mandatory; kept in the ledger with your name"),
    )

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("A reason is required.")
        return reason


class ResolveForm(forms.Form):
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=300,
        help_text=_("mandatory: what was found and done; kept on the issue with your name"),
    )

    def clean_note(self):
        note = self.cleaned_data["note"].strip()
        if not note:
            raise forms.ValidationError("A note is required.")
        return note


# -- payments ----------------------------------------------------------------------------


class PaymentEventInline(ReadOnlyPermissions, TabularInline):
    model = PaymentEvent
    formset = latest_rows_formset(EVENTS_SHOWN)
    verbose_name_plural = f"provider messages (newest {EVENTS_SHOWN})"
    ordering = ("-id",)
    fields = ("created_at", "direction", "kind", "verified", "payload", "answer", "remote_addr")
    readonly_fields = fields
    show_change_link = True
    extra = 0
    can_delete = False

    def has_view_permission(self, request, obj=None):
        # whoever may see the payment sees what the provider and we said about it
        return super().has_view_permission(request, obj) or any(
            request.user.has_perm(f"payments.{perm}")
            for perm in ("view_payment", "change_payment", "refund_payment")
        )


@admin.register(Payment)
class PaymentAdmin(CsvExportMixin, ReadOnlyPermissions, ModelAdmin):
    list_display = (
        "id",
        "client",
        "provider",
        "order_id",
        "amount",
        "currency",
        "status",
        "provider_transaction_id",
        "created_at",
        "paid_at",
    )
    list_filter = ("status", "provider", "currency", ("paid_at", DayRangeFilter))
    list_filter_submit = True  # the day range is typed, then applied
    list_select_related = ("client",)
    search_fields = ("=order_id", "=provider_transaction_id", "client__phone")
    search_help_text = "Our order id, the provider's transaction id, or the client's phone."
    date_hierarchy = "created_at"
    show_full_result_count = False
    actions = ("sync_payments", "refund_payment")
    inlines = (PaymentEventInline,)
    csv_fields = (
        (_("id"), "id"),
        (_("order id"), "order_id"),
        (_("provider"), "provider"),
        (_("provider transaction id"), "provider_transaction_id"),
        (_("client phone"), "client__phone"),
        (_("amount"), "amount"),
        (_("currency"), "currency"),
        (_("status"), "status"),
        (_("created at"), "created_at"),
        (_("paid at"), "paid_at"),
        (_("cancelled at"), "cancelled_at"),
        (_("refunded at"), "refunded_at"),
        (_("credit (ledger transaction)"), "credit_id"),
        (_("failure reason"), "failure_reason"),
    )
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "client",
                    "provider",
                    "order_id",
                    "amount",
                    "currency",
                    "status",
                    "provider_transaction_id",
                    "failure_reason",
                )
            },
        ),
        (
            _("Times"),
            {
                "fields": (
                    "created_at",
                    "expires_at",
                    "paid_at",
                    "cancelled_at",
                    "refunded_at",
                    "updated_at",
                )
            },
        ),
        (_("Money"), {"fields": ("credit_link", "issues")}),
        (_("Provider"), {"fields": ("checkout", "provider_state")}),
    )
    readonly_fields = ("credit_link", "issues")

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) or self.has_refund_permission(request)

    def has_refund_permission(self, request) -> bool:
        return request.user.has_perm("payments.refund_payment")

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context.update(
            refund_allowed=self.has_refund_permission(request),
            sync_allowed=self.has_view_permission(request),
        )
        return super().render_change_form(request, context, add, change, form_url, obj)

    @admin.display(description=_("credit"))
    def credit_link(self, obj: Payment):
        if not obj.credit_id:
            return "not credited"
        return _link(
            "payments_ledgertransaction_change",
            obj.credit_id,
            f"ledger transaction {obj.credit_id}",
        )

    @admin.display(description=_("reconciliation issues"))
    @computed_once
    def issues(self, obj: Payment):
        found = list(obj.reconciliation_issues.order_by("-id")[:20])
        if not found:
            return "none"
        return format_html_join(
            mark_safe("<br>"),
            '<a href="{}">{} {}</a>{}',
            (
                (
                    reverse("admin:payments_reconciliationissue_change", args=[i.pk]),
                    i.day,
                    i.get_kind_display(),
                    " (resolved)" if i.resolved_at else "",
                )
                for i in found
            ),
        )

    @admin.action(description=_("Check with the provider"), permissions=["view"])
    def sync_payments(self, request, queryset):
        chosen = list(queryset.order_by("id").values_list("pk", "status")[: MAX_SYNC + 1])
        if len(chosen) > MAX_SYNC:
            self.message_user(
                request,
                gettext("Check: select at most %(max)s payments.") % {"max": MAX_SYNC},
                messages.ERROR,
            )
            return
        for payment_id, before in chosen:
            try:
                payment = payment_sync(payment_id=payment_id)
            except (ProviderError, WalletError) as exc:
                self.message_user(
                    request,
                    gettext("Payment %(id)s: not checked — %(code)s %(error)s")
                    % {
                        "id": payment_id,
                        "code": getattr(exc, "code", type(exc).__name__),
                        "error": exc,
                    },
                    messages.ERROR,
                )
                continue
            changed = payment.status != before
            text = (
                f"{before} → {payment.status}"
                if changed
                else gettext("still %(status)s") % {"status": payment.status}
            )
            if changed and payment.status == Payment.Status.PAID:
                text += gettext(" (credited: ledger transaction %(txn)s)") % {
                    "txn": payment.credit_id
                }
            self.message_user(
                request,
                gettext("Payment %(id)s (%(order)s): %(text)s.")
                % {"id": payment_id, "order": payment.order_id, "text": text},
                messages.SUCCESS if changed else messages.INFO,
            )

    @admin.action(description=_("Refund through the provider…"), permissions=["refund"])
    def refund_payment(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(
                request, gettext("Refund: select exactly one payment."), messages.ERROR
            )
            return None
        payment = queryset.select_related("client").get()
        if payment.status != Payment.Status.PAID:
            self.message_user(
                request,
                gettext("Payment %(id)s: only a paid top-up can be refunded (it is %(status)s).")
                % {"id": payment.pk, "status": payment.status},
                messages.ERROR,
            )
            return None
        submitted = "apply" in request.POST
        form = ReasonForm(request.POST if submitted else None)
        if submitted and form.is_valid():
            reason = form.cleaned_data["reason"]
            try:
                payment = payment_refund_to_provider(
                    payment_id=payment.pk, author=request.user, reason=reason
                )
            except WalletError as exc:
                self.message_user(
                    request,
                    gettext("Payment %(id)s: not refunded — %(code)s %(details)s")
                    % {"id": payment.pk, "code": exc.code, "details": exc.details},
                    messages.ERROR,
                )
                return None
            log.info(
                "payment %s refunded through %s by %s; reason: %s",
                payment.pk,
                payment.provider,
                staff_name(request),
                reason,
            )
            self.message_user(
                request,
                gettext(
                    "Payment %(id)s: %(amount)s %(currency)s refunded through %(provider)s and "
                    "debited from %(client)s's wallet."
                )
                % {
                    "id": payment.pk,
                    "amount": payment.amount,
                    "currency": payment.currency,
                    "provider": payment.get_provider_display(),
                    "client": payment.client,
                },
                messages.SUCCESS,
            )
            return None
        return TemplateResponse(
            request,
            "admin/payments/payment/refund.html",
            {
                **self.admin_site.each_context(request),
                "title": gettext("Refund payment %(id)s") % {"id": payment.pk},
                "opts": self.model._meta,
                "form": form,
                "payment": payment,
                "checkbox_name": ACTION_CHECKBOX_NAME,
                "action_name": "refund_payment",
                "media": self.media + form.media,
            },
        )


@admin.register(PaymentEvent)
class PaymentEventAdmin(ReadOnlyPermissions, ModelAdmin):
    list_display = (
        "id",
        "created_at",
        "provider",
        "direction",
        "kind",
        "verified",
        "payment",
        "remote_addr",
    )
    list_filter = ("provider", "direction", "verified")
    list_select_related = ("payment",)
    search_fields = ("=payment__order_id", "=payment__provider_transaction_id", "=kind")
    search_help_text = _("Order id, the provider's transaction id, or the exact kind.")
    date_hierarchy = "created_at"
    show_full_result_count = False
    fields = (
        "created_at",
        "provider",
        "direction",
        "kind",
        "verified",
        "payment",
        "remote_addr",
        "payload",
        "answer",
    )
    readonly_fields = fields


# -- reconciliation ----------------------------------------------------------------------


class ResolvedFilter(admin.SimpleListFilter):
    title = _("resolved")
    parameter_name = "resolved"

    def lookups(self, request, model_admin):
        return (("no", _("unresolved")), ("yes", _("resolved")))

    def queryset(self, request, queryset):
        if self.value() in ("no", "yes"):
            return queryset.filter(resolved_at__isnull=self.value() == "no")
        return queryset


def _their_transaction_id(issue: ReconciliationIssue) -> str:
    # as reconciliation.issues_csv: the statement's id, else the one on our payment
    payment = issue.payment
    return issue.provider_transaction_id or (payment.provider_transaction_id if payment else "")


@admin.register(ReconciliationIssue)
class ReconciliationIssueAdmin(CsvExportMixin, ReadOnlyPermissions, ModelAdmin):
    list_display = (
        "id",
        "day",
        "provider",
        "kind",
        "payment_link",
        "provider_transaction_id",
        "our_amount",
        "their_amount",
        "detail",
        "found_at",
        "resolved_at",
        "resolved_by",
        "resolution",
    )
    list_filter = (ResolvedFilter, "kind", "provider", ("day", DayRangeFilter))
    list_filter_submit = True  # statement days from … to, typed then applied
    list_select_related = ("payment", "resolved_by")
    search_fields = ("=payment__order_id", "=provider_transaction_id", "payment__client__phone")
    search_help_text = _("Our order id, the provider's transaction id, or the client's phone.")
    # the columns of reconciliation.issues_csv, then the currency, who resolved, the issue id
    csv_fields = (
        (_("provider"), "provider"),
        (_("day"), "day"),
        (_("kind"), "kind"),
        (_("order id"), "payment__order_id"),
        (_("provider transaction id"), _their_transaction_id),
        (_("our amount"), "our_amount"),
        (_("their amount"), "their_amount"),
        (_("detail"), "detail"),
        (_("found at"), "found_at"),
        (_("resolved at"), "resolved_at"),
        (_("resolution"), "resolution"),
        (_("currency"), "payment__currency"),
        (_("resolved by"), "resolved_by__username"),
        (_("id"), "id"),
    )
    # unresolved first, newest found first; then the most recently resolved
    ordering = (F("resolved_at").desc(nulls_first=True), "-found_at", "-id")
    date_hierarchy = "day"
    actions = ("credit_payments", "mark_resolved", "export_csv")
    fields = (
        "provider",
        "day",
        "kind",
        "payment_link",
        "provider_transaction_id",
        "our_amount",
        "their_amount",
        "detail",
        "found_at",
        "resolved_at",
        "resolved_by",
        "resolution",
    )
    readonly_fields = fields

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) or self.has_resolve_permission(request)

    def has_resolve_permission(self, request) -> bool:
        return request.user.has_perm("payments.resolve_reconciliationissue")

    @admin.display(description=_("payment"), ordering="payment")
    def payment_link(self, obj: ReconciliationIssue):
        if obj.payment_id is None:
            return "—"
        return _link(
            "payments_payment_change",
            obj.payment_id,
            f"{obj.payment.order_id} ({obj.payment.status})",
        )

    @admin.action(description=_("Credit the payment (missing credit)"), permissions=["resolve"])
    def credit_payments(self, request, queryset):
        chosen = list(queryset.order_by("id").values_list("pk", flat=True)[: MAX_CREDIT + 1])
        if len(chosen) > MAX_CREDIT:
            self.message_user(
                request,
                gettext("Credit: select at most %(max)s issues.") % {"max": MAX_CREDIT},
                messages.ERROR,
            )
            return
        for issue_id in chosen:
            try:
                payment = reconciliation.issue_credit(issue_id=issue_id, user=request.user)
            except reconciliation.IssueNotCreditable as exc:
                self.message_user(
                    request,
                    gettext("Issue %(id)s: not credited — %(error)s.")
                    % {"id": issue_id, "error": exc},
                    messages.WARNING,
                )
                continue
            except WalletError as exc:
                self.message_user(
                    request,
                    gettext("Issue %(id)s: not credited — %(code)s %(details)s")
                    % {"id": issue_id, "code": exc.code, "details": exc.details},
                    messages.ERROR,
                )
                continue
            self.message_user(
                request,
                gettext(
                    "Issue %(id)s: payment %(order)s credited (%(amount)s %(currency)s, ledger "
                    "transaction %(txn)s); resolved."
                )
                % {
                    "id": issue_id,
                    "order": payment.order_id,
                    "amount": payment.amount,
                    "currency": payment.currency,
                    "txn": payment.credit_id,
                },
                messages.SUCCESS,
            )

    @admin.action(description=_("Mark resolved… (note required)"), permissions=["resolve"])
    def mark_resolved(self, request, queryset):
        chosen = list(
            queryset.filter(resolved_at__isnull=True)
            .order_by("id")
            .values_list("pk", flat=True)[: MAX_RESOLVE + 1]
        )
        if not chosen:
            self.message_user(
                request,
                gettext("Mark resolved: the selected issues are all resolved already."),
                messages.INFO,
            )
            return None
        if len(chosen) > MAX_RESOLVE:
            self.message_user(
                request,
                gettext("Mark resolved: select at most %(max)s issues.") % {"max": MAX_RESOLVE},
                messages.ERROR,
            )
            return None
        submitted = "apply" in request.POST
        form = ResolveForm(request.POST if submitted else None)
        if submitted and form.is_valid():
            done = sum(
                reconciliation.issue_resolve(
                    issue_id=pk, user=request.user, note=form.cleaned_data["note"]
                )
                for pk in chosen
            )
            self.message_user(
                request,
                gettext("%(count)s issue(s) marked resolved.") % {"count": done},
                messages.SUCCESS,
            )
            return None
        return TemplateResponse(
            request,
            "admin/payments/reconciliationissue/resolve.html",
            {
                **self.admin_site.each_context(request),
                "title": gettext("Mark reconciliation issues resolved"),
                "opts": self.model._meta,
                "form": form,
                "issues": ReconciliationIssue.objects.filter(pk__in=chosen)
                .select_related("payment")
                .order_by("id"),
                "checkbox_name": ACTION_CHECKBOX_NAME,
                "action_name": "mark_resolved",
                "media": self.media + form.media,
            },
        )

    @admin.action(description=_("Export CSV"), permissions=["view"])
    def export_csv(self, request, queryset):
        response = HttpResponse(
            reconciliation.issues_csv(queryset), content_type="text/csv; charset=utf-8"
        )
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="reconciliation-{stamp}.csv"'
        return response
