"""Prometheus's alerts reach operators through the same service as the platform's own:
Alertmanager posts its webhook (`webhook_configs`, payload version 4) to
`/alerts/alertmanager` with `Authorization: Bearer <ALERTMANAGER_WEBHOOK_TOKEN>`, and each
alert in it becomes an operator alert — its `severity` label picks the channels, its
fingerprint and status make the rate-limit key (a resolved notice is not held back by
the firing one), and it is kept in the alert history with source "prometheus".

Sent while Alertmanager waits, not queued: the alert may be about Redis or Celery.
Alertmanager retries a notification that got no 2xx, so a malformed or unauthenticated
request is answered 4xx (not retried for ever) and a delivery that failed on every
channel is answered 502 (retried by Alertmanager later).
"""

from __future__ import annotations

import hashlib
import hmac
import json

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from evpower.alerts import SEVERITIES, operator_alert_outcome

MAX_ALERTS = 100  # per request; Alertmanager's max_alerts keeps groups smaller than this
SHOWN_LABELS = 12


def _authorized(request: HttpRequest) -> bool:
    token = settings.ALERTMANAGER_WEBHOOK_TOKEN
    given = request.headers.get("Authorization", "")
    return bool(token) and hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


def _notice(alert: dict, group_status: str) -> dict:
    labels = {str(k): str(v) for k, v in (alert.get("labels") or {}).items()}
    annotations = {str(k): str(v) for k, v in (alert.get("annotations") or {}).items()}
    status = str(alert.get("status") or group_status or "firing")
    name = labels.get("alertname", "unnamed alert")
    severity = labels.get("severity", "high")
    summary = annotations.get("summary") or name
    subject = f"{name}: {summary}" if summary != name else name
    if status == "resolved":
        subject = f"Resolved: {subject}"
    lines = [annotations.get("description", "")]
    lines += [f"{k}={v}" for k, v in sorted(labels.items())[:SHOWN_LABELS]]
    for field in ("runbook_url",):
        if annotations.get(field):
            lines.append(f"{field}: {annotations[field]}")
    lines.append(f"starts at: {alert.get('startsAt', '?')}")
    if status == "resolved":
        lines.append(f"ends at: {alert.get('endsAt', '?')}")
    fingerprint = (
        alert.get("fingerprint")
        or hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]
    )
    return {
        "key": f"prometheus:{fingerprint}:{status}",
        "subject": subject[:250],
        "text": "\n".join(line for line in lines if line),
        "severity": severity if severity in SEVERITIES else "high",
    }


@csrf_exempt
@require_POST
def alertmanager_webhook(request: HttpRequest) -> JsonResponse:
    if not _authorized(request):
        return JsonResponse({"error": "Bearer token missing or wrong"}, status=401)
    try:
        payload = json.loads(request.body)
        alerts = payload["alerts"]
        if not isinstance(alerts, list) or not all(isinstance(a, dict) for a in alerts):
            raise TypeError("alerts is not a list of objects")
    except (ValueError, KeyError, TypeError) as exc:
        return JsonResponse({"error": f"not an Alertmanager webhook payload: {exc}"}, status=400)
    if len(alerts) > MAX_ALERTS:
        return JsonResponse({"error": f"more than {MAX_ALERTS} alerts in one request"}, status=413)
    notices = [_notice(alert, str(payload.get("status", ""))) for alert in alerts]
    outcomes = [operator_alert_outcome(**notice, source="prometheus") for notice in notices]
    # Alertmanager retries the whole notification: those sent are then held back by the
    # rate limit, the failed ones (their keys released) are tried again
    failed = sum(outcome in ("failed", "error") for outcome in outcomes)
    return JsonResponse(
        {"alerts": len(notices), "sent": outcomes.count("sent"), "failed": failed},
        status=502 if failed else 200,
    )
