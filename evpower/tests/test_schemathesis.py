"""Property-based run over the whole OpenAPI schema: every operation, in-process through the
WSGI app, on real PostgreSQL data; no input may produce a server error (5xx).

Operations that accept a token get a fresh client and access token on every call, so one
example's logout or deletion request cannot spoil the next one.
"""

from __future__ import annotations

import itertools
import json
from decimal import Decimal

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error

from accounts.tests.factories import ClientFactory

_phones = itertools.count(1)


@pytest.fixture
def map_data(db):
    """A few locations with coordinates and stations, so reads find real rows."""
    from stations.models import Location
    from stations.services import station_create

    sites = [
        ("Ala-Too Square", "42.876000", "74.603700"),
        ("Osh Bazaar", "42.874700", "74.572800"),
        ("Issyk-Kul Highway", "42.840000", "74.900000"),
    ]
    for index, (name, lat, lon) in enumerate(sites):
        for number in range(2):
            station_create(
                identity=f"CP-ST-{index}-{number}",
                location_name=name,
                connectors=2,
                password="schemathesis-0001",
            )  # noqa: S106 - test credential
        Location.objects.filter(name=name).update(latitude=Decimal(lat), longitude=Decimal(lon))


@pytest.fixture(autouse=True)
def api_setup(db, settings, map_data):
    # In-process WSGI calls share the test's connection and transaction; like Django's test
    # client, keep the request signals from closing it between requests.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    # generous limits: the run is about server errors, not about being told to slow down
    rest = dict(settings.REST_FRAMEWORK)
    rest["DEFAULT_THROTTLE_RATES"] = dict.fromkeys(rest["DEFAULT_THROTTLE_RATES"], "100000/minute")
    settings.REST_FRAMEWORK = rest
    settings.SMS_BACKEND = "accounts.sms.backends.MemoryBackend"
    try:
        yield
    finally:
        from accounts.sms.backends import MemoryBackend

        MemoryBackend.reset()
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def fresh_token() -> str:
    from accounts.tokens import session_start

    client = ClientFactory(phone=f"+99670{next(_phones):07d}")
    return session_start(client=client).access


def load_schema():
    """The schema /api/schema/ serves, generated directly: loading it through the app at
    collection time would be counted by the (shared, per-IP) API rate limits. schemathesis'
    lazy `from_fixture` loader does not work with pytest 9 (it sets `node._nodeid`)."""
    generated = SchemaGenerator().get_schema(request=None, public=True)
    loaded = schemathesis.openapi.from_dict(json.loads(OpenApiJsonRenderer().render(generated)))
    loaded.app = get_wsgi_application()  # calls go in-process through the WSGI app
    return loaded


schema = load_schema()


@schema.parametrize()
@hypothesis_settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_operation_answers_with_a_server_error(case):
    security = case.operation.definition.raw.get("security") or []
    headers = (
        {"Authorization": f"Bearer {fresh_token()}"}
        if any(requirement for requirement in security)
        else {}
    )
    case.call_and_validate(headers=headers, checks=[not_a_server_error])
