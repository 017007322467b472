"""The panel's language: Flask-Babel with the member's Account.language.

Every string a member reads goes through gettext: `_("...")` / `ngettext` in Python (import
them from here, `from webpanel.i18n import _, lazy_gettext as _l`), and `{{ _("...") }}` or
`{% trans %}...{% endtrans %}` in templates. Catalogs live in `webpanel/translations/<lang>/
LC_MESSAGES/messages.po` and are compiled to `.mo` by `scripts/i18n compile` (the bootstrap
runs it; `.mo` files are build output, not committed).

The locale is the logged-in member's account language; before login (or for an admin) it is
the browser's best Accept-Language match, then English. Numbers, dates and money are
formatted for that locale with Babel (`format_decimal`, `format_currency`, ...).
"""
from __future__ import annotations

from flask import Flask, g, request
from flask_babel import Babel, get_locale, gettext, lazy_gettext, ngettext  # noqa: F401  (re-exported)

_ = gettext

SUPPORTED = ("en", "es", "fr")
DEFAULT = "en"

babel = Babel()


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", "translations")
    babel.init_app(app, locale_selector=select_locale)
    app.add_template_global(current_locale)


def select_locale() -> str:
    user = g.get("user")
    account = getattr(user, "account", None) if user is not None else None
    language = getattr(account, "language", None)
    if language in SUPPORTED:
        return language
    if request:
        return request.accept_languages.best_match(SUPPORTED) or DEFAULT
    return DEFAULT


def current_locale() -> str:
    """The request's language code, for <html lang> and for scripts that format numbers."""
    locale = get_locale()
    return locale.language if locale is not None else DEFAULT
