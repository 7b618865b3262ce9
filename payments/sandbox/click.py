"""Click's side: the payment page our link opens, the SHOP API calls Click then makes to us
(form posts signed with md5: Prepare, then Complete), and the Merchant API our client reads
statuses from (`Auth: <merchant_user_id>:<sha1(timestamp + secret)>:<timestamp>`).

Pay: Prepare (action 0), then Complete (action 1, error 0) with our merchant_prepare_id —
our side credits on Complete. Paying again re-sends Complete: our side answers -4 (already
paid) and credits nothing more. Decline: Prepare, then Complete with Click's own error
-5017 (the payer cancelled): our side closes the payment and answers -9.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.urls import reverse

from . import store
from .calls import Step, post

CODE = "click"
TASHKENT = ZoneInfo("Asia/Tashkent")
PAID, PREPARED, CANCELLED = 2, 1, -1  # Click's payment_status
PAYER_CANCELLED = "-5017"


def page(query) -> dict | None:
    """The payment link's parameters, if they are ours."""
    config = settings.CLICK
    order_id, amount = query.get("transaction_param", ""), query.get("amount", "")
    if (
        not order_id
        or not amount
        or query.get("service_id") != config["service_id"]
        or query.get("merchant_id") != config["merchant_id"]
    ):
        return None
    return {"order_id": order_id, "amount": amount, "payment": store.load(CODE, "order", order_id)}


def pay(order: dict) -> list[Step]:
    steps: list[Step] = []
    payment = order["payment"] or _prepare(order, steps)
    if payment is not None:
        steps.append(_complete(order, payment, error="0", note="Success"))
        payment["status"] = (
            PAID if steps[-1].data and steps[-1].data.get("error") in (0, -4) else payment["status"]
        )
        store.save(CODE, "order", order["order_id"], payment)
    return steps


def decline(order: dict) -> list[Step]:
    steps: list[Step] = []
    payment = order["payment"] or _prepare(order, steps)
    if payment is not None:
        steps.append(_complete(order, payment, error=PAYER_CANCELLED, note="Cancelled"))
        payment["status"] = CANCELLED
        store.save(CODE, "order", order["order_id"], payment)
    return steps


def _prepare(order: dict, steps: list[Step]) -> dict | None:
    click_trans_id = store.new_id(digits=9)
    payment = {
        "click_trans_id": click_trans_id,
        "paydoc_id": store.new_id(digits=9),
        "sign_time": datetime.now(TASHKENT).strftime("%Y-%m-%d %H:%M:%S"),
        "prepare_id": "",
        "status": PREPARED,
        "order_id": order["order_id"],
    }
    steps.append(_shop(order, payment, action="0", error="0", note="Success"))
    answer = steps[-1].data or {}
    if answer.get("error") != 0:
        return None
    payment["prepare_id"] = str(answer.get("merchant_prepare_id", ""))
    store.save(CODE, "order", order["order_id"], payment)
    store.save(CODE, "payment", click_trans_id, payment)
    return payment


def _complete(order: dict, payment: dict, *, error: str, note: str) -> Step:
    return _shop(order, payment, action="1", error=error, note=note)


def _shop(order: dict, payment: dict, *, action: str, error: str, note: str) -> Step:
    config = settings.CLICK
    fields = {
        "click_trans_id": payment["click_trans_id"],
        "service_id": config["service_id"],
        "click_paydoc_id": payment["paydoc_id"],
        "merchant_trans_id": order["order_id"],
        "amount": order["amount"],
        "action": action,
        "error": error,
        "error_note": note,
        "sign_time": payment["sign_time"],
    }
    prepare_id = payment["prepare_id"] if action == "1" else ""
    if action == "1":
        fields["merchant_prepare_id"] = prepare_id
    signed = (
        fields["click_trans_id"]
        + fields["service_id"]
        + config["secret_key"]
        + fields["merchant_trans_id"]
        + prepare_id
        + fields["amount"]
        + action
        + fields["sign_time"]
    )
    fields["sign_string"] = hashlib.md5(signed.encode(), usedforsecurity=False).hexdigest()
    name = "click-prepare" if action == "0" else "click-complete"
    return post(f"Click {'Prepare' if action == '0' else 'Complete'}", reverse(name), data=fields)


# -- the Merchant API ----------------------------------------------------------------------------


def authorized(header: str) -> bool:
    """Click's `Auth` header: `<merchant_user_id>:<sha1(timestamp + secret_key)>:<ts>`."""
    config = settings.CLICK
    user, _, rest = header.partition(":")
    digest, _, stamp = rest.partition(":")
    expected = hashlib.sha1(
        f"{stamp}{config['secret_key']}".encode(), usedforsecurity=False
    ).hexdigest()
    fresh = stamp.isdigit() and abs(time.time() - int(stamp)) < 3600
    return (
        hmac.compare_digest(user.encode(), config["merchant_user_id"].encode())
        and hmac.compare_digest(digest.encode(), expected.encode())
        and fresh
    )


def status_by_order(order_id: str) -> dict:
    payment = store.load(CODE, "order", order_id)
    if payment is None:
        return {"error_code": -5, "error_note": "payment not found"}
    return {
        "error_code": 0,
        "error_note": "Success",
        "payment_id": int(payment["click_trans_id"]),
        "payment_status": payment["status"],
    }


def status_by_id(payment_id: str) -> dict:
    payment = store.load(CODE, "payment", payment_id)
    if payment is None:
        return {"error_code": -5, "error_note": "payment not found"}
    current = store.load(CODE, "order", payment["order_id"]) or payment
    return {
        "error_code": 0,
        "error_note": "Success",
        "payment_id": int(payment_id),
        "payment_status": current["status"],
    }


def reverse_payment(payment_id: str) -> dict:
    payment = store.load(CODE, "payment", payment_id)
    current = payment and store.load(CODE, "order", payment["order_id"])
    if not current or current["status"] != PAID:
        return {"error_code": -5, "error_note": "no paid payment to reverse"}
    current["status"] = CANCELLED
    store.save(CODE, "order", current["order_id"], current)
    return {"error_code": 0, "error_note": "Success", "payment_id": int(payment_id)}
