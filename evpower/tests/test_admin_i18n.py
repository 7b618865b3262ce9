"""The admin in Russian and English (locale/ru/LC_MESSAGES, scripts/i18n.sh), and the driver
API staying in one language whatever the browser asks for.

The catalogue checks read the committed files only (no gettext tools needed): every message
translated and none fuzzy, placeholders kept, and the compiled .mo holding exactly what the
.po says (a .po edited without running scripts/i18n.sh fails here).
"""

from __future__ import annotations

import ast
import gettext
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from stations.services import station_create

LC_MESSAGES = Path(settings.BASE_DIR) / "locale" / "ru" / "LC_MESSAGES"
PO, MO = LC_MESSAGES / "django.po", LC_MESSAGES / "django.mo"
FIX = "translate it in locale/ru/LC_MESSAGES/django.po, then run ./scripts/i18n.sh"


@dataclass
class Entry:
    msgid: str = ""
    context: str | None = None
    plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)  # plural index (0 if none) → text
    flags: set[str] = field(default_factory=set)
    line: int = 0

    @property
    def name(self) -> str:
        return (
            f"line {self.line}: "
            + (f"[{self.context}] " if self.context else "")
            + repr(self.msgid)
        )


def read_po(path: Path) -> list[Entry]:
    """The entries of a .po file, header first; obsolete (#~) entries are skipped."""
    entries: list[Entry] = []
    entry, target = Entry(), None

    def finish():
        nonlocal entry, target
        if target is not None:
            entries.append(entry)
        entry, target = Entry(), None

    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line:
            finish()
        elif line.startswith("#,"):
            entry.flags |= {flag.strip() for flag in line[2:].split(",")}
        elif line.startswith("#"):
            continue  # comments, locations, previous msgids, obsolete entries
        elif line.startswith('"'):
            value = ast.literal_eval(line)
            if target == "msgid":
                entry.msgid += value
            elif target == "msgctxt":
                entry.context += value
            elif target == "msgid_plural":
                entry.plural += value
            else:
                entry.msgstr[target] += value
        else:
            keyword, _, rest = line.partition(" ")
            value = ast.literal_eval(rest)
            if keyword == "msgctxt":
                if target is not None:
                    finish()
                entry.context, target, entry.line = value, "msgctxt", number
            elif keyword == "msgid":
                if target not in (None, "msgctxt"):
                    finish()
                entry.msgid, target = value, "msgid"
                entry.line = entry.line or number
            elif keyword == "msgid_plural":
                entry.plural, target = value, "msgid_plural"
            else:
                match = re.fullmatch(r"msgstr(?:\[(\d+)\])?", keyword)
                assert match, f"{path}:{number}: cannot read {raw!r}"
                target = int(match.group(1) or 0)
                entry.msgstr[target] = value
    finish()
    return entries


PLACEHOLDER = re.compile(r"%\((\w+)\)[sdif]|%[sdif]|\{(\w*)\}")


def placeholders(text: str) -> set[str]:
    return {m.group(0) for m in PLACEHOLDER.finditer(text)}


@pytest.fixture(scope="module")
def catalogue() -> list[Entry]:
    entries = read_po(PO)
    assert entries and entries[0].msgid == "", "the .po has no header"
    assert len(entries) > 100, "the .po looks truncated"
    return entries


# --- the catalogue --------------------------------------------------------------------------


def test_every_message_is_translated_and_none_is_fuzzy(catalogue):
    untranslated = [e.name for e in catalogue[1:] if not all(e.msgstr.values())]
    fuzzy = [e.name for e in catalogue if "fuzzy" in e.flags]
    assert not untranslated, f"untranslated ({FIX}): {untranslated}"
    assert not fuzzy, f"fuzzy: check the text, remove the flag ({FIX}): {fuzzy}"


def test_plural_messages_have_every_russian_form(catalogue):
    header = catalogue[0].msgstr[0]
    forms = int(re.search(r"nplurals=(\d+)", header).group(1))
    assert forms >= 3
    short = [
        e.name
        for e in catalogue[1:]
        if e.plural is not None and sorted(e.msgstr) != list(range(forms))
    ]
    assert not short, f"plural entries without all {forms} forms: {short}"


def test_translations_keep_the_placeholders(catalogue):
    wrong = []
    for e in catalogue[1:]:
        wanted = placeholders(e.msgid) | placeholders(e.plural or "")
        if (
            "python-format" not in e.flags
            and "python-brace-format" not in e.flags
            and not placeholders(e.msgid)
        ):
            continue
        for text in e.msgstr.values():
            if placeholders(text) != wanted:
                wrong.append(f"{e.name} → {text!r}")
    assert not wrong, f"placeholders changed: {wrong}"


def without_date(header: str) -> str:
    """A header without the extraction date, which msgfmt leaves out of the .mo."""
    return re.sub(r"^POT-Creation-Date: .*\n", "", header, flags=re.MULTILINE)


def test_the_compiled_catalogue_matches_the_po(catalogue):
    assert MO.is_file(), f"no {MO.name}: run ./scripts/i18n.sh"
    with MO.open("rb") as file:
        compiled = gettext.GNUTranslations(file)._catalog
    compiled = {**compiled, "": without_date(compiled.get("", ""))}
    expected = {}
    for e in catalogue:
        key = e.msgid if e.context is None else f"{e.context}\x04{e.msgid}"
        if e.plural is None:
            expected[key] = without_date(e.msgstr[0]) if key == "" else e.msgstr[0]
        else:
            expected.update({(key, n): text for n, text in e.msgstr.items()})
    stale = sorted(str(k) for k in expected.keys() ^ compiled.keys()) + sorted(
        str(k) for k in expected.keys() & compiled.keys() if expected[k] != compiled[k]
    )
    assert not stale, f"{MO.name} is not compiled from {PO.name} (run ./scripts/i18n.sh): {stale}"


# --- the admin follows the language, the API does not --------------------------------------


@pytest.fixture
def station(db):
    return station_create(
        identity="CP-I18N",
        location_name="Site of CP-I18N",
        connectors=1,
        password="station-password-0001",
    ).station


def page(client, url: str, language: str | None = None, **headers) -> str:
    if language:
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    response = client.get(url, **headers)
    assert response.status_code == 200
    return response.content.decode()


def test_the_admin_speaks_russian_when_the_staff_member_chose_it(admin_client, station):
    index = page(admin_client, reverse("admin:index"), "ru")
    assert 'lang="ru"' in index
    assert "Зарядные сессии" in index and "Журнал проводок" in index  # the sidebar

    stations = page(admin_client, reverse("admin:stations_station_changelist"))
    assert "Станции" in stations  # the model's plural name: title and breadcrumbs
    assert "Идентификатор" in stations  # a column: the field's verbose name
    assert "Административный статус" in stations


def test_the_admin_speaks_english_when_chosen(admin_client, station):
    stations = page(admin_client, reverse("admin:stations_station_changelist"), "en")
    assert 'lang="en"' in stations
    assert "Stations" in stations and "Identity" in stations
    assert "Станции" not in stations and "Идентификатор" not in stations


def test_the_admin_follows_the_browser_and_the_language_switcher(admin_client, station):
    # no choice made: the browser's Accept-Language
    assert "Станции" in page(
        admin_client,
        reverse("admin:stations_station_changelist"),
        HTTP_ACCEPT_LANGUAGE="ru-RU,ru;q=0.9,en;q=0.5",
    )
    # the switcher (Django's set_language) overrides it
    response = admin_client.post(
        reverse("set_language"), {"language": "en", "next": reverse("admin:index")}
    )
    assert response.status_code == 302
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    english = page(
        admin_client, reverse("admin:stations_station_changelist"), HTTP_ACCEPT_LANGUAGE="ru"
    )
    assert "Identity" in english and "Идентификатор" not in english


@pytest.mark.django_db
def test_the_driver_api_does_not_follow_the_admin_language(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "ru"
    version = client.get("/api/v1/version", HTTP_ACCEPT_LANGUAGE="ru")
    assert version.status_code == 200
    assert "Content-Language" not in version
    assert "Accept-Language" not in version.get("Vary", "")

    # a validation error: the envelope's message follows the app's own language rules
    # (evpower/api/messages.py), the field details are Django's and DRF's, in English
    response = client.post(
        "/api/v1/auth/otp/request", {}, content_type="application/json", HTTP_ACCEPT_LANGUAGE="ru"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert error["details"]["fields"]["phone"] == ["This field is required."]
    assert "Content-Language" not in response


def test_every_admin_list_renders_in_russian(admin_client, station):
    from django.contrib import admin

    admin_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "ru"
    broken = []
    for model in admin.site._registry:
        opts = model._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        response = admin_client.get(url)
        if response.status_code != 200 or 'lang="ru"' not in response.content.decode():
            broken.append(f"{url}: {response.status_code}")
    assert not broken, broken
