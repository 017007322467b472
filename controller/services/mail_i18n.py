"""Emails the controller writes (notifications, the voicemail email) in the account's language,
outside any Flask request: the panel's own catalogs (webpanel/translations/<lang>/LC_MESSAGES/
messages.mo, read as files with babel.support.Translations, never by importing the panel) and
Babel's formats for numbers, money and dates.

`language(code)` gives the conference invitations' `invites.Language` (its code and a gettext
that %-formats with keywords, as Flask-Babel's does): one helper for every email made outside
the panel. An unknown code, or a catalog not compiled (`scripts/i18n compile`), gives English:
the msgids as written. `scripts/i18n extract` reads this package's notification texts into the
panel's catalog (each function binds the language's gettext to `_`, so pybabel finds them).

Dates follow the panel (webpanel/filters.py): English in ISO order (2026-12-05 10:15:03), the
other languages their CLDR numeric date and 24-hour time; a time always names its zone.
"""

from __future__ import annotations

import datetime as dt
import functools
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel.dates import format_date, format_datetime, match_skeleton
from babel.numbers import format_currency, format_decimal
from babel.support import NullTranslations, Translations

from controller.services.conference.invites import ENGLISH, Language

SUPPORTED = ("en", "es", "fr")  # webpanel.i18n.SUPPORTED (the panel's languages)
DEFAULT = "en"
CURRENCY = "USD"
CATALOGS = Path(__file__).resolve().parents[2] / "webpanel" / "translations"
ISO_DATE_LANGUAGES = frozenset({"en"})  # as webpanel/filters.py


def code_of(code: str | None) -> str:
    return code if code in SUPPORTED else DEFAULT


@functools.lru_cache(maxsize=8)
def _catalog(code: str) -> NullTranslations:
    return Translations.load(str(CATALOGS), [code], domain="messages")


@functools.lru_cache(maxsize=8)
def language(code: str | None) -> Language:
    """The texts' language for an account's `accounts.language` (English for anything else)."""
    code = code_of(code)
    if code == DEFAULT:
        return ENGLISH
    catalog = _catalog(code)

    def gettext(message: str, /, **variables: object) -> str:
        text = catalog.ugettext(message)
        return text % variables if variables else text

    return Language(code, gettext)


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@functools.lru_cache(maxsize=8)
def _patterns(code: str) -> tuple[str, str]:
    """(date, date-time) CLDR patterns: numeric date with the full year, 24-hour time with
    seconds (webpanel/filters.py's choice for the panel)."""
    if code in ISO_DATE_LANGUAGES:
        return "yyyy-MM-dd", "yyyy-MM-dd HH:mm:ss"
    locale = Locale.parse(code)
    skeletons = locale.datetime_skeletons

    def pattern(skeleton: str) -> str:
        return str(skeletons[match_skeleton(skeleton, skeletons)].pattern)

    date, time = pattern("yMd"), pattern("Hms")
    glue = str(locale.datetime_formats.get("short", "{1} {0}"))
    return date, glue.replace("{1}", date).replace("{0}", time)


def local_time(moment: dt.datetime, time_zone: str | None, lang: Language = ENGLISH) -> str:
    """The moment in the account's zone, for its language, the zone named: "2026-12-05
    10:15:03 EST (America/New_York)", "5/12/2026, 10:15:03 EST (America/New_York)"."""
    tz = zone(time_zone)
    local = moment.astimezone(tz)
    return f"{format_datetime(local, _patterns(lang.code)[1], locale=lang.code)} {local.tzname()} ({tz.key})"


def local_date(day: dt.date | dt.datetime, lang: Language = ENGLISH) -> str:
    if isinstance(day, dt.datetime):
        day = day.date()
    return format_date(day, _patterns(lang.code)[0], locale=lang.code)


def short_day(day: dt.date | dt.datetime, lang: Language = ENGLISH) -> str:
    """ "Mar 02", "2 mar", "2 mars": a day of a subject line."""
    if isinstance(day, dt.datetime):
        day = day.date()
    pattern = "MMM dd" if lang.code == DEFAULT else "d MMM"
    return format_date(day, pattern, locale=lang.code)


def money(amount: Decimal, lang: Language = ENGLISH) -> str:
    """US dollars to the cent, for the language: $3.00, 3,00 US$, 3,00 $US."""
    return format_currency(amount.quantize(Decimal("0.01")), CURRENCY, locale=lang.code)


def number(value: int | Decimal, lang: Language = ENGLISH) -> str:
    return format_decimal(value, locale=lang.code)
