"""Idempotency-Key (payments/idempotency.py) on a tiny test-only view that counts its runs.

"Call it twice": one after the other and at the same moment (threads on PostgreSQL)."""

from __future__ import annotations

import itertools
import threading
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import path
from django.utils import timezone
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView

from accounts.models import Client
from accounts.tests.factories import ClientFactory
from accounts.tests.support import assert_error
from accounts.tokens import session_start
from evpower.api.errors import ApiError
from evpower.tests.support.races import connect
from evpower.tests.support.waiting import wait_until
from payments.idempotency import idempotency_keys_purge, idempotent
from payments.models import IdempotencyKey

URL = "/t/idem"


class Runs:
    lock = threading.Lock()
    count = 0
    release = threading.Event()

    @classmethod
    def next(cls) -> int:
        with cls.lock:
            cls.count += 1
            return cls.count


class CountingView(APIView):
    throttle_classes: list = []

    @idempotent
    def post(self, request):
        run = Runs.next()
        data = request.data
        if data.get("hold"):
            Runs.release.wait(60)  # the test lets the first run finish when it has seen the rest
        if data.get("fail") == "402":
            raise ApiError("INSUFFICIENT_BALANCE", status_code=402, details={"run": run})
        if data.get("fail") == "503":
            return Response({"run": run}, status=503)
        if data.get("fail") == "bug":
            raise RuntimeError("a bug")
        return Response(
            {"run": run, "amount": data.get("amount")},
            status=201,
            headers={"Location": f"/things/{run}"},
        )


urlpatterns = [path(URL.lstrip("/"), CountingView.as_view())]

pytestmark = pytest.mark.urls(__name__)
_phones = itertools.count(1)


@pytest.fixture(autouse=True)
def runs():
    Runs.count = 0
    Runs.release.clear()
    return Runs


def new_client() -> Client:
    return ClientFactory(phone=f"+99677{next(_phones):07d}")


def api_for(client: Client, **kwargs) -> APIClient:
    api = APIClient(**kwargs)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {session_start(client=client).access}")
    return api


def post(api: APIClient, body: dict, key: str | None = "k-1", url: str = URL):
    headers = {"Idempotency-Key": key} if key is not None else {}
    return api.post(url, body, format="json", headers=headers)


@pytest.fixture
def api(db) -> APIClient:
    return api_for(new_client())


def test_same_key_twice_runs_once_and_replays_the_first_answer(api, runs):
    first = post(api, {"amount": "100.00"})
    second = post(api, {"amount": "100.00"})
    assert first.status_code == second.status_code == 201
    assert runs.count == 1
    assert second.content == first.content == b'{"run":1,"amount":"100.00"}'
    assert second["Location"] == first["Location"] == "/things/1"
    assert second["Content-Type"] == first["Content-Type"]
    assert second["Idempotent-Replayed"] == "true"
    assert not first.has_header("Idempotent-Replayed")


def test_replay_ignores_json_key_order_and_spacing(api, runs):
    post(api, {"amount": "5", "note": {"a": 1, "b": 2}})
    replay = api.post(
        URL,
        '{ "note": {"b": 2, "a": 1}, "amount": "5" }',
        content_type="application/json",
        headers={"Idempotency-Key": "k-1"},
    )
    assert replay.status_code == 201 and replay["Idempotent-Replayed"] == "true"
    assert runs.count == 1


def test_an_error_answer_is_stored_and_replayed(api, runs):
    first = post(api, {"fail": "402"})
    second = post(api, {"fail": "402"})
    assert_error(first, 402, "INSUFFICIENT_BALANCE")
    assert_error(second, 402, "INSUFFICIENT_BALANCE")
    assert second.content == first.content and second["Idempotent-Replayed"] == "true"
    assert runs.count == 1


def test_a_5xx_answer_is_not_stored_so_the_client_can_retry(api, runs):
    assert post(api, {"fail": "503"}).status_code == 503
    again = post(api, {"fail": "503"})
    assert again.status_code == 503 and not again.has_header("Idempotent-Replayed")
    assert runs.count == 2
    assert not IdempotencyKey.objects.exists()


def test_a_crash_in_the_view_releases_the_key(db, runs):
    api = api_for(new_client(), raise_request_exception=False)
    assert post(api, {"fail": "bug"}).status_code == 500
    assert not IdempotencyKey.objects.exists()
    assert post(api, {"fail": "bug"}).status_code == 500
    assert runs.count == 2


def test_same_key_with_another_body_is_a_conflict(api, runs):
    post(api, {"amount": "100.00"})
    conflict = post(api, {"amount": "200.00"})
    assert_error(conflict, 422, "IDEMPOTENCY_CONFLICT")
    assert conflict.json()["error"]["details"] == {"key": "k-1"}
    assert not conflict.has_header("Idempotent-Replayed")
    assert runs.count == 1
    assert post(api, {"amount": "100.00"}).json() == {"run": 1, "amount": "100.00"}


def test_same_key_on_another_path_is_a_conflict(api, runs):
    post(api, {"amount": "1"})
    assert_error(post(api, {"amount": "1"}, url=f"{URL}?x=1"), 422, "IDEMPOTENCY_CONFLICT")
    assert runs.count == 1


def test_without_a_key_every_request_runs(api, runs):
    assert post(api, {"amount": "1"}, key=None).json()["run"] == 1
    assert post(api, {"amount": "1"}, key=None).json()["run"] == 2
    assert not IdempotencyKey.objects.exists()


def test_different_keys_run_separately(api, runs):
    post(api, {"amount": "1"}, key="k-1")
    post(api, {"amount": "1"}, key="k-2")
    assert runs.count == 2


def test_another_clients_same_key_is_independent(db, runs):
    alice, bob = api_for(new_client()), api_for(new_client())
    assert post(alice, {"amount": "1"}).json()["run"] == 1
    bobs = post(bob, {"amount": "2"})  # same key, other body: no conflict, not alice's answer
    assert bobs.status_code == 201 and bobs.json() == {"run": 2, "amount": "2"}
    assert not bobs.has_header("Idempotent-Replayed")
    assert post(alice, {"amount": "1"}).json()["run"] == 1
    assert post(bob, {"amount": "2"}).json()["run"] == 2
    assert IdempotencyKey.objects.count() == 2


@pytest.mark.parametrize("key", ["", "x" * 256, "ключ", "tab\there", "nl\x7f"])
def test_a_malformed_key_is_a_validation_error(api, runs, key):
    response = post(api, {"amount": "1"}, key=key)
    assert_error(response, 400, "VALIDATION_ERROR")
    assert "Idempotency-Key" in response.json()["error"]["details"]["fields"]
    assert runs.count == 0


@pytest.mark.parametrize(
    "key", ["a", "x" * 255, "550e8400-e29b-41d4-a716-446655440000", "with space and ~!@#$%^&*()"]
)
def test_a_printable_ascii_key_up_to_255_chars_is_accepted(api, runs, key):
    assert post(api, {"amount": "1"}, key=key).status_code == 201
    assert post(api, {"amount": "1"}, key=key)["Idempotent-Replayed"] == "true"
    assert runs.count == 1


def test_an_unauthenticated_request_is_refused_before_any_claim(db, runs):
    assert_error(post(APIClient(), {"amount": "1"}), 401, "UNAUTHENTICATED")
    assert runs.count == 0 and not IdempotencyKey.objects.exists()


def test_a_duplicate_while_the_first_is_in_progress_gets_409(api, runs):
    client = Client.objects.get()
    now = timezone.now()
    _in_progress(client, _fingerprint(api), created_at=now, locked_at=now - timedelta(minutes=1))
    assert_error(post(api, {"amount": "1"}), 409, "IDEMPOTENCY_IN_PROGRESS")
    assert_error(post(api, {"amount": "2"}), 422, "IDEMPOTENCY_CONFLICT")
    assert runs.count == 0


def test_a_stale_in_progress_claim_is_taken_over(api, runs, settings):
    settings.IDEMPOTENCY_STALE_AFTER = timedelta(minutes=5)
    client = Client.objects.get()
    now = timezone.now()
    _in_progress(
        client,
        _fingerprint(api),
        created_at=now - timedelta(minutes=6),
        locked_at=now - timedelta(minutes=6),
    )
    assert post(api, {"amount": "1"}).status_code == 201
    assert post(api, {"amount": "1"})["Idempotent-Replayed"] == "true"
    assert runs.count == 1
    assert IdempotencyKey.objects.get().state == IdempotencyKey.State.COMPLETED


def _in_progress(client: Client, fingerprint: str, **times) -> IdempotencyKey:
    """A claim on "k-1" left in progress by another request (running, or crashed)."""
    return IdempotencyKey.objects.create(
        client=client,
        key="k-1",
        fingerprint=fingerprint,
        method="POST",
        path=URL,
        claim=uuid.uuid4(),
        **times,
    )


def _fingerprint(api: APIClient) -> str:
    """The fingerprint of post(api, {"amount": "1"}): taken from a real request's row."""
    post(api, {"amount": "1"}, key="probe")
    row = IdempotencyKey.objects.get(key="probe")
    row.delete()
    Runs.count = 0
    return row.fingerprint


def test_the_answer_is_replayed_a_day_later(api, runs):
    post(api, {"amount": "1"})
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))
    assert post(api, {"amount": "1"})["Idempotent-Replayed"] == "true"
    assert runs.count == 1


def test_an_expired_key_is_a_new_request(api, runs):
    post(api, {"amount": "1"})
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(days=7, seconds=1))
    again = post(api, {"amount": "2"})  # not a conflict: the old use is forgotten
    assert again.status_code == 201 and again.json()["run"] == 2
    assert not again.has_header("Idempotent-Replayed")
    assert post(api, {"amount": "2"})["Idempotent-Replayed"] == "true"


def test_purge_deletes_only_keys_older_than_seven_days(api, runs):
    post(api, {"amount": "1"}, key="old")
    post(api, {"amount": "1"}, key="young")
    now = timezone.now()
    IdempotencyKey.objects.filter(key="old").update(created_at=now - timedelta(days=7, hours=1))
    IdempotencyKey.objects.filter(key="young").update(created_at=now - timedelta(days=6))
    assert idempotency_keys_purge() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["young"]
    assert idempotency_keys_purge() == 0
    assert idempotency_keys_purge(now=now + timedelta(days=2)) == 1


# --- concurrency: real threads, each with its own PostgreSQL connection ---

THREADS = 8


@pytest.fixture
def postgres(transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (scripts/test.sh)")


def _race(clients_and_bodies: list[tuple[Client, dict]], release_after: int | None = None) -> list:
    """The requests at the same moment; with `release_after`, Runs.release is set once that
    many answers are in (the held run answers after them)."""
    tokens = [session_start(client=c).access for c, _ in clients_and_bodies]
    barrier = threading.Barrier(len(clients_and_bodies))
    results: list = [None] * len(clients_and_bodies)

    def worker(i: int) -> None:
        try:
            connect()
            api = APIClient()
            api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens[i]}")
            barrier.wait(timeout=30)
            results[i] = post(api, clients_and_bodies[i][1])
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(results))]
    for thread in threads:
        thread.start()
    if release_after is not None:
        try:
            wait_until(
                lambda: sum(r is not None for r in results) >= release_after,
                what="the other requests' answers",
            )
        finally:
            Runs.release.set()
    for thread in threads:
        thread.join(60)
    assert not [r for r in results if not hasattr(r, "status_code")], results
    return results


def test_concurrent_duplicates_run_once_the_others_get_409(postgres, runs):
    client = new_client()
    body = {"amount": "1", "hold": True}  # the first run lasts until all others answered
    results = _race([(client, body)] * THREADS, release_after=THREADS - 1)
    assert runs.count == 1
    statuses = sorted(r.status_code for r in results)
    assert statuses == [201] + [409] * (THREADS - 1), statuses
    for r in results:
        if r.status_code == 409:
            assert_error(r, 409, "IDEMPOTENCY_IN_PROGRESS")
    winner = next(r for r in results if r.status_code == 201)
    replay = post(api_for(client), body)
    assert replay.content == winner.content and replay["Idempotent-Replayed"] == "true"
    assert runs.count == 1


@pytest.mark.parametrize("round_", range(5))
def test_concurrent_duplicates_of_a_fast_request_run_once(postgres, runs, round_):
    # no sleep: the losers see the claim in progress or the stored answer, never a 2nd run
    client = new_client()
    results = _race([(client, {"amount": str(round_)})] * THREADS)
    assert runs.count == 1
    fresh = [r for r in results if r.status_code == 201 and not r.has_header("Idempotent-Replayed")]
    assert len(fresh) == 1
    for r in results:
        if r.status_code == 201:
            assert r.content == fresh[0].content
        else:
            assert_error(r, 409, "IDEMPOTENCY_IN_PROGRESS")


def test_concurrent_same_key_of_different_clients_all_run(postgres, runs):
    clients = [new_client() for _ in range(THREADS)]
    results = _race([(c, {"amount": "1"}) for c in clients])
    assert sorted(r.status_code for r in results) == [201] * THREADS
    assert runs.count == THREADS
    assert IdempotencyKey.objects.filter(state="completed").count() == THREADS
