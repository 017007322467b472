"""Jinja filters shared by every section.

Dates and times are shown in the account's time zone (Account.time_zone): `localtime` takes it
from the logged-in user unless a zone is given.

Numbers, money, dates and times are written for the request's locale (webpanel.i18n) with
Babel's CLDR data: `1,234.50` / `1.234,50` / `1 234,50`, `$5.00` / `5,00 US$` / `5,00 $US`,
`10/3/2026 14:00:00` (Spanish), `10/03/2026 14:00:00` (French). English keeps the panel's
year-month-day dates (`2026-03-10 14:00:00`, unambiguous on both sides of the Atlantic).
Outside a request (scripts, tests) the formatting is English's.
"""

from __future__ import annotations

import datetime as dt
import functools
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel.dates import format_date, format_datetime, match_skeleton
from babel.numbers import format_currency, format_decimal
from flask import Flask, g
from flask_babel import get_locale

from controller.services.voicemail.service import whole_seconds

UTC = dt.UTC
CENTS = Decimal("0.01")
CURRENCY = "USD"  # every amount the panel shows (rates, credit, plans) is in dollars
DEFAULT_LOCALE = "en"
DATA_TIME = "%Y-%m-%d %H:%M:%S"  # CSV exports: what a spreadsheet reads as a date in any language
# languages that write dates year-month-day instead of CLDR's numeric date
ISO_DATE_LANGUAGES = frozenset({"en"})


def init_app(app: Flask) -> None:
    app.add_template_filter(unix_datetime)
    app.add_template_filter(unix_iso)
    app.add_template_filter(localtime)
    app.add_template_filter(localtime_zoned)
    app.add_template_global(zone_caption)
    app.add_template_filter(localdate)
    app.add_template_filter(iso)
    app.add_template_filter(usd)
    app.add_template_filter(minutes)
    app.add_template_filter(mmss)
    app.add_template_filter(recording_length)
    app.add_template_filter(rate_usd)
    app.add_template_filter(number)
    app.add_template_global(account_zone)


def zone(name: str | None) -> dt.tzinfo:
    """An account's time zone (IANA name), UTC when unset or unknown."""
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def account_zone() -> str:
    """The logged-in member's account time zone name ("UTC" for admins and anonymous pages)."""
    user = g.get("user")
    account = getattr(user, "account", None)
    return account.time_zone if account is not None and account.time_zone else "UTC"


# --- the locale's patterns -------------------------------------------------------------------


def locale_name() -> str:
    """The request's locale ("en", "es", "fr"...), English outside a request."""
    locale = get_locale()
    return str(locale) if locale is not None else DEFAULT_LOCALE


@functools.lru_cache(maxsize=64)
def _patterns(name: str) -> tuple[str, str, str]:
    """(date, date-time, day-of-month) CLDR patterns for a locale: its numeric date with the
    full year, a 24-hour time with seconds, joined the way the locale joins them."""
    if Locale.parse(name).language in ISO_DATE_LANGUAGES:
        return "yyyy-MM-dd", "yyyy-MM-dd HH:mm:ss", "MM-dd"
    locale = Locale.parse(name)
    skeletons = locale.datetime_skeletons

    def pattern(skeleton: str) -> str:
        return skeletons[match_skeleton(skeleton, skeletons)].pattern

    date, time = pattern("yMd"), pattern("Hms")
    glue = str(locale.datetime_formats.get("short", "{1} {0}"))
    return date, glue.replace("{1}", date).replace("{0}", time), pattern("Md")


# the ISO languages' three patterns as strftime formats: the same text as Babel's for years
# 1000-9999, without Babel's pattern interpretation (a page of 50 rows formats 50 times)
_ISO_STRFTIME = ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%m-%d")


@functools.lru_cache(maxsize=64)
def _iso_language(name: str) -> bool:
    return Locale.parse(name).language in ISO_DATE_LANGUAGES


def _format(value: dt.datetime | dt.date, which: int) -> str:
    """`value` with the locale's date (which=0), date-time (1) or month-day (2) pattern."""
    name = locale_name()
    if value.year >= 1000 and _iso_language(name):
        return value.strftime(_ISO_STRFTIME[which])
    pattern = _patterns(name)[which]
    if isinstance(value, dt.datetime):
        return format_datetime(value, pattern, locale=name)
    return format_date(value, pattern, locale=name)


# --- dates and times ---------------------------------------------------------------------------


def unix_datetime(seconds: int | None, tz_name: str | None = None) -> str:
    """Unix seconds (Asterisk's ps_contacts.expiration_time) as a local date-time with the
    zone's abbreviation."""
    if seconds is None:
        return ""
    when = dt.datetime.fromtimestamp(int(seconds), tz=zone(tz_name))
    return f"{_format(when, 1)} {when.strftime('%Z')}"


def unix_iso(seconds: int | None) -> str:
    """Unix seconds as ISO 8601 UTC, for <time datetime="...">."""
    if seconds is None:
        return ""
    return dt.datetime.fromtimestamp(int(seconds), tz=UTC).isoformat()


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)  # stored as UTC


def localtime(value: dt.datetime | None, tz_name: str | None = None, fmt: str | None = None) -> str:
    """A stored timestamp as a date and time (to the second) in the account's time zone,
    written for the locale; `fmt` (strftime) for machine-made text such as file names."""
    if value is None:
        return ""
    local = _aware(value).astimezone(zone(tz_name or account_zone()))
    return local.strftime(fmt) if fmt else _format(local, 1)


def zone_caption(tz_name: str | None = None) -> str:
    """The zone a page's times are in, as its column headers and notes name it: the account's
    IANA name for a member ("America/Chicago"), "UTC" for admin pages (issue 16)."""
    name = tz_name or account_zone()
    return "UTC" if name in ("UTC", "Etc/UTC") else name


def localtime_zoned(value: dt.datetime | None, tz_name: str | None = None) -> str:
    """`localtime` followed by the zone's abbreviation at that moment (CST or CDT; the offset,
    +03, where the zone has no abbreviation): a time standing alone in a sentence names its zone."""
    if value is None:
        return ""
    local = _aware(value).astimezone(zone(tz_name or account_zone()))
    return f"{_format(local, 1)} {local.strftime('%Z')}"


def localdate(value: dt.date | dt.datetime | None, tz_name: str | None = None) -> str:
    """A day (a plan's renew date, a report's range) written for the locale; a timestamp is
    first taken to the account's time zone."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        value = _aware(value).astimezone(zone(tz_name or account_zone())).date()
    return _format(value, 0)


def short_day(value: dt.date) -> str:
    """Month and day (a chart's axis): 03-10, 10/3, 10/03."""
    return _format(value, 2)


def iso(value: dt.datetime | dt.date | None) -> str:
    """For <time datetime="...">: ISO 8601 (UTC for timestamps)."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return _aware(value).astimezone(UTC).isoformat()
    return value.isoformat()


# --- numbers and money -------------------------------------------------------------------------


def number(value: int | float | Decimal | None, decimals: int | None = None) -> str:
    """A count or quantity with the locale's grouping and decimal signs (48,213 / 48.213);
    `decimals`: exactly that many digits after the decimal sign (12.5 -> 12.50)."""
    if value is None:
        return ""
    pattern = None if decimals is None else "#,##0" + ("." + "0" * decimals if decimals else "")
    return format_decimal(value, format=pattern, locale=locale_name())


def _money(amount: Decimal) -> str:
    """Dollars with the locale's signs; the digits `amount` carries (two at least)."""
    return _money_text(str(amount), locale_name())


@functools.lru_cache(maxsize=8192)
def _money_text(amount: str, locale: str) -> str:
    """Babel's currency formatting, once per (amount as written, locale) and process: pages
    and exports repeat the same few amounts (a rate, a charge) row after row."""
    return format_currency(
        Decimal(amount), CURRENCY, locale=locale, currency_digits=False, decimal_quantization=False
    )


def usd(value: Decimal | int | None) -> str:
    """US dollars; cents unless the amount has finer digits (rates and credit are kept to 4)."""
    if value is None:
        return ""
    amount = Decimal(value)
    if amount != amount.quantize(CENTS):
        return _money(amount.quantize(Decimal("0.0001")).normalize())
    return _money(amount.quantize(CENTS))


def minutes(seconds: int | None) -> str:
    """Plan time left, in whole minutes (rounded down: what a member can still count on)."""
    if seconds is None:
        return ""
    return number(int(seconds) // 60)


def mmss(seconds: int | None) -> str:
    """A call's duration as minutes:seconds (minutes past 59 keep counting: 75:04)."""
    seconds = max(0, int(seconds or 0))
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


def recording_length(seconds: float | None) -> str:
    """A recording's length (a voicemail message, a greeting) as mm:ss, by the one rounding rule
    the list, the player and the emails share (controller.services.voicemail.service.whole_seconds)."""
    return mmss(whole_seconds(seconds))


def rate_usd(value: Decimal | int | None) -> str:
    """A per-minute rate in US dollars: cents at least, the rate deck's 5 decimals at most."""
    if value is None:
        return ""
    amount = Decimal(value).quantize(Decimal("0.00001")).normalize()
    return _money(amount if amount != amount.quantize(CENTS) else amount.quantize(CENTS))
