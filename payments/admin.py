"""Staff view of wallets and the ledger: everything read-only. The one way to change a
balance by hand is the "Adjust wallet" action, which goes through `wallet_adjust` with the
staff user as author and a mandatory reason."""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import F
from django.template.response import TemplateResponse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin, TabularInline

from evpower.admin_csv import CsvExportMixin
from evpower.admin_filters import DayRangeFilter, fixed_values_filter
from evpower.admin_readonly import ReadOnlyPermissions, latest_rows_formset

from .errors import WalletError
from .models import Debt, Hold, LedgerPosting, LedgerTransaction, Wallet
from .wallet import wallet_adjust


class AdjustWalletForm(forms.Form):
    amount = forms.DecimalField(
        max_digits=12,
        decimal_places=2,
        help_text=_(
            "som; positive credits, negative debits the available balance (never below zero)"
        ),
    )
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=1000,
        help_text=_("mandatory; kept in the ledger with your name"),
    )
    # one key per opened form: a double submit posts once
    key = forms.CharField(widget=forms.HiddenInput)

    def clean_amount(self):
        amount = self.cleaned_data["amount"]
        if not amount:
            raise forms.ValidationError("Enter a non-zero amount.")
        return amount

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("A reason is required.")
        return reason


class LedgerTransactionInline(ReadOnlyPermissions, TabularInline):
    model = LedgerTransaction
    formset = latest_rows_formset(50)
    fields = [
        "created_at",
        "kind",
        "amount",
        "balance_after",
        "held_after",
        "ref_type",
        "ref_id",
        "author",
        "reason",
        "key",
    ]
    readonly_fields = fields
    ordering = ["-id"]
    show_change_link = True
    verbose_name_plural = "latest ledger transactions"


class WalletStateFilter(admin.SimpleListFilter):
    title = _("money")
    parameter_name = "money"

    def lookups(self, request, model_admin):
        return (
            ("debt", _("in debt")),
            ("held", _("money held")),
            ("available", _("money available")),
        )

    def queryset(self, request, queryset):
        if self.value() == "debt":
            return queryset.filter(debt__gt=0)
        if self.value() == "held":
            return queryset.filter(held__gt=0)
        if self.value() == "available":
            return queryset.filter(balance__gt=F("held"))
        return queryset


@admin.register(Wallet)
class WalletAdmin(ReadOnlyPermissions, ModelAdmin):
    list_display = ["client", "currency", "balance", "held", "available", "debt", "updated_at"]
    list_filter = [WalletStateFilter, "currency"]
    search_fields = ["client__phone", "client__name"]
    list_select_related = ["client"]
    readonly_fields = [
        "client",
        "currency",
        "balance",
        "held",
        "available",
        "debt",
        "created_at",
        "updated_at",
    ]
    fields = readonly_fields
    inlines = [LedgerTransactionInline]
    actions = ["adjust_wallet"]

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) or self.has_adjust_permission(request)

    def has_adjust_permission(self, request) -> bool:
        return request.user.has_perm("payments.adjust_wallet")

    @admin.display(description=_("available"))
    def available(self, obj: Wallet):
        return obj.available

    @admin.action(description=_("Adjust wallet (reason required)"), permissions=["adjust"])
    def adjust_wallet(self, request, queryset):
        if queryset.count() != 1:
            messages.error(request, gettext("Select exactly one wallet to adjust."))
            return None
        wallet = queryset.select_related("client").get()
        submitted = "adjust" in request.POST
        form = AdjustWalletForm(
            request.POST if submitted else None, initial={"key": f"admin-adjust:{uuid.uuid4()}"}
        )
        if submitted and form.is_valid():
            data = form.cleaned_data
            try:
                txn = wallet_adjust(
                    client=wallet.client,
                    amount=data["amount"],
                    reason=data["reason"],
                    author=request.user,
                    key=data["key"],
                )
            except WalletError as exc:
                messages.error(
                    request,
                    gettext("Not adjusted: %(code)s %(details)s")
                    % {"code": exc.code, "details": exc.details},
                )
                return None
            messages.success(
                request,
                gettext("%(wallet)s: adjusted by %(amount)s; balance now %(balance)s %(currency)s.")
                % {
                    "wallet": wallet,
                    "amount": txn.amount,
                    "balance": txn.balance_after,
                    "currency": txn.currency,
                },
            )
            return None
        return TemplateResponse(
            request,
            "admin/payments/wallet/adjust.html",
            {
                **self.admin_site.each_context(request),
                "title": gettext("Adjust wallet"),
                "opts": self.model._meta,
                "form": form,
                "wallet": wallet,
                "checkbox_name": ACTION_CHECKBOX_NAME,
                "action_name": "adjust_wallet",
            },
        )


class LedgerPostingInline(ReadOnlyPermissions, TabularInline):
    model = LedgerPosting
    fields = ["account", "wallet", "amount"]
    readonly_fields = fields


# what ledger rows refer to (wallet._ref callers); a fixed list: no DISTINCT over the ledger
REF_TYPES = (("payment", _("payment")), ("session", _("session")))


@admin.register(LedgerTransaction)
class LedgerTransactionAdmin(CsvExportMixin, ReadOnlyPermissions, ModelAdmin):
    list_display = [
        "id",
        "created_at",
        "kind",
        "wallet",
        "amount",
        "currency",
        "balance_after",
        "ref_type",
        "ref_id",
        "author",
    ]
    list_filter = [
        "kind",
        fixed_values_filter("ref_type", REF_TYPES, _("refers to")),
        "currency",
        ("created_at", DayRangeFilter),
    ]
    list_filter_submit = True  # the day range is typed, then applied
    search_fields = ["=id", "key", "ref_id", "wallet__client__phone"]
    search_help_text = _("Transaction id, key, reference id or the client's phone.")
    csv_fields = [
        (_("id"), "id"),
        (_("created at"), "created_at"),
        (_("kind"), "kind"),
        (_("client phone"), "wallet__client__phone"),
        (_("amount"), "amount"),
        (_("currency"), "currency"),
        (_("balance after"), "balance_after"),
        (_("held after"), "held_after"),
        (_("refers to"), "ref_type"),
        (_("reference id"), "ref_id"),
        (_("author"), "author__username"),
        (_("reason"), "reason"),
        (_("key"), "key"),
    ]
    list_select_related = ["wallet__client", "author"]
    readonly_fields = [
        "key",
        "kind",
        "wallet",
        "currency",
        "amount",
        "ref_type",
        "ref_id",
        "hold",
        "author",
        "reason",
        "balance_after",
        "held_after",
        "created_at",
    ]
    fields = readonly_fields
    inlines = [LedgerPostingInline]
    date_hierarchy = "created_at"


@admin.register(Hold)
class HoldAdmin(ReadOnlyPermissions, ModelAdmin):
    list_display = [
        "id",
        "wallet",
        "amount",
        "captured",
        "released",
        "status",
        "ref_type",
        "ref_id",
        "created_at",
        "closed_at",
    ]
    list_filter = ["status", ("created_at", DayRangeFilter)]
    list_filter_submit = True
    search_fields = ["=id", "ref_id", "wallet__client__phone"]
    list_select_related = ["wallet__client"]


class OutstandingFilter(admin.SimpleListFilter):
    title = _("outstanding")
    parameter_name = "outstanding"

    def lookups(self, request, model_admin):
        return (("yes", _("still owed")), ("no", _("settled")))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(settled__lt=F("amount"))
        if self.value() == "no":
            return queryset.filter(settled=F("amount"))
        return queryset


@admin.register(Debt)
class DebtAdmin(ReadOnlyPermissions, ModelAdmin):
    list_display = [
        "id",
        "wallet",
        "amount",
        "settled",
        "ref_type",
        "ref_id",
        "created_at",
        "settled_at",
    ]
    list_filter = [OutstandingFilter]
    search_fields = ["ref_id", "wallet__client__phone"]
    list_select_related = ["wallet__client"]
    date_hierarchy = "created_at"  # a small table: one row per unpaid capture


from . import admin_payments  # noqa: E402, F401 - payments, provider log, reconciliation
