"""Liveness probe behaviour."""

from django.test import Client, override_settings


def test_live_answers_ok():
    response = Client().get("/health/live")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@override_settings(ALLOWED_HOSTS=["evpower.example"], SECURE_SSL_REDIRECT=True)
def test_live_answers_a_probe_by_ip_in_production_setup():
    # given a container probe that addresses the process by IP over plain HTTP
    client = Client(HTTP_HOST="10.0.0.7")

    # when / then it is neither rejected for its Host nor redirected to HTTPS
    assert client.get("/health/live").status_code == 200
    # and other paths keep the host check
    assert client.get("/admin/").status_code == 400


def test_live_refuses_writes():
    assert Client().post("/health/live").status_code == 405
