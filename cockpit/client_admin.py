"""Staff view of drivers: the client list, and the client page as support's and finance's
workspace. In the cockpit because the page joins the client with their wallet, sessions
and payments.

The page has tabs: Profile (with the status, why and by whom, and its history) | Wallet &
ledger | Sessions | Payments | Devices and logins. A tab is shown only to whoever may view
its model (support and finance see all of them; owners see no clients at all). Every list
is bounded (`client_page.py`): the page costs the same queries for any client.

Its buttons open a small form page each and call one service:
- Block… / Unblock… (permission `accounts.change_client`: support) → `services.client_block`
  / `client_unblock`, with a mandatory reason kept with the staff member's name; blocking
  revokes every login at once. The same services as `manage.py client_block`.
- Adjust wallet… (permission `payments.adjust_wallet`: finance) → the wallet admin's own
  "Adjust wallet" form and `payments.wallet.wallet_adjust`, not a copy of them.
Refunds stay where they are: on the session's page and on the payment's page, which the
tabs link to. Name, email and language go through `services.client_update_profile`, and
are read-only once the driver asked for deletion (their data is about to be erased).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Subquery
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.decorators import action, display
from unfold.enums import ActionVariant

from accounts import selectors, services
from accounts.errors import ApiError
from accounts.models import Client, LoginSession
from charging.session.models import ChargingSession
from cockpit import client_parts as parts
from cockpit.client_page import Sections, client_page
from payments.models import Debt, LedgerPosting, LedgerTransaction, Payment, Wallet

Status = Client.Status
PROFILE_FIELDS = ("name", "email", "language")
# personal data nobody edits any more: the driver asked to be forgotten, or was
FROZEN_STATUSES = (Status.PENDING_DELETION, Status.DELETED)
STATUS_TEMPLATE = "admin/accounts/client/status_change.html"


def staff_name(request) -> str:
    return f"staff:{request.user.get_username()}"


@admin.register(Client)
class ClientAdmin(ModelAdmin):
    list_display = [
        "phone",
        "name",
        "status_shown",
        "language",
        "balance",
        "last_login",
        "created_at",
    ]
    list_filter = ["status", "language"]
    search_fields = ["phone", "name", "email"]
    search_help_text = _("Phone, name or email.")
    date_hierarchy = "created_at"
    list_select_related = ["wallet"]
    actions_detail = ["block", "unblock", "adjust_wallet"]
    readonly_fields = [
        "phone",
        "created_at",
        "deletion_requested_at",
        "anonymised_at",
        "status_shown",
        "status_note",
        "last_seen",
        "status_history",
        "wallet_summary",
        "ledger",
        "sessions",
        "payments",
        "devices",
        "logins",
    ]
    fieldsets = [
        (
            _("Profile"),
            {
                "classes": ["tab"],
                "fields": [
                    "phone",
                    "name",
                    "email",
                    "language",
                    "status_shown",
                    "status_note",
                    "last_seen",
                    "created_at",
                    "deletion_requested_at",
                    "anonymised_at",
                    "status_history",
                ],
            },
        ),
        (_("Wallet & ledger"), {"classes": ["tab"], "fields": ["wallet_summary", "ledger"]}),
        (_("Sessions"), {"classes": ["tab"], "fields": ["sessions"]}),
        (_("Payments"), {"classes": ["tab"], "fields": ["payments"]}),
        (_("Devices and logins"), {"classes": ["tab"], "fields": ["devices", "logins"]}),
    ]

    def has_add_permission(self, request) -> bool:
        return False  # clients sign up themselves by phone

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # deletion is anonymisation (the ledger keeps the row)

    def has_status_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("accounts.change_client")  # support: block / unblock

    # A method, not "payments.adjust_wallet" in the decorator: the theme's system check
    # looks a dotted permission up in the database, which breaks `migrate` on an empty one.
    def has_adjust_wallet_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("payments.adjust_wallet")  # finance

    # -- what this staff member may see -------------------------------------------------

    def sections(self, request) -> Sections:
        def may_view(model) -> bool:
            # the model's own admin decides (e.g. a refund permission also shows sessions)
            if self.admin_site.is_registered(model):
                return self.admin_site.get_model_admin(model).has_view_permission(request)
            return request.user.has_perm(f"{model._meta.app_label}.view_{model._meta.model_name}")

        ledger = may_view(LedgerTransaction)
        return Sections(
            wallet=may_view(Wallet),
            ledger=ledger,
            postings=ledger and may_view(LedgerPosting),
            sessions=may_view(ChargingSession),
            payments=may_view(Payment),
            logins=may_view(LoginSession),
            debts=may_view(Debt),
            adjust=self.has_adjust_wallet_permission(request),
        )

    def get_fieldsets(self, request, obj=None):
        shown = self.sections(request)
        hidden = {
            "wallet_summary": not shown.wallet,
            "ledger": not shown.ledger,
            "sessions": not shown.sessions,
            "payments": not shown.payments,
            "logins": not shown.logins,
        }
        fieldsets = []
        for name, options in super().get_fieldsets(request, obj):
            fields = [f for f in options["fields"] if not hidden.get(f)]
            if fields:
                fieldsets.append((name, {**options, "fields": fields}))
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.status in FROZEN_STATUSES:
            fields += PROFILE_FIELDS
        return fields

    def get_list_display(self, request):
        shown = super().get_list_display(request)
        return shown if self.sections(request).wallet else [f for f in shown if f != "balance"]

    def get_queryset(self, request):
        last_login = (
            LoginSession.objects.filter(client=OuterRef("pk"))
            .order_by("-created_at")
            .values("created_at")[:1]
        )
        return super().get_queryset(request).annotate(last_login_at=Subquery(last_login))

    def get_actions_detail(self, request, object_id):
        """The buttons that fit the client as it is now (Unblock for a blocked one, ...)."""
        found = (
            Client.objects.filter(pk=object_id).values_list("status", "wallet").first()
            if str(object_id).isdigit()
            else None
        )
        if found is None:
            return []
        status, wallet_id = found
        fits = {
            "block": status in parts.BLOCK.allowed_from,
            "unblock": status in parts.UNBLOCK.allowed_from,
            "adjust_wallet": wallet_id is not None,
        }
        return [
            a
            for a in super().get_actions_detail(request, object_id)
            if fits.get(a.method.original_function_name, True)
        ]

    # -- the page ------------------------------------------------------------------------

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            # every tab is drawn from this, read once (the theme resolves fields repeatedly)
            obj.admin_page = client_page(client=obj, sections=self.sections(request))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def save_model(self, request, obj, form, change):
        changed = {
            name: form.cleaned_data[name] for name in form.changed_data if name in PROFILE_FIELDS
        }
        services.client_update_profile(client=obj, **changed)

    @display(description=_("status"), ordering="status")
    def status_shown(self, obj: Client):
        return parts.status_label(obj.status)

    @display(description=_("wallet"))
    def balance(self, obj: Client) -> str:
        try:
            wallet = obj.wallet
        except Wallet.DoesNotExist:
            return "—"
        text = parts.money(wallet.balance, wallet.currency)
        return text + (
            " · " + gettext("debt %(debt)s") % {"debt": wallet.debt} if wallet.debt else ""
        )

    @display(description=_("last login"), ordering="last_login_at")
    def last_login(self, obj: Client):
        return parts.when(getattr(obj, "last_login_at", None))

    def _part(self, obj, draw):
        page = getattr(obj, "admin_page", None)
        return "—" if page is None else draw(page)

    @display(description=_("why"))
    def status_note(self, obj):
        return self._part(obj, parts.status_note)

    @display(description=_("last seen"))
    def last_seen(self, obj):
        return self._part(obj, parts.last_seen)

    @display(description=_("status history"))
    def status_history(self, obj):
        return self._part(obj, parts.status_history)

    @display(description=_("wallet"))
    def wallet_summary(self, obj):
        return self._part(obj, parts.wallet_summary)

    @display(description=_("ledger (newest first)"))
    def ledger(self, obj):
        return self._part(obj, parts.ledger)

    @display(description=_("charging sessions (newest first)"))
    def sessions(self, obj):
        return self._part(obj, parts.sessions)

    @display(description=_("top-ups (newest first)"))
    def payments(self, obj):
        return self._part(obj, parts.payments)

    @display(description=_("push devices"))
    def devices(self, obj):
        return self._part(obj, parts.devices)

    @display(description=_("logins (newest first)"))
    def logins(self, obj):
        return self._part(obj, parts.logins)

    # -- the buttons ---------------------------------------------------------------------

    @action(
        description=_("Block…"),
        url_path="block",
        permissions=["status"],
        icon="block",
        variant=ActionVariant.DANGER,
    )
    def block(self, request, object_id):
        return self._status_page(request, object_id, parts.BLOCK)

    @action(
        description=_("Unblock…"),
        url_path="unblock",
        permissions=["status"],
        icon="lock_open",
        variant=ActionVariant.SUCCESS,
    )
    def unblock(self, request, object_id):
        return self._status_page(request, object_id, parts.UNBLOCK)

    @action(
        description=_("Adjust wallet…"),
        url_path="adjust-wallet",
        permissions=["adjust_wallet"],
        icon="account_balance_wallet",
    )
    def adjust_wallet(self, request, object_id):
        client = self._client(request, object_id)
        wallets = Wallet.objects.filter(client=client)
        if not wallets.exists():
            self.message_user(
                request, gettext("No wallet yet: nothing to adjust."), messages.WARNING
            )
            return self._back(client)
        # the wallet admin's own form, page and service (it answers None once done)
        response = self.admin_site.get_model_admin(Wallet).adjust_wallet(request, wallets)
        return response or self._back(client)

    def _client(self, request, object_id) -> Client:
        if not self.has_view_permission(request):
            raise PermissionDenied
        client = self.get_object(request, unquote(object_id))
        if client is None:
            raise Http404
        return client

    def _back(self, client: Client) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:accounts_client_change", args=[client.pk]))

    def _status_page(self, request, object_id, change: parts.StatusAction):
        client = self._client(request, object_id)
        if client.status not in change.allowed_from:
            self.message_user(
                request,
                gettext("Client %(client)s is %(status)s: nothing to do.")
                % {"client": client.pk, "status": client.get_status_display()},
                messages.WARNING,
            )
            return self._back(client)
        logins = selectors.active_sessions_of(client=client).count()
        form = parts.StatusChangeForm(
            request.POST if request.method == "POST" else None, action=change
        )
        if form.is_valid():
            try:
                done = change.service(
                    client_id=client.pk,
                    reason=form.cleaned_data["reason"],
                    by=staff_name(request),
                    author=request.user,
                )
            except ApiError as exc:
                self.message_user(
                    request,
                    gettext("Client %(client)s: not changed — %(code)s")
                    % {"client": client.pk, "code": exc.code},
                    messages.ERROR,
                )
                return self._back(client)
            text = gettext("Client %(client)s is now %(status)s.") % {
                "client": done.pk,
                "status": done.get_status_display(),
            }
            if change is parts.BLOCK:
                text += " " + gettext("%(count)s login(s) closed.") % {"count": logins}
            self.message_user(request, text, messages.SUCCESS)
            return self._back(done)
        return TemplateResponse(
            request,
            STATUS_TEMPLATE,
            {
                **self.admin_site.each_context(request),
                "title": change.title,
                "opts": self.model._meta,
                "original": client,
                "change": change,
                "form": form,
                "logins": logins,
                "media": self.media + form.media,
            },
        )
