"""The sandbox's edges: the checkout pages (Pay / Decline post back to the same page) and
the providers' APIs our clients call.

The pages stand for the providers' own sites, not ours, so they carry no CSRF token: that
keeps a Pay press a plain form post (`curl -X POST <payment_url> -d action=pay` works too).
At worst a forged press "pays" a sandbox invoice on a development machine, through the
same verified callback as a real one.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from django.http import Http404, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from payments.money import from_minor

from . import click, odengi, payme

ACTIONS = ("pay", "decline")


def _page(
    request,
    *,
    provider: str,
    order_id: str,
    amount: str,
    currency: str,
    state: Callable[[], str],
    act: Callable[[str], list],
) -> HttpResponse:
    """The checkout: GET shows it, POST presses Pay or Decline and shows each call the
    "provider" made to us with our answer, and the state after it."""
    steps = []
    if request.method == "POST":
        action = request.POST.get("action", "")
        if action not in ACTIONS:
            return HttpResponseBadRequest("action must be pay or decline")
        steps = act(action)
    return render(
        request,
        "sandbox/checkout.html",
        {
            "provider": provider,
            "order_id": order_id,
            "amount": amount,
            "currency": currency,
            "state": state(),
            "steps": [
                {"label": s.label, "status": s.status, "body": _pretty(s.body)} for s in steps
            ],
        },
    )


def _pretty(body: str) -> str:
    try:
        return json.dumps(json.loads(body), ensure_ascii=False, indent=1)
    except ValueError:
        return body


@csrf_exempt
@require_http_methods(["GET", "POST"])
def odengi_pay(request, invoice_id: str):
    record = odengi.invoice(invoice_id)
    if record is None:
        raise Http404("no such invoice")

    def act(action):
        return odengi.pay(invoice_id) if action == "pay" else odengi.decline(invoice_id)

    return _page(
        request,
        provider="O!Dengi",
        order_id=record["order_id"],
        amount=str(from_minor(record["amount"])),
        currency=record["currency"],
        state=lambda: odengi.invoice(invoice_id)["status"],
        act=act,
    )


@csrf_exempt
@require_POST
def odengi_api(request):
    return JsonResponse(odengi.answer_request(request.body))


@csrf_exempt
@require_http_methods(["GET", "POST"])
def payme_checkout(request, encoded: str):
    order = payme.checkout(encoded)
    if order is None:
        raise Http404("not a checkout link of this merchant")

    def act(action):
        return payme.pay(order) if action == "pay" else payme.decline(order)

    def state():
        return "transaction created" if payme.checkout(encoded)["transaction"] else "new"

    return _page(
        request,
        provider="Payme",
        order_id=order["order_id"],
        amount=str(from_minor(order["amount"], "UZS")),
        currency="UZS",
        state=state,
        act=act,
    )


@csrf_exempt
@require_http_methods(["GET", "POST"])
def click_pay(request):
    order = click.page(request.GET)
    if order is None:
        raise Http404("not a payment link of this service")

    def act(action):
        return click.pay(order) if action == "pay" else click.decline(order)

    def state():
        payment = click.page(request.GET)["payment"] or {}
        return {
            None: "new",
            click.PREPARED: "prepared",
            click.PAID: "paid",
            click.CANCELLED: "cancelled",
        }[payment.get("status")]

    return _page(
        request,
        provider="Click",
        order_id=order["order_id"],
        amount=order["amount"],
        currency="UZS",
        state=state,
        act=act,
    )


def _click_api(request, answer):
    if not click.authorized(request.headers.get("Auth", "")):
        return JsonResponse({"error_code": -16, "error_note": "authentication failed"}, status=401)
    return JsonResponse(answer())


@require_http_methods(["GET"])
def click_status_by_mti(request, service_id: str, merchant_trans_id: str, day: str):
    return _click_api(request, lambda: click.status_by_order(merchant_trans_id))


@require_http_methods(["GET"])
def click_status(request, service_id: str, payment_id: str):
    return _click_api(request, lambda: click.status_by_id(payment_id))


@csrf_exempt
@require_http_methods(["DELETE"])
def click_reversal(request, service_id: str, payment_id: str):
    return _click_api(request, lambda: click.reverse_payment(payment_id))
