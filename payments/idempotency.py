"""HTTP `Idempotency-Key` for money-moving POSTs (charging start/stop, wallet top-up).

A view method opts in with the decorator:

    class StartView(APIView):
        @idempotent
        def post(self, request): ...

It runs after authentication, permissions and throttling (DRF calls the handler last), so
`request.user` is the `accounts.Client` that scopes the key. Behaviour:

- no header → the request is processed normally;
- a header that is not 1–255 printable ASCII characters → 400 VALIDATION_ERROR;
- first request with a key: the key is claimed by an INSERT under the unique constraint
  (client, key) in its own short transaction; the winner runs the view and stores its answer
  (status, body, `REPLAYED_HEADERS`) — errors included, except 5xx (and unhandled
  exceptions), which release the claim so that the client can retry;
- same key + same fingerprint (method, path + query, canonical JSON body) → the stored
  answer, with `Idempotent-Replayed: true`, for as long as the key lives (7 days ≥ 24 h);
- same key + another fingerprint → 422 IDEMPOTENCY_CONFLICT;
- same key while the first request is still running → 409 IDEMPOTENCY_IN_PROGRESS; a claim
  left in progress longer than IDEMPOTENCY_STALE_AFTER (a crashed worker) is taken over.

`idempotency_keys_purge()` deletes keys older than IDEMPOTENCY_KEY_TTL (run it daily).

The answer is stored after the view's own transactions commit, so a crash in between leaves
an in-progress claim that is taken over after IDEMPOTENCY_STALE_AFTER and the view runs
again: the services underneath keep their own idempotency (ledger keys, session ids) for
that window. Do not call an idempotent view inside an outer transaction.atomic (the claim
must commit to be seen by concurrent duplicates).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpResponse, QueryDict
from django.template.response import SimpleTemplateResponse
from django.utils import timezone
from rest_framework import status

from accounts.models import Client
from evpower.api.errors import ApiError
from payments.models import IdempotencyKey

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_META = "HTTP_IDEMPOTENCY_KEY"
_VALID_KEY = re.compile(r"[\x20-\x7e]{1,255}")
# headers of the first answer that belong to it (the rest is set again on every response)
REPLAYED_HEADERS = ("Content-Type", "Content-Language", "Location")
_CLAIM_ATTEMPTS = 3


def key_ttl() -> timedelta:
    return settings.IDEMPOTENCY_KEY_TTL


def stale_after() -> timedelta:
    return settings.IDEMPOTENCY_STALE_AFTER


def idempotent(handler):
    """Decorate an APIView handler method (post/put/patch/delete) with Idempotency-Key."""

    @functools.wraps(handler)
    def wrapper(view, request, *args, **kwargs):
        key = request_key(request)
        client = getattr(request, "user", None)
        if key is None or not isinstance(client, Client):
            return handler(view, request, *args, **kwargs)
        fingerprint = request_fingerprint(request)
        outcome = _claim(client=client, key=key, fingerprint=fingerprint, request=request)
        if isinstance(outcome, IdempotencyKey):
            return _replay(outcome)
        try:
            try:
                response = handler(view, request, *args, **kwargs)
            except Exception as exc:
                # an API error is an answer like any other (stored and replayed); anything
                # else is a bug that DRF re-raises here (→ 500): the claim is released below
                response = view.handle_exception(exc)
            response = view.finalize_response(request, response, *args, **kwargs)
            if isinstance(response, SimpleTemplateResponse):
                response.render()
        except BaseException:
            _release(outcome)
            raise
        if response.status_code >= 500 or response.streaming:
            _release(outcome)
        else:
            _store(outcome, response)
        return response

    wrapper.idempotent = True
    return wrapper


def request_key(request) -> str | None:
    """The Idempotency-Key header, None without one; 400 VALIDATION_ERROR when malformed."""
    if _META not in request.META:
        return None
    key = request.META[_META]
    if not _VALID_KEY.fullmatch(key):
        raise ApiError(
            "VALIDATION_ERROR",
            details={"fields": {HEADER: ["Must be 1 to 255 printable ASCII characters."]}},
        )
    return key


def request_fingerprint(request) -> str:
    """sha256 of method, path (+ sorted query) and the body as canonical JSON."""
    query = sorted(request.query_params.lists()) if request.query_params else []
    body = request.data  # a ParseError (400) here is answered before any claim
    if isinstance(body, QueryDict):  # what DRF gives for no body (or form data)
        body = {name: values for name, values in body.lists()}
    canonical = json.dumps(
        [request.method, request.path, query, body],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class _Claim:
    pk: int
    token: uuid.UUID


def _claim(*, client: Client, key: str, fingerprint: str, request) -> _Claim | IdempotencyKey:
    """Our claim on the key (run the view), or the completed row to replay; raises 422/409."""
    for _ in range(_CLAIM_ATTEMPTS):
        now = timezone.now()
        token = uuid.uuid4()
        try:
            with transaction.atomic():
                row = IdempotencyKey.objects.create(
                    client=client,
                    key=key,
                    fingerprint=fingerprint,
                    method=request.method,
                    path=request.path[:500],
                    claim=token,
                    created_at=now,
                    locked_at=now,
                )
            return _Claim(row.pk, token)
        except IntegrityError:
            pass  # the key exists (or existed a moment ago): look at it under a row lock
        with transaction.atomic():
            row = IdempotencyKey.objects.select_for_update().filter(client=client, key=key).first()
            if row is None:
                continue  # purged or released meanwhile: claim it again
            if row.created_at <= now - key_ttl():  # expired, not purged yet: a new key
                _reset(row, fingerprint=fingerprint, request=request, token=token, now=now)
                return _Claim(row.pk, token)
            if row.fingerprint != fingerprint:
                raise ApiError(
                    "IDEMPOTENCY_CONFLICT",
                    details={"key": key},
                    status_code=status.HTTP_422_UNPROCESSABLE_ENTITY,
                )
            if row.state == IdempotencyKey.State.COMPLETED:
                return row
            if row.locked_at <= now - stale_after():  # the first request died: take over
                row.claim, row.locked_at = token, now
                row.save(update_fields=["claim", "locked_at"])
                return _Claim(row.pk, token)
            raise ApiError(
                "IDEMPOTENCY_IN_PROGRESS",
                status_code=status.HTTP_409_CONFLICT,
                details={"key": key},
            )
    raise RuntimeError(f"could not claim idempotency key {key!r}")


def _reset(
    row: IdempotencyKey, *, fingerprint: str, request, token: uuid.UUID, now: datetime
) -> None:
    row.fingerprint, row.method, row.path = fingerprint, request.method, request.path[:500]
    row.state, row.claim, row.created_at, row.locked_at = (
        IdempotencyKey.State.IN_PROGRESS,
        token,
        now,
        now,
    )
    row.completed_at, row.response_status, row.response_headers, row.response_body = (
        None,
        None,
        {},
        b"",
    )
    row.save()


def _store(claim: _Claim, response) -> None:
    headers = {name: response[name] for name in REPLAYED_HEADERS if response.has_header(name)}
    IdempotencyKey.objects.filter(
        pk=claim.pk, claim=claim.token, state=IdempotencyKey.State.IN_PROGRESS
    ).update(
        state=IdempotencyKey.State.COMPLETED,
        completed_at=timezone.now(),
        response_status=response.status_code,
        response_headers=headers,
        response_body=response.content,
    )


def _release(claim: _Claim) -> None:
    IdempotencyKey.objects.filter(
        pk=claim.pk, claim=claim.token, state=IdempotencyKey.State.IN_PROGRESS
    ).delete()


def _replay(row: IdempotencyKey) -> HttpResponse:
    response = HttpResponse(bytes(row.response_body), status=row.response_status)
    for name, value in row.response_headers.items():
        response[name] = value
    response[REPLAYED_HEADER] = "true"
    return response


def idempotency_keys_purge(now: datetime | None = None) -> int:
    """Delete the keys older than IDEMPOTENCY_KEY_TTL (7 days); returns how many."""
    cutoff = (now or timezone.now()) - key_ttl()
    deleted, _ = IdempotencyKey.objects.filter(created_at__lte=cutoff).delete()
    return deleted
