"""The panel's language (issue 6): the same pages in English, Spanish and French for members
whose Account.language differs, numbers, dates and money written for the locale, and catalogs
that stay complete (every msgid the code has is translated, nothing fuzzy, placeholders kept)
and compiled (the .mo Flask-Babel reads says what the .po says).
"""

from __future__ import annotations

import gettext
import re
from decimal import Decimal
from html import unescape
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir, extract_from_file
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from db.models import Account, CreditLot
from db.session import transaction
from webpanel import i18n

from .cdrs import add_cdrs, at, cdr_values
from .conftest import log_in, page, post_form, sign_in

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "webpanel" / "translations"
LANGUAGES = [code for code in i18n.SUPPORTED if code != i18n.DEFAULT]
KEYWORDS = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "lazy_gettext": None,
    "_l": None,
    "N_": None,
    "pgettext": ((1, "c"), 2),
    "npgettext": ((1, "c"), 2, 3),
}
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")
ENTITY_OR_TAG = re.compile(r"&\w+;|&#\d+;|</?\w+")


def _po(lang: str) -> Path:
    return TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po"


def _catalog(lang: str):
    with _po(lang).open("rb") as f:
        return read_po(f, locale=lang)


@pytest.fixture(scope="module", autouse=True)
def compiled_catalogs():
    """What scripts/i18n compile does (the bootstrap runs it; .mo files are not in git): a
    catalog whose .mo is missing or older than its .po is compiled before these tests."""
    for lang in LANGUAGES:
        po, mo = _po(lang), _po(lang).with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            with mo.open("wb") as f:
                write_mo(f, _catalog(lang))


# outside webpanel/, texts written with the panel's catalogs (scripts/i18n extracts them too)
ALSO_EXTRACTED = ("controller/services/conference/invites.py", "controller/services/notifications.py")


def _extracted_msgids() -> set:
    """Every msgid in the panel's code now, extracted with the project's babel.cfg."""
    method_map, options_map = parse_mapping_cfg((ROOT / "babel.cfg").open())
    found = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
        str(ROOT / "webpanel"), method_map, options_map, keywords=KEYWORDS
    ):
        found.add(message if isinstance(message, str) else message[0])
    for path in ALSO_EXTRACTED:
        for _lineno, message, _comments, _context in extract_from_file(
            "python", str(ROOT / path), keywords=KEYWORDS
        ):
            found.add(message if isinstance(message, str) else message[0])
    assert "Conference invitation: %(when)s" in found
    return found


# --- the catalogs -------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_msgid_of_the_panel_is_translated_and_none_is_fuzzy(lang):
    catalog = _catalog(lang)
    ids = [m for m in catalog if m.id]
    untranslated = [m.id for m in ids if not all(m.string if isinstance(m.string, tuple) else (m.string,))]
    fuzzy = [m.id for m in ids if m.fuzzy]
    assert not untranslated, f"{lang}: {len(untranslated)} untranslated, e.g. {untranslated[:5]}"
    assert not fuzzy, f"{lang}: fuzzy entries {fuzzy[:5]}"
    in_catalog = {m.id if isinstance(m.id, str) else m.id[0] for m in ids}
    missing = sorted(_extracted_msgids() - in_catalog)
    assert not missing, (
        f"{lang}: {len(missing)} strings of the code are not in the catalog "
        f"(run scripts/i18n update and translate them), e.g. {missing[:5]}"
    )


@pytest.mark.parametrize("lang", LANGUAGES)
def test_translations_keep_the_placeholders_and_add_no_markup(lang):
    problems = []
    for m in _catalog(lang):
        if not m.id:
            continue
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        wanted = set().union(*(PLACEHOLDER.findall(i) for i in ids))
        for s in strings:
            if not s:
                continue
            if set(PLACEHOLDER.findall(s)) != wanted and not (
                isinstance(m.id, tuple) and set(PLACEHOLDER.findall(s)) <= wanted
            ):
                problems.append((m.id, s, "placeholders"))
            # template strings are HTML: a translation brings no tag, entity or quote of its own
            # (it may drop one, "US &amp; Canada" -> "EE. UU. y Canadá")
            if not set(ENTITY_OR_TAG.findall(s)) <= set().union(*(ENTITY_OR_TAG.findall(i) for i in ids)):
                problems.append((m.id, s, "markup"))
            if (
                re.search(r"&(?!\w+;|#\d+;)", s)
                or ('"' in s and not any('"' in i for i in ids))
                or "<" in s
                and "<" not in "".join(ids)
            ):
                problems.append((m.id, s, "raw &, < or quote"))
    assert not problems, problems[:10]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_compiled_catalogs_say_what_the_po_files_say(lang):
    mo = _po(lang).with_suffix(".mo")
    assert mo.exists(), f"{mo} missing: run scripts/i18n compile"
    with mo.open("rb") as f:
        compiled = gettext.GNUTranslations(f)
    for m in _catalog(lang):
        if not m.id or m.fuzzy or not all(m.string if isinstance(m.string, tuple) else (m.string,)):
            continue  # untranslated: gettext answers the msgid (the completeness test reports it)
        if isinstance(m.id, tuple):
            assert compiled.ngettext(m.id[0], m.id[1], 1) == m.string[0]
        else:
            assert compiled.gettext(m.id) == m.string, m.id


def test_every_supported_language_has_a_catalog_and_is_offered():
    from webpanel.choices import LANGUAGES as OFFERED

    assert {code for code, _ in OFFERED} == set(i18n.SUPPORTED)
    assert all(_po(lang).exists() for lang in LANGUAGES)


# --- pages in the member's language -------------------------------------------------------------


def _text(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


ACCOUNT_PAGE = {
    "en": (
        "Account Information",
        "First Name",
        "Time Zone",
        "Language",
        "Update",
        "United States (US)",
        "Call History",
        "Log Out",
    ),
    "es": (
        "Información de la cuenta",
        "Nombre",
        "Zona horaria",
        "Idioma",
        "Actualizar",
        "Estados Unidos (US)",
        "Historial de llamadas",
        "Cerrar sesión",
    ),
    "fr": (
        "Informations du compte",
        "Prénom",
        "Fuseau horaire",
        "Langue",
        "Mettre à jour",
        "États-Unis (US)",
        "Historique des appels",
        "Se déconnecter",
    ),
}


@pytest.mark.parametrize("lang", ["en", "es", "fr"])
def test_account_information_is_in_the_members_language(client, make_member, lang):
    member = make_member(language=lang, country="US", time_zone="America/Chicago")
    sign_in(client, member)
    html = page(client, "/account/")
    assert f'<html lang="{lang}">' in html
    text = _text(html)
    for words in ACCOUNT_PAGE[lang]:
        assert words in text, (lang, words)
    others = [w for other, ws in ACCOUNT_PAGE.items() if other != lang for w in ws[:2]]
    assert not any(f">{w}<" in html for w in others if w not in ACCOUNT_PAGE[lang])


def test_the_language_follows_the_account_not_the_browser(client, make_member):
    member = make_member(language="fr")
    sign_in(client, member)
    html = client.get("/account/", headers={"Accept-Language": "es-ES,es;q=0.9"}).get_data(as_text=True)
    assert "Informations du compte" in html and "Información de la cuenta" not in html


def test_before_login_the_browsers_language_is_used(client):
    html = client.get("/login", headers={"Accept-Language": "es-MX,es;q=0.9,en;q=0.5"}).get_data(as_text=True)
    assert '<html lang="es">' in html and "Iniciar sesión" in html and "Número virtual" in html
    html = client.get("/login", headers={"Accept-Language": "de-DE,de;q=0.9"}).get_data(as_text=True)
    assert '<html lang="en">' in html and "Log in" in html


def test_choosing_spanish_turns_the_panel_spanish_at_once(client, make_member, factory):
    member = make_member(country="US", time_zone="America/Chicago", email="ana@example.com")
    sign_in(client, member)
    response = post_form(
        client,
        "/account/",
        {
            "first_name": "Ana",
            "last_name": "Ruiz",
            "country": "US",
            "time_zone": "America/Chicago",
            "language": "es",
            "email": "ana@example.com",
        },
        token_from="/account/",
    )
    assert response.status_code == 302
    html = page(client, "/account/")
    assert "Se actualizó la información de su cuenta." in unescape(html)  # the flash too
    assert "Información de la cuenta" in html
    with transaction(factory) as s:
        assert s.get(Account, member.account_id).language == "es"


def test_a_refused_form_says_why_in_the_members_language(client, make_member):
    member = make_member(language="es", country="US", time_zone="America/Chicago", email="a@example.com")
    sign_in(client, member)
    response = post_form(
        client,
        "/account/",
        {
            "first_name": "",
            "last_name": "Ruiz",
            "country": "US",
            "time_zone": "America/Chicago",
            "language": "es",
            "email": "not-an-address",
        },
        token_from="/account/",
    )
    assert response.status_code == 400
    text = _text(response.get_data(as_text=True))
    assert "Introduzca su nombre." in text
    assert "Introduzca un correo electrónico válido, por ejemplo nombre@example.com." in text


CALLS = {
    # lang: (heading, column, answered, busy, date of the 15:00 UTC call in New York, cost in
    # cents as the page shows it (1234.0417 charged), zero cost)
    "en": (
        "Call History Report",
        "Disposition",
        "Answered",
        "Busy",
        "2026-03-10 11:00:00",
        "$1,234.04",
        "$0.00",
    ),
    "es": (
        "Informe del historial de llamadas",
        "Estado",
        "Contestada",
        "Ocupado",
        "10/3/2026, 11:00:00",
        "1.234,04\xa0US$",
        "0,00\xa0US$",
    ),
    "fr": (
        "Rapport de l’historique des appels",
        "Issue",
        "Répondu",
        "Occupé",
        "10/03/2026 11:00:00",
        "1\u202f234,04\xa0$US",
        "0,00\xa0$US",
    ),
}


@pytest.mark.parametrize("lang", ["en", "es", "fr"])
def test_call_history_in_the_members_language_with_local_dates_and_money(client, make_member, factory, lang):
    member = make_member(language=lang, time_zone="America/New_York")
    add_cdrs(
        factory,
        [
            cdr_values(
                vnum=member.number,
                start=at("2026-03-10 15:00:00"),
                src=member.number,
                dst="011442079460000",
                dialed="442079460000",
                call_class="I",
                billsec=125,
            ),
            cdr_values(
                vnum=member.number,
                start=at("2026-03-10 17:00:00"),
                src=member.number,
                dst="14155550100",
                dialed="14155550100",
                call_class="D",
                billsec=0,
                disposition="BUSY",
            ),
        ],
        charges={
            0: {"call_type": "I", "country": "GB", "cost": Decimal("1234.0417")},
            1: {"call_type": "D", "country": "US", "cost": Decimal("0")},
        },
    )
    sign_in(client, member)
    html = page(client, "/call-history/?start=2026-03-10&end=2026-03-10")
    heading, column, answered, busy, when, cost, zero = CALLS[lang]
    text = _text(html)
    assert heading in text and f'<th scope="col">{column}</th>' in html
    rows = re.findall(r"<tr>(.*?)</tr>", html.split("<tbody>", 1)[1], re.S)
    busy_row, international = rows[0], rows[1]
    assert answered in international and busy in busy_row
    assert f">{when}</time>" in international
    assert cost in unescape(international) and zero in unescape(busy_row)
    country = {"en": "United Kingdom", "es": "Reino Unido", "fr": "Royaume-Uni"}[lang]
    assert f'title="{country}"' in international


@pytest.mark.parametrize(
    "lang, remaining, bought",
    [
        ("en", "$1,250.50", "2026-02-01 07:30:00"),
        ("es", "1.250,50\xa0US$", "1/2/2026, 7:30:00"),
        ("fr", "1\u202f250,50\xa0$US", "01/02/2026 07:30:00"),
    ],
)
def test_plan_information_writes_money_and_dates_for_the_locale(
    client, make_member, factory, lang, remaining, bought
):
    member = make_member(language=lang, time_zone="America/Chicago")
    with transaction(factory) as s:
        s.add(
            CreditLot(
                account_id=member.account_id,
                original=Decimal("1250.50"),
                remaining=Decimal("1250.50"),
                source="voucher",
                reference="test",
                purchased_at=at("2026-02-01 13:30:00"),
            )
        )
    sign_in(client, member)
    html = unescape(page(client, "/plans/"))
    assert f"<strong>{remaining}</strong>" in html
    assert f">{bought}</time>" in html


def test_login_failures_and_the_log_out_message_are_translated(client, make_member):
    member = make_member(language="fr")
    response = client.get("/login", headers={"Accept-Language": "fr"})
    assert "Se connecter" in response.get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', response.get_data(as_text=True)).group(1)
    refused = client.post(
        "/login",
        data={"csrf_token": token, "login": member.login, "password": "wrong"},
        headers={"Accept-Language": "fr"},
    )
    assert "Le numéro virtuel ou le mot de passe est incorrect." in unescape(refused.get_data(as_text=True))
    assert log_in(client, member.login, member.password).status_code == 302
    assert "Accueil" in page(client, "/")


def test_error_pages_are_translated(client, make_member):
    member = make_member(language="es")
    sign_in(client, member)
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert "No encontrado" in response.get_data(as_text=True)
