"""Fixtures for the browser tests: a real server process with two-factor admin login, a
real headless Chromium (Debian's chromium + chromedriver, driven by selenium), a staff
operator enrolled in TOTP, and a small network whose simulated charger is connected to
the server over OCPP.

Test data is committed (transactional tests) so the server process sees it; each test
logs in afresh (the database, and with it the admin session, is emptied after each test).
The browser's console is read after each test: a JavaScript error or a Content-Security-
Policy violation on any page fails the test.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from ocpp.v16 import call
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from accounts.roles import OPERATOR, roles_sync
from accounts.staff_2fa import staff_2fa_enrol
from accounts.tests.factories import ClientFactory
from charging.session.models import ChargingSession
from evpower.tests.support.processes import CHARGER_PASSWORD, ROOT, ServerProcess
from ocpp_bridge.tests.charger import now_iso
from ocpp_bridge.tests.command_charger import ThreadedCharger
from payments.wallet import wallet_credit_topup
from stations.services import station_create
from stations.tests.factories import IdTagFactory, TariffPlanFactory, TariffRuleFactory

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WINDOW = (1440, 900)
WAIT_SECONDS = 15
PASSWORD = "operator-password-0001"  # noqa: S105 - test credential
SCREENSHOTS = ROOT / "docs" / "screenshots"


# --- the server ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def cockpit_server(django_db_setup, django_db_blocker):
    """uvicorn serving evpower.asgi on the test database, two-factor admin login on
    (development settings otherwise: DEBUG, so the admin's static files are served)."""
    server = ServerProcess({"ADMIN_REQUIRE_2FA": "true"})
    yield server
    server.stop()


# --- the browser --------------------------------------------------------------------------


class Browser:
    """The driver plus what the tests keep asking of it."""

    def __init__(self, driver, server: ServerProcess, downloads: Path):
        self.driver, self.server, self.downloads = driver, server, downloads
        self.console: list[dict] = []  # every browser log entry of the current test
        self._network: list[dict] = []  # DevTools Network events (performance log)

    # navigation and waiting
    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.port}{path}"

    def open(self, path: str) -> None:
        self.driver.get(self.url(path))

    def path(self) -> str:
        parts = urlsplit(self.driver.current_url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def wait(self, timeout: float = WAIT_SECONDS):
        return WebDriverWait(self.driver, timeout, poll_frequency=0.05)

    def find(self, css: str):
        """The element once it is visible."""
        return self.wait().until(
            ec.visibility_of_element_located((By.CSS_SELECTOR, css)),
            f"no visible {css!r} on {self.driver.current_url}",
        )

    def text_becomes(self, css: str, text: str, timeout: float = WAIT_SECONDS) -> None:
        """Wait until the (first) element matching `css` reads exactly `text`."""

        def reads(driver):
            found = driver.find_elements(By.CSS_SELECTOR, css)
            return bool(found) and found[0].text.strip() == text

        self.wait(timeout).until(
            reads,
            f"{css!r} never read {text!r} (it reads "
            f"{self._text(css)!r}) on {self.driver.current_url}",
        )

    def _text(self, css: str) -> str | None:
        found = self.driver.find_elements(By.CSS_SELECTOR, css)
        return found[0].text.strip() if found else None

    # the admin login
    def log_in(self, username: str, password: str, code: str) -> None:
        self.open("/admin/login/?next=/admin/")
        for field, value in (
            ("id_username", username),
            ("id_password", password),
            ("id_otp_token", code),
        ):
            element = self.find(f"#{field}")
            element.clear()
            element.send_keys(value)
        submit = self.driver.find_element(By.CSS_SELECTOR, "#login-form [type=submit]")
        submit.click()
        # the answer is a new page (the dashboard, or the login form again)
        self.wait().until(ec.staleness_of(submit), "submitting the login form loaded no page")

    # the console: JavaScript errors and CSP violations
    def read_console(self) -> list[dict]:
        entries = self.driver.get_log("browser")
        self.console += entries
        return entries

    def console_problems(self) -> list[str]:
        """JavaScript errors, CSP violations, failed loads (the browser's own favicon
        request aside: the admin declares no icon, so Chromium asks for /favicon.ico)."""
        self.read_console()
        return [
            entry["message"]
            for entry in self.console
            if (
                entry["level"] == "SEVERE"
                or "Content Security Policy" in entry["message"]
                or "Refused to" in entry["message"]
            )
            and not entry["message"].startswith(self.url("/favicon.ico"))
        ]

    # the page's WebSockets, from DevTools' Network events
    def _read_network(self) -> list[dict]:
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"].startswith("Network.webSocket"):
                self._network.append(message)
        return self._network

    def _sockets(self, path: str) -> tuple[set[str], list[dict]]:
        events = self._read_network()
        ids = {
            e["params"]["requestId"]
            for e in events
            if e["method"] == "Network.webSocketCreated" and path in e["params"]["url"]
        }
        return ids, [e for e in events if e["params"].get("requestId") in ids]

    def socket_opened(self, path: str) -> bool:
        """The page opened a WebSocket to `path` and the server accepted it (101)."""
        _ids, events = self._sockets(path)
        return any(
            e["method"] == "Network.webSocketHandshakeResponseReceived"
            and e["params"]["response"]["status"] == 101
            for e in events
        )

    def socket_received(self, path: str) -> list:
        """The JSON messages the page's WebSockets to `path` received, in order."""
        _ids, events = self._sockets(path)
        return [
            json.loads(e["params"]["response"]["payloadData"])
            for e in events
            if e["method"] == "Network.webSocketFrameReceived"
            and e["params"]["response"]["opcode"] == 1
        ]

    # downloads
    def downloaded(self, suffix: str, timeout: float = WAIT_SECONDS) -> Path:
        """The one finished download whose name ends with `suffix`."""

        def finished(_driver):
            files = [p for p in self.downloads.iterdir() if p.name.endswith(suffix)]
            partial = [p for p in self.downloads.iterdir() if p.name.endswith(".crdownload")]
            return files[0] if len(files) == 1 and not partial else False

        return self.wait(timeout).until(
            finished,
            f"no {suffix} download in {self.downloads}: "
            f"{sorted(p.name for p in self.downloads.iterdir())}",
        )

    # screenshots for the README
    def screenshot_for_docs(self, name: str) -> Path | None:
        """docs/screenshots/<name>.png, only when EVPOWER_SCREENSHOTS=1 (ordinary runs leave
        the repository alone)."""
        if os.environ.get("EVPOWER_SCREENSHOTS") != "1":
            return None
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        target = SCREENSHOTS / f"{name}.png"
        assert self.driver.save_screenshot(str(target)), f"could not write {target}"
        return target

    def reset(self) -> None:
        """Between tests: no cookies (no login), no downloads, no leftover log entries."""
        self.driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
        self.driver.get("about:blank")
        for leftover in self.downloads.iterdir():
            leftover.unlink() if leftover.is_file() else shutil.rmtree(leftover)
        self.driver.get_log("browser")
        self.driver.get_log("performance")
        self.console, self._network = [], []


@pytest.fixture(scope="session", autouse=True)
def _chromium_installed():
    """Skip every browser test, before any server starts, without the browser."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.skip(
            f"browser tests need Debian's chromium and chromium-driver: "
            f"{', '.join(missing)} missing (apt-get install chromium chromium-driver; "
            f"scripts/test.sh installs them when run as root)"
        )


@pytest.fixture(scope="module")
def chromium(cockpit_server, tmp_path_factory):
    """One headless Chromium per module (fixed window, English UI, downloads allowed)."""
    downloads = tmp_path_factory.mktemp("downloads")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    options.add_argument("--headless=new")
    options.add_argument(f"--window-size={WINDOW[0]},{WINDOW[1]}")
    options.add_argument("--lang=en-US")
    if os.geteuid() == 0:
        options.add_argument("--no-sandbox")  # Chromium's sandbox refuses to run as root
    options.add_experimental_option(
        "prefs",
        {
            "intl.accept_languages": "en-US,en",
            "download.default_directory": str(downloads),
            "download.prompt_for_download": False,
        },
    )
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    # an explicit chromedriver: Selenium Manager never looks for (or downloads) one
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        driver.execute_cdp_cmd(
            "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
        )
        yield Browser(driver, cockpit_server, downloads)
    finally:
        driver.quit()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing browser test leaves a screenshot and the page's HTML in a temp dir (the
    report says where)."""
    outcome = yield
    report = outcome.get_result()
    browser = item.funcargs.get("browser") if hasattr(item, "funcargs") else None
    if report.when != "call" or not report.failed or not isinstance(browser, Browser):
        return
    folder = Path(item.config._tmp_path_factory.mktemp("browser-failure", numbered=True))
    try:
        browser.driver.save_screenshot(str(folder / "screen.png"))
        (folder / "page.html").write_text(browser.driver.page_source)
        (folder / "console.json").write_text(json.dumps(browser.console, indent=1))
    except Exception as exc:  # noqa: BLE001 - the test's own failure matters more
        report.sections.append(("browser", f"no screenshot: {exc!r}"))
        return
    report.sections.append(
        (
            "browser",
            f"screenshot, page and console at {folder} (page was {browser.driver.current_url})",
        )
    )


@pytest.fixture
def browser(chromium, transactional_db):
    """The browser, logged out, for one test; fails the test on console errors."""
    chromium.reset()
    yield chromium
    problems = chromium.console_problems()
    chromium.console = []
    if problems:
        pytest.fail("the browser's console reported errors:\n" + "\n".join(problems))


# --- staff --------------------------------------------------------------------------------


@dataclass
class Staff:
    user: object
    username: str
    password: str

    @property
    def device(self):
        return TOTPDevice.objects.get(user=self.user)

    def code(self, drift: int = 0) -> str:
        """The authenticator app's code now (as evpower/tests/test_admin_security.py)."""
        d = self.device
        return f"{totp(d.bin_key, d.step, d.t0, d.digits, drift):0{d.digits}d}"

    def wrong_code(self) -> str:
        """A code the server refuses: none of those it accepts now (its tolerance)."""
        d = self.device
        accepted = {self.code(drift) for drift in range(-d.tolerance, d.tolerance + 1)}
        return next(
            c
            for c in (f"{(int(self.code()) + n) % 10**d.digits:0{d.digits}d}" for n in range(1, 10))
            if c not in accepted
        )


@pytest.fixture
def operator(transactional_db):
    """A staff member in the "operator" group, enrolled in TOTP."""
    roles_sync()  # the groups come from a migration: a flushed database has none
    user = get_user_model().objects.create_user(
        "aigul.ops", "aigul@example.kg", PASSWORD, is_staff=True, first_name="Aigul"
    )
    user.groups.add(Group.objects.get(name=OPERATOR))
    staff_2fa_enrol(user=user)
    return Staff(user=user, username="aigul.ops", password=PASSWORD)


@pytest.fixture
def signed_in(browser, operator):
    """The browser on the dashboard, logged in as the operator with the second factor."""
    browser.log_in(operator.username, operator.password, operator.code())
    browser.find("[data-metric]")
    assert browser.path() == "/admin/"
    return browser


# --- the network --------------------------------------------------------------------------


@dataclass
class Network:
    station: object  # connected: the simulated charger holds its socket
    offline_station: object  # never connected
    charger: object  # ocpp_bridge.tests.command_charger.ThreadedCharger
    drivers: list  # accounts.Client, one per completed session
    sessions: list  # charging.ChargingSession, completed on connector 2


@pytest.fixture
def network(cockpit_server, transactional_db):
    """Two stations at two sites, one connected: its charger booted, reported the station
    and both connectors Available, and two drivers each charged once on connector 2 with
    their RFID cards (start, meter, stop, over the real socket)."""
    plan = TariffPlanFactory(name="City", is_default=True)
    TariffRuleFactory(plan=plan, price_per_kwh=Decimal("12.00"), session_fee=Decimal("5.00"))
    station = station_create(
        identity="BSK-DEPOT-01",
        location_name="Bishkek depot",
        connectors=2,
        password=CHARGER_PASSWORD,
    ).station
    offline = station_create(
        identity="OSH-MALL-02", location_name="Osh mall", connectors=2, password=CHARGER_PASSWORD
    ).station
    drivers = []
    for n, (phone, name) in enumerate(
        (("+996700100201", "Azamat"), ("+996700100202", "Nurgul")), start=1
    ):
        client = ClientFactory(phone=phone, name=name)
        wallet_credit_topup(
            client=client,
            amount=Decimal("500.00"),
            payment_ref=f"seed-{n}",
            key=f"seed:browser:{n}",
        )
        IdTagFactory(id_tag=f"CARD-{n}", client=client)
        drivers.append(client)

    with ThreadedCharger(cockpit_server.ws_url(station.identity), station.identity) as charger:
        # the simulated charger boots as vendor "T"; this one says what it is
        charger.call(
            call.BootNotification(
                charge_point_vendor="Alfen",
                charge_point_model="Eve Double Pro",
                firmware_version="6.4.0",
            )
        )
        for connector in (0, 1, 2):  # 0: the station as a whole
            charger.call(
                call.StatusNotification(
                    connector_id=connector,
                    error_code="NoError",
                    status="Available",
                    timestamp=now_iso(),
                )
            )
        meter = 10_000
        # ten minutes each, ending now: energy a charger can deliver in the time is billed
        # as metered (charging/plausibility.py), and both end today
        for n, energy_wh in ((1, 12_400), (2, 7_300)):
            began = timezone.now() - timedelta(minutes=10)
            start = charger.call(
                call.StartTransaction(
                    connector_id=2,
                    id_tag=f"CARD-{n}",
                    meter_start=meter,
                    timestamp=began.isoformat(),
                )
            )
            assert start.id_tag_info["status"] == "Accepted", start
            charger.call(
                call.MeterValues(
                    connector_id=2,
                    transaction_id=start.transaction_id,
                    meter_value=[
                        {
                            "timestamp": (began + timedelta(minutes=5)).isoformat(),
                            "sampledValue": [{"value": str(meter + energy_wh // 2), "unit": "Wh"}],
                        }
                    ],
                )
            )
            meter += energy_wh
            charger.call(
                call.StopTransaction(
                    transaction_id=start.transaction_id,
                    meter_stop=meter,
                    timestamp=now_iso(),
                    reason="EVDisconnected",
                )
            )
        sessions = list(ChargingSession.objects.filter(station=station).order_by("pk"))
        assert [(s.client_id, s.connector_number, s.status) for s in sessions] == [
            (d.pk, 2, ChargingSession.Status.COMPLETED) for d in drivers
        ], sessions
        yield Network(
            station=station,
            offline_station=offline,
            charger=charger,
            drivers=drivers,
            sessions=sessions,
        )
