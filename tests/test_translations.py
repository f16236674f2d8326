"""The Dutch translation: complete, compiled, and used by pages, emails and API errors.

locale/nl/LC_MESSAGES/django.po is parsed with the small parser below (polib is not a dependency), and
the committed django.mo is read with the standard library's gettext, so these tests need no GNU gettext
tools, except the one that re-extracts the strings from the source (skipped when xgettext is missing).
"""

import ast
import gettext as gnu_gettext
import re
import shutil
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import translation
from rest_framework.test import APIClient

from tests.factories import MemberFactory, UserFactory

LOCALE_DIR = Path(settings.BASE_DIR) / "locale"
PO_PATH = LOCALE_DIR / "nl" / "LC_MESSAGES" / "django.po"
MO_PATH = LOCALE_DIR / "nl" / "LC_MESSAGES" / "django.mo"

# %(name)s / %(points)+d / %s, {name}, HTML tags and `code` spans must survive translation unchanged.
PLACEHOLDER = re.compile(r"%\(\w+\)[-+ #0-9.]*[a-zA-Z]|%[sdif]|\{\w*\}|</?[a-zA-Z][^>]*>|`[^`]*`")


@pytest.fixture(autouse=True)
def _back_to_the_default_language():
    """Requests with Accept-Language or the language cookie activate Dutch in this thread; do not leak it."""
    yield
    translation.deactivate()


# -- a tiny .po parser ------------------------------------------------------------------------------


def parse_po(text: str) -> list[dict]:
    """Entries as {msgctxt, msgid, msgid_plural, msgstr: {index: text}, flags, line}; obsolete ones left out."""
    entries, entry, field = [], None, None

    def finish():
        nonlocal entry, field
        if entry is not None and "msgid" in entry:
            entries.append(entry)
        entry, field = None, None

    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            finish()
            continue
        if line.startswith("#~"):  # obsolete: no longer in the source
            continue
        if entry is None:
            entry = {"msgctxt": None, "msgid_plural": None, "msgstr": {}, "flags": set(), "line": number}
        if line.startswith("#,"):
            entry["flags"].update(flag.strip() for flag in line[2:].split(","))
            continue
        if line.startswith("#"):
            continue
        if line.startswith('"'):
            value = _unquote(line)
            if isinstance(field, tuple):
                entry["msgstr"][field[1]] += value
            else:
                entry[field] += value
            continue
        keyword, _, rest = line.partition(" ")
        value = _unquote(rest)
        if keyword.startswith("msgstr["):
            field = ("msgstr", int(keyword[7:-1]))
            entry["msgstr"][field[1]] = value
        elif keyword == "msgstr":
            field = ("msgstr", 0)
            entry["msgstr"][0] = value
        elif keyword in ("msgctxt", "msgid", "msgid_plural"):
            field = keyword
            entry[keyword] = value
        else:
            raise ValueError(f"line {number}: cannot read {raw!r}")
    finish()
    return entries


def _unquote(quoted: str) -> str:
    return ast.literal_eval(quoted)  # PO escapes (\n, \t, \", \\) are a subset of Python's


def read_po(path: Path = PO_PATH) -> tuple[dict, list[dict]]:
    entries = parse_po(path.read_text(encoding="utf-8"))
    header = entries[0]
    assert header["msgid"] == "", "the .po must start with its header entry"
    return header, entries[1:]


def label(entry: dict) -> str:
    return f"line {entry['line']}: {entry['msgid']!r}"


def test_the_po_parser_reads_continuations_plurals_flags_and_escapes():
    text = (
        '#, fuzzy\nmsgid ""\nmsgstr ""\n"Language: nl\\n"\n\n'
        '#: a.py:1\n#, python-format\nmsgid "%(n)s point"\nmsgid_plural "%(n)s "\n"points"\n'
        'msgstr[0] "%(n)s punt"\nmsgstr[1] "%(n)s "\n"punten"\n\n'
        'msgctxt "menu"\nmsgid "Say \\"hi\\""\nmsgstr ""\n\n'
        '#~ msgid "gone"\n#~ msgstr "weg"\n'
    )
    header, plural, context = parse_po(text)
    assert header == {
        "msgctxt": None,
        "msgid": "",
        "msgid_plural": None,
        "msgstr": {0: "Language: nl\n"},
        "flags": {"fuzzy"},
        "line": 1,
    }
    assert plural["msgid_plural"] == "%(n)s points"
    assert plural["msgstr"] == {0: "%(n)s punt", 1: "%(n)s punten"}
    assert plural["flags"] == {"python-format"}
    assert context["msgctxt"] == "menu" and context["msgid"] == 'Say "hi"' and context["msgstr"] == {0: ""}


# -- (a) the catalogue is complete ---------------------------------------------------------------


def test_the_header_declares_dutch_utf8_and_two_plural_forms():
    header, _entries = read_po()
    assert "fuzzy" not in header["flags"]
    fields = dict(line.split(": ", 1) for line in header["msgstr"][0].splitlines() if ": " in line)
    assert fields["Language"] == "nl"
    assert fields["Content-Type"] == "text/plain; charset=UTF-8"
    assert fields["Plural-Forms"] == "nplurals=2; plural=(n != 1);"


def test_every_message_is_translated_and_none_is_fuzzy():
    _header, entries = read_po()
    assert len(entries) > 500, "the catalogue lost most of its messages"
    fuzzy = [label(e) for e in entries if "fuzzy" in e["flags"]]
    empty = [
        label(e)
        for e in entries
        if not e["msgstr"]
        or not all(e["msgstr"].values())
        or (e["msgid_plural"] is not None and sorted(e["msgstr"]) != [0, 1])
    ]
    assert not fuzzy, f"fuzzy entries: {fuzzy}"
    assert not empty, f"untranslated entries: {empty}"


def test_translations_keep_every_placeholder_tag_and_code():
    _header, entries = read_po()
    broken = []
    for e in entries:
        sources = [e["msgid"]] if e["msgid_plural"] is None else [e["msgid"], e["msgid_plural"]]
        for index, source in enumerate(sources):
            if Counter(PLACEHOLDER.findall(source)) != Counter(PLACEHOLDER.findall(e["msgstr"].get(index, ""))):
                broken.append(f"{label(e)} -> {e['msgstr'].get(index)!r}")
    assert not broken, "placeholders differ:\n" + "\n".join(broken)


def test_the_committed_mo_is_compiled_from_the_current_po():
    """A fresh machine without gettext uses the committed .mo, so it must match the .po message for message."""
    _header, entries = read_po()
    with MO_PATH.open("rb") as fp:
        catalog = gnu_gettext.GNUTranslations(fp)._catalog
    expected = {}
    for e in entries:
        key = e["msgid"] if e["msgctxt"] is None else f"{e['msgctxt']}\x04{e['msgid']}"
        if e["msgid_plural"] is None:
            expected[key] = e["msgstr"][0]
        else:
            for index, text in e["msgstr"].items():
                expected[(key, index)] = text
    compiled = {key: text for key, text in catalog.items() if key != ""}
    assert compiled == expected, "run: cd locale && msgfmt --check -o nl/LC_MESSAGES/django.mo nl/LC_MESSAGES/django.po"


@pytest.mark.skipif(
    shutil.which("xgettext") is None or shutil.which("msgmerge") is None,
    reason="needs GNU gettext (xgettext, msgmerge)",
)
def test_no_string_in_the_source_is_left_untranslated(tmp_path, monkeypatch, settings):
    """Re-extract the strings from a copy of the source: every one must already have a Dutch translation."""
    base = Path(settings.BASE_DIR)
    skip = {".git", ".venv", "tests", "staticfiles", "media", ".test-media", "node_modules", "__pycache__"}
    for item in base.iterdir():
        if item.name in skip or item.name.startswith(".") or item.name.endswith(".egg-info"):
            continue
        if item.is_dir():
            shutil.copytree(item, tmp_path / item.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif item.suffix in (".py", ".html", ".txt"):
            shutil.copy2(item, tmp_path / item.name)
    monkeypatch.chdir(tmp_path)
    settings.LOCALE_PATHS = [tmp_path / "locale"]
    call_command("makemessages", locale=["nl"], verbosity=0)
    _header, entries = read_po(tmp_path / "locale" / "nl" / "LC_MESSAGES" / "django.po")
    missing = [label(e) for e in entries if "fuzzy" in e["flags"] or not all(e["msgstr"].values())]
    assert not missing, (
        "new strings without a Dutch translation (run makemessages -l nl, translate, compile):\n" + "\n".join(missing)
    )


# -- (b) Dutch is what members see ---------------------------------------------------------------


def test_key_strings_are_dutch_under_override():
    with translation.override("nl"):
        assert translation.gettext("Points expired") == "Punten vervallen"
        assert translation.gettext("Dashboard") == "Overzicht"
        assert translation.gettext("Sign in") == "Inloggen"
        assert translation.ngettext("%(shown)s point", "%(shown)s points", 1) % {"shown": 1} == "1 punt"
        assert translation.ngettext("%(shown)s point", "%(shown)s points", 5) % {"shown": 5} == "5 punten"
    with translation.override("en"):
        assert translation.gettext("Points expired") == "Points expired"


@pytest.mark.django_db
def test_the_sign_in_page_is_dutch_for_a_dutch_browser(client):
    response = Client(HTTP_ACCEPT_LANGUAGE="nl").get(reverse("account_login"))
    html = response.content.decode()
    assert response.status_code == 200
    assert '<html lang="nl">' in html
    assert "Inloggen" in html and "Lid worden" in html  # the site's own navigation
    english = client.get(reverse("account_login"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Lid worden" not in english and "Join" in english


@pytest.mark.django_db
def test_the_language_cookie_makes_the_portal_dutch(client):
    user = UserFactory(email="anna@example.com")
    user.save()
    MemberFactory(email=user.email, user=user, first_name="Anna")
    client.force_login(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "nl"
    html = client.get(reverse("portal:dashboard")).content.decode()
    assert "Hallo Anna" in html
    assert "Uw punten" in html and "Uw klantenkaart" in html and "Overzicht" in html


@pytest.mark.django_db
def test_the_expiry_reminder_email_is_in_the_members_language():
    from loyalty.services.jobs import expiry_reminder_render

    member = MemberFactory(first_name="Joost", language="nl")
    message = expiry_reminder_render(member=member, points=120, expires_on=date(2030, 3, 1))
    assert message.subject.startswith("120 punten vervallen op")
    assert "Beste Joost," in message.body and "Uw klantnummer" in message.body
    html = message.alternatives[0][0]
    assert "vervallen <strong>120</strong> van uw punten" in html


# -- (c) API errors speak Dutch ----------------------------------------------------------------


@pytest.mark.django_db
def test_api_errors_are_dutch_for_accept_language_nl():
    client = APIClient()
    response = client.get("/api/v1/members/", HTTP_ACCEPT_LANGUAGE="nl")
    assert response.status_code == 401
    assert response.json() == {"code": "unauthorized", "detail": "Een API-sleutel is verplicht."}

    response = client.get("/api/v1/me/", HTTP_ACCEPT_LANGUAGE="nl")
    assert response.status_code == 401
    assert response.json()["detail"] == "Log eerst in."

    english = client.get("/api/v1/members/", HTTP_ACCEPT_LANGUAGE="en")
    assert english.json()["detail"] == "An API key is required."


@pytest.mark.django_db
def test_api_validation_errors_are_dutch(admin_api_client):
    response = admin_api_client.post("/api/v1/members/", {}, format="json", HTTP_ACCEPT_LANGUAGE="nl")
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid"
    assert body["detail"] == "Het verzoek is niet geldig."
    assert body["fields"]["email"] == ["Dit veld is vereist."]  # DRF's own Dutch catalogue

    response = admin_api_client.get("/api/v1/members/0000000000000000/", HTTP_ACCEPT_LANGUAGE="nl")
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "Niet gevonden."}


# -- allauth's pages in formal Dutch ---------------------------------------------------------------

INFORMAL = re.compile(r"\b(je|jij|jou|jouw|jullie)\b", re.IGNORECASE)


def _visible_text(html: str) -> str:
    html = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


@pytest.mark.django_db
def test_allauth_pages_speak_formal_dutch():
    from allauth.account.models import EmailAddress

    visitor = Client(HTTP_ACCEPT_LANGUAGE="nl")
    pages = {url: visitor.get(url) for url in [
        "/accounts/login/", "/accounts/signup/", "/accounts/password/reset/", "/accounts/password/reset/done/",
        "/accounts/confirm-email/", "/accounts/confirm-email/not-a-key/", "/accounts/password/reset/key/1-x/",
    ]}
    user = UserFactory(email="nl@example.com")
    user.save()
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    MemberFactory(email=user.email, user=user, language="nl")
    member_client = Client(HTTP_ACCEPT_LANGUAGE="nl")
    member_client.force_login(user)
    member_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "nl"
    for url in ["/accounts/email/", "/accounts/password/change/", "/accounts/logout/"]:
        pages[url] = member_client.get(url)
    failed = member_client.post("/accounts/password/change/", {"oldpassword": "wrong", "password1": "x",
                                                               "password2": "y"})
    pages["password change errors"] = failed
    wrong_login = visitor.post("/accounts/login/", {"login": "nobody@example.com", "password": "wrong"})
    pages["login errors"] = wrong_login
    for name, response in pages.items():
        assert response.status_code in (200, 302), name
        text = _visible_text(response.content.decode())
        assert not INFORMAL.findall(text), f"{name}: {INFORMAL.findall(text)} in {text[:2000]}"
    assert "Wachtwoord vergeten?" in pages["/accounts/password/reset/"].content.decode()
    assert "E-mailadressen" in pages["/accounts/email/"].content.decode()
    assert "Het e-mailadres en/of wachtwoord dat u heeft opgegeven is niet juist." in wrong_login.content.decode()


@pytest.mark.django_db
def test_ledger_reasons_are_dutch_in_the_history_and_the_csv():
    from loyalty.reasons import Reason
    from loyalty.services.ledger import Audit, points_credit

    user = UserFactory(email="lid@example.com")
    user.save()
    member = MemberFactory(email=user.email, user=user, language="nl")
    points_credit(member=member, points=95, audit=Audit(reason=Reason("Purchase %(order)s", {"order": "W-001308"}),
                                                        idempotency_key="nl-1"))
    client = Client()
    client.force_login(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "nl"
    history = client.get(reverse("portal:history")).content.decode()
    assert "Aankoop W-001308" in history and "Purchase W-001308" not in history
    csv_text = b"".join(client.get(reverse("portal:history_csv")).streaming_content).decode("utf-8-sig")
    assert "Aankoop W-001308" in csv_text and "Gespaard" in csv_text
