"""The panel's language: Flask-Babel with the member's Account.language.

Every string a member reads goes through gettext: `_("...")` / `ngettext` in Python (import
them from here, `from webpanel.i18n import _, lazy_gettext as _l`), and `{{ _("...") }}` or
`{% trans %}...{% endtrans %}` in templates. Catalogs live in `webpanel/translations/<lang>/
LC_MESSAGES/messages.po` and are compiled to `.mo` by `scripts/i18n compile` (the bootstrap
runs it; `.mo` files are build output, not committed).

The locale is the logged-in member's account language; before login (or for an admin) it is
the browser's best Accept-Language match, then English. Numbers, dates and money are
formatted for that locale with Babel (`format_decimal`, `format_currency`, ...) by the filters
in webpanel/filters.py (`number`, `usd`, `rate_usd`, `localtime`, `localdate`).

Messages made outside the panel (db.accounts' ServiceErrors, controller.rules.numbers' reasons,
controller.rules.decisions' verdicts) are English; `service_message` turns the ones a member can meet
into the member's language (see FOREIGN below: each is also a catalog entry).

Adding a language: add its code to SUPPORTED and to webpanel.choices.LANGUAGES, then
`scripts/i18n init <code>`, translate webpanel/translations/<code>/LC_MESSAGES/messages.po and
`scripts/i18n compile` (tests/web/test_i18n.py checks that the catalog is complete).
"""

from __future__ import annotations

import re

from flask import Flask, g, request
from flask.globals import _cv_app
from flask_babel import Babel, force_locale, get_locale, get_translations
from flask_babel import _get_current_context as _babel_context
from flask_babel.speaklater import LazyString

SUPPORTED = ("en", "es", "fr")
DEFAULT = "en"

babel = Babel()


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", "translations")
    babel.init_app(app, locale_selector=select_locale)
    # the templates' _() / ngettext through `translations()` (Flask-Babel's own callables look
    # the catalog up again on every call: a page calls them 50 to 100 times)
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=lambda s: translations().ugettext(s),
        ngettext=lambda s, p, n: translations().ungettext(s, p, n),
        newstyle=True,
        pgettext=lambda c, s: translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: translations().unpgettext(c, s, p, n),
    )
    app.add_template_global(current_locale)
    app.add_template_global(role_name)


def select_locale() -> str:
    user = g.get("user")
    account = getattr(user, "account", None) if user is not None else None
    language = getattr(account, "language", None)
    if language in SUPPORTED:
        return language
    if request:
        return request.accept_languages.best_match(SUPPORTED) or DEFAULT
    return DEFAULT


# --- gettext ------------------------------------------------------------------------------------
# Flask-Babel's gettext, with the request's catalog looked up once per request and locale:
# Flask-Babel finds it again on each call (the context, the locale, its name, the cache), which
# was a tenth of a page's CPU. The catalog is the one Flask-Babel returns (its cache, its
# directories); it is kept with the Locale it was found for, so force_locale (in_language)
# blocks, which set another Locale, get theirs.


def translations():
    """The request's catalog (Flask-Babel's get_translations(), remembered per locale)."""
    # Flask-Babel's context is g._flask_babel (_babel_context): read from the app context
    # itself, not through the `g` proxy three times (a page asks 50 to 150 times)
    app_ctx = _cv_app.get(None)
    ctx = getattr(app_ctx.g, "_flask_babel", None) if app_ctx is not None else None
    if ctx is None:
        ctx = _babel_context()
    if ctx is None:
        return get_translations()  # outside a request: Flask-Babel's NullTranslations
    locale = getattr(ctx, "babel_locale", None)
    kept = getattr(ctx, "voip_translations", None)
    if kept is not None and locale is not None and kept[0] is locale:
        return kept[1]
    found = get_translations()  # selects the locale first when not yet done
    ctx.voip_translations = (getattr(ctx, "babel_locale", None), found)
    return found


def gettext(string: str, /, **variables: object) -> str:
    """`string` in the request's language; %(name)s filled from `variables` (Flask-Babel's)."""
    s = translations().ugettext(string)
    return s if not variables else s % variables


def ngettext(singular: str, plural: str, num: int, /, **variables: object) -> str:
    variables.setdefault("num", num)
    s = translations().ungettext(singular, plural, num)
    return s if not variables else s % variables


def lazy_gettext(string: str, /, **variables: object) -> LazyString:
    """`gettext` when the text is used (module-level labels)."""
    return LazyString(gettext, string, **variables)


_ = gettext


ROLES = {
    "primary": lazy_gettext("primary"),
    "secondary": lazy_gettext("secondary"),
    "admin": lazy_gettext("admin"),
}


def role_name(role: str) -> str:
    """A user's role as the layout's badge shows it."""
    return str(ROLES.get(role, role))


def in_language(code: str | None):
    """`with in_language(account.language):` texts for someone else than the request's user
    (an email to a conference's guests in the owner's language), through the same catalogs;
    the request's own language comes back after the block. Unknown codes give English."""
    return force_locale(code if code in SUPPORTED else DEFAULT)


def current_locale() -> str:
    """The request's language code, for <html lang> and for scripts that format numbers."""
    locale = get_locale()
    return locale.language if locale is not None else DEFAULT


# --- messages made outside the panel ----------------------------------------------------------
# English text raised by db/ and controller/ (shared with voipctl, the AGI and the logs), matched
# whole, with the parts that vary captured by name and passed to the translation.
def N_(message: str) -> str:
    """Marks a message for the catalog without translating it here (gettext_noop)."""
    return message


FOREIGN_MESSAGES: tuple[str, ...] = (
    N_("A virtual number is 4 to 15 digits."),
    N_("Virtual number %(number)s already exists."),
    N_("A SIP password has at least 10 characters."),
    N_("A SIP password has at most 64 characters."),
    N_("A SIP password may not contain spaces, quotes, backslashes or semicolons."),
    N_("A SIP password mixes letters and digits."),
    N_("A voicemail password is 4 to 10 digits (it is typed on a phone keypad)."),
    N_("A PIN is 4 to 10 digits."),
    N_("That PIN is not available; choose another."),
    N_("Only the primary account holder can change that option."),
    N_("Virtual number %(number)s already has a login."),
    # controller.rules.decisions.may_call
    N_("Not a number we can dial (%(reason)s)."),
    N_(
        "Calls to the continental US and Canada are not allowed on this number "
        "(Allow Continental US and Canada LD is off)."
    ),
    N_("International calls are not allowed on this number (Allow International LD is off)."),
    # controller.rules.numbers: why a dialed string is not a number (Dialed.reason)
    N_("not a phone number"),
    N_("dial 1 + area code + number, or 011 + country code + number"),
    N_("no such number"),
    # Flask-WTF's CSRF refusals (CSRFError.description)
    N_("The CSRF token is missing."),
    N_("The CSRF session token is missing."),
    N_("The CSRF token has expired."),
    N_("The CSRF token is invalid."),
    N_("The CSRF tokens do not match."),
)


def _pattern(msgid: str) -> re.Pattern[str]:
    """The message as a whole-text pattern, each %(name)s captured by name."""
    parts = re.split(r"%\((\w+)\)s", msgid)
    return re.compile("".join(re.escape(p) if n % 2 == 0 else f"(?P<{p}>.+?)" for n, p in enumerate(parts)))


FOREIGN: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (_pattern(msgid), msgid) for msgid in FOREIGN_MESSAGES
)


def service_message(message: object) -> str:
    """`message` (a string or an exception) in the request's language: the panel's own
    messages are translated where they are made; those from db/ and controller/ are English
    and translated here when FOREIGN knows them (else shown as they are)."""
    text = str(message)
    for pattern, msgid in FOREIGN:
        match = pattern.fullmatch(text)
        if match:
            parts = {k: service_message(v) for k, v in match.groupdict().items()}
            return gettext(msgid, **parts)
    return text
