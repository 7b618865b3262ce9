"""The client page's parts (used by `ClientAdmin` in cockpit/client_admin.py): the block /
unblock form and what each action does, and the HTML of each tab, drawn from the reads in
`client_page.py`. Nothing here writes: the actions call the services in accounts/services.py.

Tables are built with `format_html` (every value escaped); links go only to pages the
staff member may open (a tab is shown only to whoever may view its model).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts import services
from accounts.models import Client, Device, LoginSession
from charging.session.models import ChargingSession
from cockpit.client_page import ClientPage, Newest
from payments.models import LedgerTransaction, Payment

Status = Client.Status

# the theme's label colours (unfold/helpers/label.html)
STATUS_LABEL = {
    Status.ACTIVE: "success",
    Status.BLOCKED: "danger",
    Status.PENDING_DELETION: "warning",
    Status.DELETED: "",
}


# -- block / unblock ---------------------------------------------------------------------


@dataclass(frozen=True)
class StatusAction:
    name: str  # "block" / "unblock": the URL path and the template's switch
    title: str
    submit: str
    allowed_from: tuple[str, ...]
    presets: tuple[tuple[str, str], ...]  # (key, label) of the usual reasons
    service: Callable[..., Client]


BLOCK = StatusAction(
    name="block",
    title=_("Block client"),
    submit=_("Block"),
    allowed_from=(Status.ACTIVE, Status.PENDING_DELETION),
    presets=(
        ("fraud", _("Suspected fraud")),
        ("chargeback", _("Payment chargeback")),
        ("abuse", _("Abuse of stations or staff")),
        ("request", _("At the driver's request")),
    ),
    service=services.client_block,
)
UNBLOCK = StatusAction(
    name="unblock",
    title=_("Unblock / restore client"),
    submit=_("Unblock"),
    # restoring a pending deletion is the same service (it cancels the deletion)
    allowed_from=(Status.BLOCKED, Status.PENDING_DELETION),
    presets=(
        ("resolved", _("Issue resolved")),
        ("mistake", _("Blocked by mistake")),
        ("restore", _("The driver asked to keep the account")),
    ),
    service=services.client_unblock,
)


class StatusChangeForm(forms.Form):
    """A reason chosen from the usual ones, typed, or both ("Suspected fraud: ...")."""

    preset = forms.ChoiceField(label=_("Reason"), required=False)
    note = forms.CharField(
        label=_("Details"),
        required=False,
        max_length=250,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "Required when no reason is chosen above. Kept on "
            "the client's status history with your name."
        ),
    )

    def __init__(self, *args, action: StatusAction, **kwargs):
        super().__init__(*args, **kwargs)
        self.presets = dict(action.presets)
        self.fields["preset"].choices = [
            ("", _("— another reason (type it below) —")),
            *action.presets,
        ]

    def clean(self):
        data = super().clean()
        preset, note = data.get("preset"), (data.get("note") or "").strip()
        if not preset and not note and "note" not in self.errors:
            self.add_error("note", _("A reason is required: choose one or type it."))
        data["reason"] = ": ".join(filter(None, [str(self.presets.get(preset, "")), note]))
        return data


# -- small pieces ------------------------------------------------------------------------


def when(at) -> str:
    return f"{timezone.localtime(at):%Y-%m-%d %H:%M}" if at else "—"


def money(amount: Decimal | None, currency: str) -> str:
    return "—" if amount is None else f"{amount} {currency}"


def label(text, kind: str = ""):
    return render_to_string("unfold/helpers/label.html", {"text": text, "type": kind})


def status_label(status: str):
    return label(
        Status(status).label if status in Status.values else status, STATUS_LABEL.get(status, "")
    )


def link(url: str, text):
    return format_html(
        '<a href="{}" class="text-primary-600 dark:text-primary-500">{}</a>', url, text
    )


def admin_link(view: str, pk, text):
    return link(reverse(f"admin:{view}", args=[pk]), text)


def table(headers: Iterable, rows: list[tuple], empty):
    if not rows:
        return format_html("<p>{}</p>", empty)
    head = format_html_join("", "<th>{}</th>", ((h,) for h in headers))
    body = format_html_join(
        "",
        "<tr>{}</tr>",
        ((format_html_join("", "<td>{}</td>", ((cell,) for cell in row)),) for row in rows),
    )
    return format_html(
        '<table class="cockpit-table"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>',
        head,
        body,
    )


def full_list(shown: Newest, url: str, text):
    """The note under a list: how much is shown and where the rest is."""
    if shown.more:
        return format_html(
            "<p>{} {}</p>",
            gettext("Newest %(count)s shown.") % {"count": len(shown.rows)},
            link(url, text),
        )
    return format_html("<p>{}</p>", link(url, text)) if shown.rows else ""


# -- the Profile tab ---------------------------------------------------------------------


def status_note(page: ClientPage):
    """Why the client is in its status, from the newest status change."""
    client, latest = page.client, next(iter(page.history.rows), None)
    if client.status == Status.BLOCKED:
        if latest is None or latest.status != Status.BLOCKED:
            return gettext("Blocked; no reason was recorded (blocked before reasons were kept).")
        return gettext("Blocked on %(when)s by %(by)s: %(reason)s") % {
            "when": when(latest.created_at),
            "by": latest.by,
            "reason": latest.reason,
        }
    if client.status == Status.PENDING_DELETION:
        return gettext(
            "The driver asked to delete the account on %(when)s; it is "
            "anonymised %(days)s days after that unless restored."
        ) % {
            "when": when(client.deletion_requested_at),
            "days": settings.ACCOUNT_DELETION_GRACE_DAYS,
        }
    if client.status == Status.DELETED:
        return gettext(
            "Anonymised on %(when)s: personal data is gone, the ledger and sessions stay."
        ) % {"when": when(client.anonymised_at)}
    return gettext("Active: can log in, charge and top up.")


def status_history(page: ClientPage):
    rows = [
        (
            when(c.created_at),
            format_html("{} → {}", status_label(c.status_before), status_label(c.status)),
            c.by,
            c.reason,
        )
        for c in page.history.rows
    ]
    return table(
        (_("when"), _("change"), _("by"), _("reason")), rows, _("No block or unblock yet.")
    )


def last_seen(page: ClientPage) -> str:
    if page.last_login_at is None:
        return gettext("Never logged in.")
    return gettext("logged in %(login)s; last used the app %(refresh)s") % {
        "login": when(page.last_login_at),
        "refresh": when(max(filter(None, [page.last_login_at, page.last_refresh_at]))),
    }


# -- the Wallet & ledger tab -------------------------------------------------------------


def wallet_summary(page: ClientPage):
    wallet = page.wallet
    if wallet is None:
        return gettext("No wallet yet (no money has moved).")
    figures = format_html(
        "<p>{}: <strong>{}</strong> · {}: {} · {}: <strong>{}</strong> · {}: {}</p>",
        gettext("balance"),
        money(wallet.balance, wallet.currency),
        gettext("held"),
        money(wallet.held, wallet.currency),
        gettext("available"),
        money(wallet.available, wallet.currency),
        gettext("debt"),
        money(wallet.debt, wallet.currency),
    )
    links = [admin_link("payments_wallet_change", wallet.pk, gettext("Wallet page"))]
    if wallet.debt and page.sections.debts:
        links.append(
            link(
                reverse("admin:payments_debt_changelist") + f"?wallet__id__exact={wallet.pk}",
                gettext("Debts"),
            )
        )
    if page.sections.adjust:
        links.append(
            admin_link(
                "accounts_client_adjust_wallet",
                page.client.pk,
                gettext("Adjust the wallet… (reason required)"),
            )
        )
    return format_html(
        "{}<p>{}</p>", figures, format_html_join(" · ", "{}", ((item,) for item in links))
    )


def ledger(page: ClientPage):
    if page.ledger is None:
        return gettext("No wallet yet (no money has moved).")
    wallet, postings = page.wallet, page.sections.postings
    headers = [
        _("when"),
        _("kind"),
        _("amount"),
        _("balance after"),
        _("held after"),
        _("for"),
        _("by"),
        _("reason"),
    ]
    if postings:
        headers.append(_("postings"))
    rows = []
    for txn in page.ledger.rows:
        row = [
            admin_link("payments_ledgertransaction_change", txn.pk, when(txn.created_at)),
            LedgerTransaction.Kind(txn.kind).label,
            money(txn.amount, txn.currency),
            txn.balance_after,
            txn.held_after,
            f"{txn.ref_type} {txn.ref_id}".strip() or "—",
            txn.author.get_username() if txn.author_id else "—",
            txn.reason or "—",
        ]
        if postings:
            row.append(
                format_html_join(
                    mark_safe("<br>"),
                    "{} {}",
                    (  # noqa: S308
                        (p.get_account_display(), f"{p.amount:+}") for p in txn.postings.all()
                    ),
                )
            )
        rows.append(tuple(row))
    url = reverse("admin:payments_ledgertransaction_changelist") + f"?wallet__id__exact={wallet.pk}"
    return format_html(
        "{}{}",
        table(headers, rows, _("No ledger transactions yet.")),
        full_list(page.ledger, url, gettext("The whole ledger of this wallet")),
    )


# -- the Sessions and Payments tabs ------------------------------------------------------


def kwh(wh: int | None) -> str:
    return "—" if wh is None else f"{Decimal(wh) / 1000:.3f}"


def sessions(page: ClientPage):
    rows = [
        (
            admin_link("charging_chargingsession_change", s.pk, f"#{s.pk}"),
            when(s.created_at),
            s.station.identity,
            s.connector_number,
            ChargingSession.Status(s.status).label,
            kwh(s.energy_wh),
            money(s.final_cost, s.currency)
            if s.final_cost is not None
            else gettext("%(cost)s so far") % {"cost": money(s.cost, s.currency)},
            when(s.ended_at),
        )
        for s in page.sessions.rows
    ]
    url = (
        reverse("admin:charging_chargingsession_changelist")
        + f"?client__id__exact={page.client.pk}"
    )
    return format_html(
        "{}{}<p>{}</p>",
        table(
            (
                _("session"),
                _("started"),
                _("station"),
                _("connector"),
                _("status"),
                _("energy (kWh)"),
                _("cost"),
                _("ended"),
            ),
            rows,
            _("No charging sessions yet."),
        ),
        full_list(page.sessions, url, gettext("All sessions of this client")),
        gettext("A refund of a session is made on the session's page (Refund…)."),
    )


def payments(page: ClientPage):
    rows = [
        (
            admin_link("payments_payment_change", p.pk, p.order_id),
            when(p.created_at),
            p.get_provider_display(),
            money(p.amount, p.currency),
            Payment.Status(p.status).label,
            when(p.paid_at),
        )
        for p in page.payments.rows
    ]
    url = reverse("admin:payments_payment_changelist") + f"?client__id__exact={page.client.pk}"
    return format_html(
        "{}{}<p>{}</p>",
        table(
            (_("order"), _("created"), _("provider"), _("amount"), _("status"), _("paid")),
            rows,
            _("No top-ups yet."),
        ),
        full_list(page.payments, url, gettext("All payments of this client")),
        gettext(
            "A paid top-up is refunded through its provider on the payment's page "
            "(Refund through the provider…)."
        ),
    )


# -- the Devices and logins tab ----------------------------------------------------------

WEB_PUSH_SERVICES = (
    ("fcm.googleapis.com", "Chrome"),
    ("push.services.mozilla.com", "Firefox"),
    ("notify.windows.com", "Edge"),
    ("push.apple.com", "Safari"),
)


def platform(device: Device) -> str:
    if device.kind == Device.Kind.FCM:
        return gettext("mobile app (Firebase)")
    host = urlsplit(device.token).hostname or ""
    name = next(
        (
            name
            for suffix, name in WEB_PUSH_SERVICES
            if host == suffix or host.endswith(f".{suffix}")
        ),
        host or "?",
    )
    return gettext("browser: %(name)s") % {"name": name}


def devices(page: ClientPage):
    rows = [
        (
            Device.Kind(d.kind).label,
            platform(d),
            when(d.created_at),
            when(d.updated_at),
            f"…{d.token[-8:]}",
        )
        for d in page.devices.rows
    ]
    note = gettext(
        "A device stays listed while it can receive pushes: one the push service "
        "reports gone is removed."
    )
    if page.devices.more:
        note += " " + gettext("Newest %(count)s shown.") % {"count": len(page.devices.rows)}
    return format_html(
        "{}<p>{}</p>",
        table(
            (_("kind"), _("platform"), _("registered"), _("last registered"), _("token ends")),
            rows,
            _("No push devices."),
        ),
        note,
    )


def login_state(login: LoginSession, now) -> str:
    if login.revoked_at:
        return gettext("closed %(when)s (%(why)s)") % {
            "when": when(login.revoked_at),
            "why": LoginSession.RevokeReason(login.revoke_reason).label
            if login.revoke_reason
            else "?",
        }
    return gettext("active") if login.expires_at > now else gettext("expired")


def logins(page: ClientPage):
    now = timezone.now()
    rows = [
        (
            when(s.created_at),
            when(s.refreshed_at),
            when(s.expires_at),
            login_state(s, now),
            s.ip or "—",
            s.user_agent[:80] or "—",
        )
        for s in page.logins.rows
    ]
    url = reverse("admin:accounts_loginsession_changelist") + f"?client__id__exact={page.client.pk}"
    return format_html(
        "{}{}",
        table(
            (
                _("logged in"),
                _("last refresh"),
                _("expires"),
                _("state"),
                _("IP address"),
                _("app"),
            ),
            rows,
            _("No logins."),
        ),
        full_list(page.logins, url, gettext("All logins of this client")),
    )
