"""The operator's cockpit in a real browser: headless Chromium against a real server
process (uvicorn, PostgreSQL, Redis), a simulated charger on a real OCPP socket.

Logging in with the second factor, the dashboard's figures and where they lead, a
connector's status pushed to the live station view without a reload, and the sessions'
CSV export. With EVPOWER_SCREENSHOTS=1 the dashboard and live view tests also write
docs/screenshots/dashboard.png and docs/screenshots/station-live.png.
"""

from __future__ import annotations

import csv
import io

import pytest
from ocpp.v16 import call
from selenium.webdriver.common.by import By

from ocpp_bridge.tests.charger import now_iso

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SESSIONS = "/admin/charging/chargingsession/"
STAFF_SOCKET = "/ws/staff/"


def metric(browser, name: str):
    return browser.find(f'[data-metric="{name}"]')


def result_rows(browser) -> list[str]:
    return [
        row.text for row in browser.driver.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    ]


# --- logging in ---------------------------------------------------------------------------


def test_password_and_the_authenticators_code_open_the_dashboard(browser, operator):
    # when
    browser.log_in(operator.username, operator.password, operator.code())

    # then
    browser.find("[data-metric]")
    assert browser.path() == "/admin/"
    assert "Log in" not in browser.driver.title


def test_a_wrong_code_keeps_you_on_the_login_page_with_an_error(browser, operator):
    # when
    browser.log_in(operator.username, operator.password, operator.wrong_code())

    # then
    browser.find("#login-form")
    assert browser.path().startswith("/admin/login/")
    page = browser.driver.find_element(By.CSS_SELECTOR, "#content, main, body").text
    assert "Invalid token" in page, page
    assert not browser.driver.find_elements(By.CSS_SELECTOR, "[data-metric]")

    # and the admin still sends you to the login page
    browser.open("/admin/")
    browser.find("#login-form")
    assert browser.path().startswith("/admin/login/")


# --- the dashboard ------------------------------------------------------------------------


def test_dashboard_counts_the_connected_station_and_leads_to_the_list(network, signed_in):
    # given
    browser = signed_in
    browser.open("/admin/")

    # then: one of the two stations is online (its charger holds a socket), one is not
    assert metric(browser, "stations-online").text.strip() == "1"
    assert metric(browser, "stations-offline").text.strip() == "1"
    # and the energy of the two completed sessions (12.4 + 7.3 kWh, metered by the charger)
    assert metric(browser, "energy-today").text.strip() == "19.700"
    browser.screenshot_for_docs("dashboard")

    # when
    metric(browser, "stations-online").click()

    # then: the station list, filtered to exactly the station counted
    browser.wait().until(
        lambda d: "/admin/stations/station/" in d.current_url and "online=yes" in d.current_url,
        "the figure's link was not followed",
    )
    browser.find("#result_list")
    rows = result_rows(browser)
    assert len(rows) == 1 and network.station.identity in rows[0], rows
    assert network.offline_station.identity not in browser.driver.page_source


# --- the live station view ----------------------------------------------------------------


def test_live_view_shows_a_connector_status_pushed_by_the_charger(network, signed_in):
    # given: the charger reported both connectors Available
    browser = signed_in
    station = network.station.pk
    browser.open(f"/admin/cockpit/stations/{station}/live/")
    status = '[data-connector="1"] [data-role="status"]'
    browser.text_becomes(status, "Available")
    browser.text_becomes('[data-connector="2"] [data-role="status"]', "Available")
    # the page is listening: its staff socket is open and subscribed to the station (the
    # snapshot comes once the server has joined it to the station's updates)
    browser.wait().until(
        lambda _: browser.socket_opened(STAFF_SOCKET), "the page opened no staff WebSocket"
    )
    browser.wait().until(
        lambda _: any(m.get("type") == "snapshot" for m in browser.socket_received(STAFF_SOCKET)),
        "the staff WebSocket never sent the station's snapshot",
    )
    browser.find('[data-role="socket"][data-state="live"]')
    browser.driver.execute_script("window.__marker = 1;")

    # when: a car is plugged in and the charger reports it
    network.charger.call(
        call.StatusNotification(
            connector_id=1, error_code="NoError", status="Charging", timestamp=now_iso()
        )
    )

    # then: the update came over the socket and the page shows it, without a reload
    browser.text_becomes(status, "Charging")
    assert browser.driver.execute_script("return window.__marker;") == 1
    pushed = [
        (m["station"], m["connector"], m["status"])
        for m in browser.socket_received(STAFF_SOCKET)
        if m.get("type") == "status" and m.get("kind") == "connector"
    ]
    assert pushed == [(station, 1, "Charging")], pushed
    assert (
        browser.driver.find_element(
            By.CSS_SELECTOR, '[data-connector="2"] [data-role="status"]'
        ).text.strip()
        == "Available"
    )
    browser.screenshot_for_docs("station-live")


# --- CSV export ---------------------------------------------------------------------------


def export(browser) -> list[list[str]]:
    browser.find('[data-role="export-csv"]').click()
    download = browser.downloaded(".csv")
    text = download.read_text(encoding="utf-8-sig")  # the file starts with a BOM, for Excel
    download.unlink()
    return list(csv.reader(io.StringIO(text)))


def session_csv_columns() -> tuple[list[str], dict[str, int]]:
    """The header the sessions' admin declares (in English, as the browser asks), and the
    column of each field path."""
    from django.contrib import admin
    from django.utils import translation

    from charging.session.models import ChargingSession

    fields = admin.site.get_model_admin(ChargingSession).get_csv_fields(None)
    with translation.override("en"):
        header = [str(name) for name, _accessor in fields]
    return header, {
        accessor: n for n, (_name, accessor) in enumerate(fields) if isinstance(accessor, str)
    }


def test_sessions_export_as_csv_with_the_lists_search(network, signed_in):
    # given: two sessions charged at the station, a driver each
    browser = signed_in
    first, second = network.sessions
    header, column = session_csv_columns()
    browser.open(SESSIONS)
    browser.find("#result_list")
    assert len(result_rows(browser)) == 2

    # when
    rows = export(browser)

    # then: the header row, then a row per session in the list's order (newest first)
    assert rows[0] == header
    body = rows[1:]
    assert [
        [
            row[column[path]]
            for path in ("id", "status", "client__phone", "station__identity", "connector_number")
        ]
        for row in body
    ] == [
        [str(second.pk), "completed", "'+996700100202", "BSK-DEPOT-01", "2"],
        [str(first.pk), "completed", "'+996700100201", "BSK-DEPOT-01", "2"],
    ], rows
    assert all(len(row) == len(header) for row in body)
    assert "12.400" in body[1] and "7.300" in body[0], rows  # the energy the charger metered

    # when: the list is searched for a driver's phone, the export has the list's rows
    browser.open(f"{SESSIONS}?q=%2B996700100201")
    browser.find("#result_list")
    assert len(result_rows(browser)) == 1
    rows = export(browser)

    # then
    assert rows[0] == header
    assert [row[column["id"]] for row in rows[1:]] == [str(first.pk)], rows
