"""Error reporting to Sentry (only when SENTRY_DSN is set), without personal data.

`DATA_COLLECTION` (the SDK's successor of the deprecated send_default_pii) keeps users,
cookies, IP addresses, request bodies and query strings (the app socket's ?token=) out; the
SDK's own scrubber drops values under well-known secret names. On top, every event,
transaction and breadcrumb passes the log masker (evpower/logmask.py) before it leaves the
process: messages, exception values, local variables, request data/headers/query,
breadcrumbs and extra — the same rules as our log lines (phones, cards, tokens, passwords,
one-time codes).

HTTP is instrumented by the Django integration. WebSocket consumers are not (it patches only
Django's ASGI handler), so `wrap_websocket` puts the SDK's ASGI middleware around the socket
application: one isolation scope per connection, and errors that escape a consumer reported.
"""

from __future__ import annotations

from typing import Any

import sentry_sdk
from django_guid import get_guid
from sentry_sdk.integrations.asgi import SentryAsgiMiddleware
from sentry_sdk.integrations.celery import CeleryIntegration
from sentry_sdk.integrations.django import DjangoIntegration

from evpower.logmask import mask_value

# the parts of an event that can carry user data; ids, timestamps, SDK and release info are
# left alone (a changed event_id or trace_id would break the event)
_EVENT_PARTS = (
    "message",
    "logentry",
    "exception",
    "threads",
    "breadcrumbs",
    "request",
    "extra",
    "user",
    "spans",
    "tags",
    "contexts",
    "transaction",
)
_IDS = frozenset(
    {
        "event_id",
        "trace_id",
        "span_id",
        "parent_span_id",
        "segment_id",
        "timestamp",
        "start_timestamp",
        "op",
        "origin",
        "status",
        "lineno",
        "colno",
        "in_app",
        "platform",
        "abs_path",
        "filename",
        "module",
        "function",
        "type",
        "category",
        "level",
        "handled",
        "mechanism",
    }
)


def scrub_event(event: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """before_send / before_send_transaction: the event with secrets masked, tagged with the
    correlation id of the request, task or frame it happened in."""
    for part in _EVENT_PARTS:
        if part in event:
            event[part] = mask_value(event[part], keep=_IDS)
    correlation_id = get_guid()
    if correlation_id:
        tags = event.setdefault("tags", {})
        if isinstance(tags, dict):
            tags["correlation_id"] = correlation_id
    return event


def scrub_breadcrumb(crumb: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    return mask_value(crumb, keep=_IDS)


# what the SDK's integrations may collect by themselves: less than send_default_pii=False
# did (request bodies and query strings too: phones, codes, tokens, callbacks' signatures)
DATA_COLLECTION: dict[str, Any] = {
    "user_info": False,
    "cookies": {"mode": "off"},
    "http_headers": {
        "request": {
            "mode": "denylist",
            "terms": ["forwarded", "-ip", "remote-", "via", "-user", "authorization", "cookie"],
        }
    },
    "http_bodies": [],
    "url_query_params": {"mode": "off"},
    "database_query_data": False,
    "queues": False,
    "gen_ai": {"inputs": False, "outputs": False},
}


def init_sentry(
    *,
    dsn: str,
    environment: str,
    release: str | None = None,
    traces_sample_rate: float = 0.0,
    **options: Any,
) -> None:
    """Start reporting to `dsn` (settings call this when SENTRY_DSN is set; tests, with a
    DSN of their own). `options` go to sentry_sdk.init as they are."""
    sentry_sdk.init(
        dsn=dsn,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        environment=environment,
        release=release or None,
        data_collection=DATA_COLLECTION,  # drivers' phone numbers and tokens must never leave
        before_send=scrub_event,
        before_send_transaction=scrub_event,
        before_breadcrumb=scrub_breadcrumb,
        traces_sample_rate=traces_sample_rate,
        **options,
    )


def wrap_websocket(application: Any) -> Any:
    """The socket application, inside Sentry's ASGI middleware when Sentry is on."""
    if not sentry_sdk.get_client().is_active():
        return application
    return SentryAsgiMiddleware(application)
