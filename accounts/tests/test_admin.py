from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from accounts.models import Client
from accounts.tests.support import assert_error, authed, login


@pytest.fixture
def staff(db, client):
    user = get_user_model().objects.create_superuser("ops", "ops@example.kg", "pw-0123456789")
    client.force_login(user)
    return client


def test_admin_block_page_revokes_tokens_and_unblock_restores(staff):
    tokens = login()
    client_id = tokens["client"]["id"]
    response = staff.post(
        f"/admin/accounts/client/{client_id}/block/", {"preset": "fraud", "note": ""}
    )
    assert response.status_code == 302
    assert Client.objects.get(pk=client_id).status == Client.Status.BLOCKED
    assert_error(authed(tokens["access"]).get("/api/v1/me"), 401, "TOKEN_INVALID")

    staff.post(f"/admin/accounts/client/{client_id}/unblock/", {"note": "resolved"})
    assert Client.objects.get(pk=client_id).status == Client.Status.ACTIVE
    assert authed(login()["access"]).get("/api/v1/me").status_code == 200


def test_admin_client_search_and_session_list_render(staff):
    login()
    assert staff.get("/admin/accounts/client/?q=99670000&status__exact=active").status_code == 200
    client_id = Client.objects.get().pk
    assert staff.get(f"/admin/accounts/client/{client_id}/change/").status_code == 200
    assert staff.get("/admin/accounts/loginsession/").status_code == 200
