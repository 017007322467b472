"""What the panel keeps to spend less CPU per request (bench/panel_cpu.py) gives what was
computed before: the navigation built once per role and language, the request's catalog kept
per locale (and switched by in_language blocks), currency text kept per amount and locale."""

from __future__ import annotations

import re
from decimal import Decimal

import flask_babel
from babel.numbers import format_currency
from flask import g

from webpanel import filters, i18n, nav

from .conftest import page, sign_in

CURRENT = re.compile(r'<a href="([^"]+)" class="active" aria-current="page">([^<]+)</a>')


def test_the_navigation_marks_the_current_section_in_the_members_language(client, make_member):
    member = make_member(language="es")
    sign_in(client, member)
    html = page(client, "/voicemail/")
    assert CURRENT.findall(html) == [("/voicemail/", "Buzón de voz")]
    html = page(client, "/buddies/")  # same role and language: the kept links, another current one
    assert CURRENT.findall(html) == [("/buddies/", "Lista de contactos")]
    assert '<li class="nav-buddies"><a href="/buddies/"' in html


def test_every_role_and_language_gets_its_sections(app):
    for role in ("primary", "secondary", "admin"):
        for lang in i18n.SUPPORTED:
            with app.test_request_context("/"), flask_babel.force_locale(lang):
                expected = [
                    (str(s.label), s.endpoint)
                    for s in nav.SECTIONS
                    if role in s.roles
                    and (s.setting is None or getattr(app.extensions["voip_settings"], s.setting))
                ]
                links = nav._links(role, lang)
                assert [link.plain for link in links] == [
                    f'<a href="{app.url_for(endpoint)}">{label}</a>' for label, endpoint in expected
                ]


def test_gettext_follows_in_language_blocks_and_matches_flask_babels(app):
    with app.test_request_context("/", headers={"Accept-Language": "fr"}):
        g.user = None
        assert i18n._("Home") == flask_babel.gettext("Home") == "Accueil"
        with i18n.in_language("es"):
            assert i18n._("Home") == flask_babel.gettext("Home") == "Inicio"
        assert i18n._("Home") == "Accueil"
        assert i18n.ngettext("%(num)d call", "%(num)d calls", 2) == flask_babel.ngettext(
            "%(num)d call", "%(num)d calls", 2
        )
    assert i18n._("Home") == "Home"  # outside a request: English


def test_money_text_is_babels_for_each_locale_and_amount(app):
    for lang in i18n.SUPPORTED:
        with app.test_request_context("/"), flask_babel.force_locale(lang):
            for amount in (Decimal("0.00"), Decimal("1.50"), Decimal("1234.5678"), Decimal("-2.00")):
                first = filters.usd(amount)
                assert filters.usd(amount) == first  # the kept text, the second time
                assert first == format_currency(
                    amount, "USD", locale=lang, currency_digits=False, decimal_quantization=False
                )


def test_call_records_cells_escape_as_markupsafe_does():
    from markupsafe import escape

    from webpanel.admin.records_views import _cell

    for value in ['<a href="x">', "O'Brien & <b>", "plain", "", "\u202e'\"", 12, None]:
        assert _cell(value) == str(escape(str(value)))
