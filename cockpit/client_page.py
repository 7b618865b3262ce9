"""Reads for the staff's client page (cockpit/client_admin.py): status history, logins, wallet,
ledger, charging sessions, payments and push devices of one client.

Every list is the newest rows only, one more than shown fetched to know whether the full
list (linked from the page) has more; so the page costs the same few queries for a client
with three sessions as for one with three thousand. Sections the staff member may not see
are not read at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

from django.db.models import Max, QuerySet

from accounts.models import Client, ClientStatusChange, Device, LoginSession
from charging.session.models import ChargingSession
from payments.models import LedgerTransaction, Payment, Wallet

T = TypeVar("T")

SHOWN = 10  # rows of each list on the page
HISTORY_SHOWN = 5  # status changes


@dataclass(frozen=True)
class Newest(Generic[T]):
    rows: list[T]
    more: bool  # the full list has older rows than these


def newest(queryset: QuerySet, count: int = SHOWN) -> Newest:
    rows = list(queryset[: count + 1])
    return Newest(rows[:count], len(rows) > count)


@dataclass(frozen=True)
class Sections:
    """What the page may show to the staff member looking at it (see ClientAdmin)."""

    wallet: bool = False
    ledger: bool = False
    postings: bool = False
    sessions: bool = False
    payments: bool = False
    logins: bool = False
    debts: bool = False  # a link to the wallet's debts
    adjust: bool = False  # a link to the "Adjust wallet" form


@dataclass
class ClientPage:
    client: Client
    sections: Sections
    history: Newest[ClientStatusChange]
    last_login_at: object = None  # datetime | None
    last_refresh_at: object = None
    wallet: Wallet | None = None
    ledger: Newest[LedgerTransaction] | None = None
    sessions: Newest[ChargingSession] | None = None
    payments: Newest[Payment] | None = None
    devices: Newest[Device] = field(default_factory=lambda: Newest([], False))
    logins: Newest[LoginSession] | None = None


def client_page(*, client: Client, sections: Sections) -> ClientPage:
    """At most 9 queries, whatever the size of the client's history."""
    logins = LoginSession.objects.filter(client=client)
    seen = logins.aggregate(login=Max("created_at"), refresh=Max("refreshed_at"))
    page = ClientPage(
        client=client,
        sections=sections,
        history=newest(
            ClientStatusChange.objects.filter(client=client)
            .select_related("author")
            .order_by("-id"),
            HISTORY_SHOWN,
        ),
        last_login_at=seen["login"],
        last_refresh_at=seen["refresh"],
        devices=newest(Device.objects.filter(client=client).order_by("-updated_at", "-id")),
    )
    if sections.logins:
        page.logins = newest(logins.order_by("-created_at"))
    if sections.wallet or sections.ledger:
        page.wallet = Wallet.objects.filter(client=client).first()
    if sections.ledger and page.wallet is not None:
        ledger = (
            LedgerTransaction.objects.filter(wallet=page.wallet)
            .select_related("author")
            .order_by("-id")
        )
        if sections.postings:
            ledger = ledger.prefetch_related("postings")
        page.ledger = newest(ledger)
    if sections.sessions:
        page.sessions = newest(
            ChargingSession.objects.filter(client=client).select_related("station").order_by("-id")
        )
    if sections.payments:
        page.payments = newest(Payment.objects.filter(client=client).order_by("-id"))
    return page
