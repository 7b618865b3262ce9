"""Payme's side: the checkout page our checkout link opens, and the Merchant API calls
Payme then makes to us (JSON-RPC 2.0 with HTTP Basic `Paycom:<PAYME_KEY>`).

Pay: CheckPerformTransaction, CreateTransaction (a 24-character id and Payme's `time` in
ms), PerformTransaction — our side credits on Perform. Paying again re-sends Perform for the
same transaction, as Payme's retries do: our side answers the stored result and credits once.
Decline (a card the bank refused): CheckPerformTransaction, CreateTransaction, then
CancelTransaction with reason 2, Payme's "debit operation failed".
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time

from django.conf import settings
from django.urls import reverse

from . import store
from .calls import Step, post

CODE = "payme"
CANCEL_REASON_DEBIT_FAILED = 2


def checkout(encoded: str) -> dict | None:
    """Our checkout link's parameters (`m=<merchant>;ac.order_id=<order>;a=<tiyin>`)."""
    try:
        text = base64.b64decode(encoded, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    params = dict(part.split("=", 1) for part in text.split(";") if "=" in part)
    try:
        amount = int(params.get("a", ""))
    except ValueError:
        return None
    if not params.get("ac.order_id") or params.get("m") != settings.PAYME["merchant_id"]:
        return None
    return {
        "order_id": params["ac.order_id"],
        "amount": amount,
        "transaction": store.load(CODE, "order", params["ac.order_id"]),
    }


def pay(order: dict) -> list[Step]:
    steps: list[Step] = []
    txn = order["transaction"]
    if txn is None:
        txn = _create(order, steps)
        if txn is None:
            return steps
    steps.append(_rpc("PerformTransaction", {"id": txn["id"]}))
    return steps


def decline(order: dict) -> list[Step]:
    steps: list[Step] = []
    txn = order["transaction"] or _create(order, steps)
    if txn is not None:
        steps.append(
            _rpc("CancelTransaction", {"id": txn["id"], "reason": CANCEL_REASON_DEBIT_FAILED})
        )
    return steps


def _create(order: dict, steps: list[Step]) -> dict | None:
    account = {"order_id": order["order_id"]}
    check = _rpc("CheckPerformTransaction", {"amount": order["amount"], "account": account})
    steps.append(check)
    if not (check.data or {}).get("result", {}).get("allow"):
        return None
    txn = {"id": secrets.token_hex(12), "time": int(time.time() * 1000)}
    create = _rpc(
        "CreateTransaction",
        {"id": txn["id"], "time": txn["time"], "amount": order["amount"], "account": account},
    )
    steps.append(create)
    if "result" not in (create.data or {}):
        return None
    store.save(CODE, "order", order["order_id"], txn)
    return txn


def _rpc(method: str, params: dict) -> Step:
    credentials = base64.b64encode(f"Paycom:{settings.PAYME['key']}".encode()).decode()
    return post(
        f"Payme {method}",
        reverse("payme-merchant-api"),
        json={"jsonrpc": "2.0", "id": secrets.randbelow(10**6), "method": method, "params": params},
        headers={"Authorization": f"Basic {credentials}"},
    )
