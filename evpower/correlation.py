"""Correlation ids: one per HTTP request, Celery task, charger frame and app socket, carried
by django-guid's context variable, so that every log line written on the way carries it
(`django_guid.log_filters.CorrelationId` adds it to the record).

- HTTP: django-guid's middleware reads X-Request-ID (or makes one) and returns it. A caller's
  value is taken only in a safe shape (REQUEST_ID_SHAPE): `request_id_shape_middleware` runs
  just before it and drops anything else, so that django-guid generates a fresh id instead —
  no newline or megabyte of text reaches a log line through this header.
- Celery: django-guid's CeleryIntegration puts the id in the task's headers; the worker sets
  it while the task runs.
- WebSocket: `socket_correlation_id` for a connection, `frame_correlation_id` for each
  charger frame; `set_correlation_id` sets one for the consumer's task, `correlation` for a
  block (ocpp_bridge/db.py hands it to its database threads).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse
from django_guid.context import guid

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_SHAPE = re.compile(r"[A-Za-z0-9._-]{4,64}")
_META_KEY = "HTTP_" + REQUEST_ID_HEADER.upper().replace("-", "_")
# the message id of an OCPP-J frame: [2,"<id>",...] / [3,"<id>",...] / [4,"<id>",...]
_FRAME_MESSAGE_ID = re.compile(r'\s*\[\s*[234]\s*,\s*"([A-Za-z0-9._:-]{1,36})"')
_UNSAFE = re.compile(r"[^A-Za-z0-9._:-]")


def request_id_shape_middleware(get_response: Callable) -> Callable:
    """Before django-guid's middleware: a malformed X-Request-ID counts as absent."""

    def drop_malformed(request: HttpRequest) -> None:
        value = request.META.get(_META_KEY)
        if value is not None and not REQUEST_ID_SHAPE.fullmatch(value):
            del request.META[_META_KEY]
            request.__dict__.pop("headers", None)  # HttpRequest.headers is a cached view

    if iscoroutinefunction(get_response):

        async def middleware(request: HttpRequest) -> HttpResponse:
            drop_malformed(request)
            return await get_response(request)

        markcoroutinefunction(middleware)
    else:

        def middleware(request: HttpRequest) -> HttpResponse:  # type: ignore[misc]
            drop_malformed(request)
            return get_response(request)

    return middleware


request_id_shape_middleware.sync_capable = True  # type: ignore[attr-defined]
request_id_shape_middleware.async_capable = True  # type: ignore[attr-defined]


def frame_correlation_id(identity: str, text: str) -> str:
    """`<identity>:<OCPP message id>` — the same pair the message log keeps, so a log line
    leads to its frame — or `<identity>:<random>` for a frame without a readable id."""
    found = _FRAME_MESSAGE_ID.match(text)
    return f"{_UNSAFE.sub('_', identity)[:48]}:{found[1] if found else uuid.uuid4().hex[:12]}"


def socket_correlation_id(name: str) -> str:
    """For a connection's own lines (handshake, disconnect): `<name>:<random>`."""
    return f"{_UNSAFE.sub('_', name)[:48]}:{uuid.uuid4().hex[:12]}"


def current_correlation_id() -> str | None:
    return guid.get()


def set_correlation_id(correlation_id: str | None) -> str | None:
    """Until changed again, in this task (a WebSocket consumer has one of its own) and in
    the tasks it starts from now on."""
    guid.set(correlation_id)
    return correlation_id


@contextmanager
def correlation(correlation_id: str | None) -> Iterator[None]:
    """Log lines written inside the block (and in tasks or threads started from it with a
    copy of the context) carry `correlation_id`."""
    token = guid.set(correlation_id)
    try:
        yield
    finally:
        guid.reset(token)
