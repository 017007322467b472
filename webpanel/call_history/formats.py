"""The report's per-row formatting, fast: 50 rows with a date-time and a cost each, and up to
366 chart bars with a day, minutes and a call count each.

The text is webpanel.filters' (localtime, localdate, usd, number: Babel's CLDR formats for the
request's locale), but Babel spends 10-20 us a value parsing the locale and the pattern again
each time, most of a page's formatting time. Here each locale's formats are compiled once into
str.format templates and separators, and checked against the filters on a set of probe values
the first time the locale is used; if any probe differs (a locale or a pattern this compiler
does not know), that formatter is simply the filter itself. So the output is the filters'
output, only cheaper.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from webpanel import filters

CENTS = Decimal("0.01")
FOUR_PLACES = Decimal("0.0001")

# CLDR date-time pattern fields this compiler knows, as str.format fields of a datetime/date
_FIELDS = {
    "y": "{0.year}",
    "yyyy": "{0.year:04d}",
    "M": "{0.month}",
    "MM": "{0.month:02d}",
    "d": "{0.day}",
    "dd": "{0.day:02d}",
    "H": "{0.hour}",
    "HH": "{0.hour:02d}",
    "m": "{0.minute}",
    "mm": "{0.minute:02d}",
    "s": "{0.second}",
    "ss": "{0.second:02d}",
}
_TOKEN = re.compile(r"'[^']*'|([A-Za-z])\1*|[^A-Za-z']+")

_PROBE_TIMES = (
    dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
    dt.datetime(2031, 12, 29, 17, 45, 38, tzinfo=dt.UTC),
    dt.datetime(2009, 10, 11, 22, 13, 59, 999999, tzinfo=dt.UTC),
)
_PROBE_MONEY = (
    "0",
    "0.00",
    "0.5",
    "0.01",
    "0.0001",
    "0.00005",
    "0.0049",
    "1.2345",
    "12.34",
    "10",
    "99.999",
    "999.9999",
    "1000",
    "1234.5",
    "12345.0001",
    "100000.1",
    "1234567.89",
    "100.00001",
    "5.125",
    "0.1000",
)
_PROBE_NUMBERS = (
    0,
    7,
    999,
    1000,
    1234,
    12345,
    1234567,
    0.0,
    0.5,
    13.1,
    59.9,
    999.0,
    1234.0,
    1234.5,
    12345.6,
    1000000.2,
)


def _literal(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def compile_pattern(pattern: str) -> str | None:
    """A CLDR date(-time) pattern as a str.format template of one datetime, or None when it
    has a field other than numeric year, month, day, hour, minute and second."""
    out = []
    for m in _TOKEN.finditer(pattern):
        token = m.group(0)
        if token.startswith("'"):
            out.append(_literal(token[1:-1] or "'"))
        elif token[0].isalpha():
            field = _FIELDS.get(token)
            if field is None:
                return None
            out.append(field)
        else:
            out.append(_literal(token))
    return "".join(out)


def _group(digits: str, separator: str) -> str:
    head = len(digits) % 3 or 3
    return digits[:head] + "".join(separator + digits[i : i + 3] for i in range(head, len(digits), 3))


def _separators(sample: str, small: str, prefix: str = "", suffix: str = "") -> tuple[str, str, int] | None:
    """(group, decimal, fewest digits grouped) from how the locale writes 1234567.25 (`sample`,
    between `prefix` and `suffix`) and 1234.25 (`small`)."""
    m = re.fullmatch(re.escape(prefix) + r"1(?P<g>\D?)234(?P=g)567(\D)25" + re.escape(suffix), sample)
    if m is None:
        return None
    group, decimal = m.groups()
    return group, decimal, 4 if small == f"{prefix}1{group}234{decimal}25{suffix}" else 5


@dataclass(frozen=True)
class Formats:
    """One locale's formatters (each the filter itself when its fast form failed a probe)."""

    datetime: Callable[[dt.datetime, str], str]  # (UTC timestamp, IANA zone) -> local date-time
    date: Callable[[dt.date], str]
    usd: Callable[[Decimal], str]
    number: Callable[[int | float], str]

    def money(self, value: Decimal | None) -> str:
        """An amount as a person reads money: whole cents (half a cent up), in the locale's
        form. The exact amount (4 places) stays in the database and the CSV export."""
        return "" if value is None else self.usd(to_cents(value))


def to_cents(value: Decimal) -> Decimal:
    amount = Decimal(value)
    return amount.quantize(CENTS, ROUND_HALF_UP) if amount.is_finite() else amount


def _datetime_formatter(name: str) -> Callable[[dt.datetime, str], str]:
    slow = filters.localtime
    try:
        template = compile_pattern(filters._patterns(name)[1])
    except Exception:  # noqa: BLE001 - a filters change this module does not know: use the filter
        template = None
    if template is None:
        return slow
    fmt, zone, utc = template.format, filters.zone, dt.UTC

    def fast(value: dt.datetime, tz_name: str) -> str:
        if value is None or not tz_name:
            return slow(value, tz_name)
        if value.tzinfo is None:
            value = value.replace(tzinfo=utc)
        return fmt(value.astimezone(zone(tz_name)))

    ok = all(fast(p, z) == slow(p, z) for p in _PROBE_TIMES for z in ("UTC", "America/New_York"))
    return fast if ok else slow


def _date_formatter(name: str) -> Callable[[dt.date], str]:
    slow = filters.localdate
    try:
        template = compile_pattern(filters._patterns(name)[0])
    except Exception:  # noqa: BLE001
        template = None
    if template is None:
        return slow
    fmt = template.format
    days = [p.date() for p in _PROBE_TIMES]
    return fmt if all(fmt(d) == slow(d) for d in days) else slow


def _usd_formatter() -> Callable[[Decimal], str]:
    slow = filters.usd
    sample = slow(Decimal("1234567.25"))
    digits = [i for i, c in enumerate(sample) if c.isdigit()]
    if not digits:
        return slow
    prefix, suffix = sample[: digits[0]], sample[digits[-1] + 1 :]
    seps = _separators(sample, slow(Decimal("1234.25")), prefix, suffix)
    if seps is None:
        return slow
    group, decimal, fewest = seps

    def fast(value: Decimal) -> str:
        if value is None:
            return ""
        amount = Decimal(value)
        if not amount.is_finite() or amount.is_signed():
            return slow(value)
        cents = amount.quantize(CENTS)
        # what filters.usd shows: cents, or up to 4 places when the amount has finer digits
        amount = cents if amount == cents else amount.quantize(FOUR_PLACES).normalize()
        whole, _, fraction = format(amount, "f").partition(".")
        if len(whole) >= fewest:
            whole = _group(whole, group)
        return f"{prefix}{whole}{decimal}{fraction.ljust(2, '0')}{suffix}"

    ok = all(fast(Decimal(p)) == slow(Decimal(p)) for p in _PROBE_MONEY)
    return fast if ok else slow


def _number_formatter() -> Callable[[int | float], str]:
    slow = filters.number
    seps = _separators(slow(1234567.25), slow(1234.25))
    if seps is None:
        return slow
    group, decimal, fewest = seps

    def fast(value: int | float) -> str:
        kind = type(value)
        if kind is int and value >= 0:
            whole, fraction = str(value), ""
        elif kind is float and 0 <= value < 1e15:
            # Babel reads a float as Decimal(str(value)); str is the shortest exact form
            whole, _, fraction = repr(value).partition(".")
            if len(fraction) > 3 or not whole.isdigit():  # the pattern rounds to 3 places
                return slow(value)
            fraction = fraction.rstrip("0")
        else:
            return slow(value)
        if len(whole) >= fewest:
            whole = _group(whole, group)
        return f"{whole}{decimal}{fraction}" if fraction else whole

    ok = all(fast(p) == slow(p) for p in _PROBE_NUMBERS)
    return fast if ok else slow


_cache: dict[str, Formats] = {}
_lock = threading.Lock()


def current() -> Formats:
    """The request's locale's formatters (built and checked on the locale's first use)."""
    name = filters.locale_name()
    found = _cache.get(name)
    if found is None:
        with _lock:
            found = _cache.get(name)
            if found is None:
                found = _cache[name] = Formats(
                    _datetime_formatter(name), _date_formatter(name), _usd_formatter(), _number_formatter()
                )
    return found
