"""The drop-down lists the panel offers, each from its proper source.

Countries and their names come from `phonenumbers` (DESIGN 5: no hand-made country table),
time zones from the system's IANA database (`zoneinfo`), so what a form offers is exactly
what the server accepts.
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
import unicodedata
import zoneinfo
from collections import OrderedDict

import phonenumbers
from babel import Locale
from wtforms import widgets

from controller.rules.numbers import region_name
from webpanel.i18n import lazy_gettext as _l

# each language named in itself (a reader looks for their own language's name)
LANGUAGES: tuple[tuple[str, str], ...] = (("en", "English"), ("es", "Español"), ("fr", "Français"))

# 911 address parts, as US/Canadian address standards (NENA, USPS Pub. 28) spell them
STREET_DIRECTIONS: tuple[tuple[str, str], ...] = (
    ("", "—"),
    ("N", _l("N (North)")),
    ("S", _l("S (South)")),
    ("E", _l("E (East)")),
    ("W", _l("W (West)")),
    ("NE", _l("NE (Northeast)")),
    ("NW", _l("NW (Northwest)")),
    ("SE", _l("SE (Southeast)")),
    ("SW", _l("SW (Southwest)")),
)
STREET_TYPES: tuple[tuple[str, str], ...] = (
    ("", "—"),
    ("ALY", _l("Alley")),
    ("AVE", _l("Avenue")),
    ("BLVD", _l("Boulevard")),
    ("BND", _l("Bend")),
    ("CIR", _l("Circle")),
    ("CT", _l("Court")),
    ("CV", _l("Cove")),
    ("CRES", _l("Crescent")),
    ("DR", _l("Drive")),
    ("EXPY", _l("Expressway")),
    ("FWY", _l("Freeway")),
    ("HWY", _l("Highway")),
    ("LN", _l("Lane")),
    ("LOOP", _l("Loop")),
    ("PATH", _l("Path")),
    ("PIKE", _l("Pike")),
    ("PKWY", _l("Parkway")),
    ("PL", _l("Place")),
    ("PLZ", _l("Plaza")),
    ("RD", _l("Road")),
    ("ROW", _l("Row")),
    ("RTE", _l("Route")),
    ("SQ", _l("Square")),
    ("ST", _l("Street")),
    ("TER", _l("Terrace")),
    ("TRL", _l("Trail")),
    ("WAY", _l("Way")),
)

_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})


@functools.cache
def countries(language: str = "en") -> tuple[tuple[str, str], ...]:
    """(ISO 3166 alpha-2, "Name (XX)") for every region phonenumbers supports, by name in
    `language` (CLDR's names; English's from phonenumbers)."""
    named = ((code, _region_name(code, language)) for code in phonenumbers.SUPPORTED_REGIONS)
    return tuple(
        (code, f"{name} ({code})" if name != code else code)
        for code, name in sorted(named, key=lambda pair: _sort_key(pair[1]))
    )


def _sort_key(name: str) -> str:
    """Alphabetical the way a reader expects it: É with E, Å with A."""
    return "".join(c for c in unicodedata.normalize("NFKD", name.casefold()) if not unicodedata.combining(c))


@functools.cache
def _region_name(code: str, language: str) -> str:
    if language != "en":
        try:
            name = Locale.parse(language).territories.get(code)
        except (ValueError, LookupError):
            name = None
        if name:
            return name
    return region_name(code)


def language() -> str:
    """The request's language (English outside a request)."""
    from webpanel.i18n import current_locale

    return current_locale()


def localized_countries() -> list:
    """The country drop-down's choices in the request's language."""
    return list(_country_options(language()))


@functools.lru_cache(maxsize=16)
def _country_options(language_code: str) -> tuple:
    return tuple(options(countries(language_code)))


@functools.cache
def country_codes() -> frozenset[str]:
    return frozenset(phonenumbers.SUPPORTED_REGIONS)


def country_name(code: str, language_code: str | None = None) -> str:
    """A region's name in `language_code` (default: the request's language)."""
    return _region_name(code, language_code or language()) if code else ""


@functools.cache
def time_zones() -> tuple[str, ...]:
    return tuple(
        sorted(
            z
            for z in zoneinfo.available_timezones()
            if z not in _NOT_ZONES and not z.startswith(("posix/", "right/"))
        )
    )


@functools.cache
def time_zone_set() -> frozenset[str]:
    """Every name zoneinfo accepts, aliases included (what stored values may still be)."""
    return frozenset(time_zones())


# --- the time-zone picker (issue 16): canonical names only, the member's likely zones first ----

ZONE1970 = "/usr/share/zoneinfo/zone1970.tab"  # tzdata's canonical zones, by country
TZDATA_ZI = "/usr/share/zoneinfo/tzdata.zi"  # its "L target alias" lines: every alias
UTC_NAME = "UTC"


@functools.cache
def _zone1970() -> tuple[tuple[str, frozenset[str]], ...]:
    """(zone, the countries it is for) for each canonical zone of tzdata's zone1970.tab."""
    rows: list[tuple[str, frozenset[str]]] = []
    try:
        with open(ZONE1970, encoding="utf-8") as tab:
            for line in tab:
                if line.startswith("#") or not line.strip():
                    continue
                codes, _coords, name = line.split("\t")[:3]
                rows.append((name.strip(), frozenset(codes.split(","))))
    except OSError:  # no system tzdata tables: every zone zoneinfo has, none by country
        rows = [(z, frozenset()) for z in time_zones() if "/" in z and not z.startswith("Etc/")]
    return tuple(rows)


@functools.cache
def canonical_zones() -> frozenset[str]:
    return frozenset(name for name, _ in _zone1970()) | {UTC_NAME}


@functools.cache
def _aliases() -> dict[str, str]:
    links: dict[str, str] = {}
    try:
        with open(TZDATA_ZI, encoding="utf-8") as zi:
            for line in zi:
                if line.startswith("L "):
                    _l_, target, alias = line.split()[:3]
                    links[alias] = target
    except OSError:
        pass
    return links


def canonical_zone(name: str | None) -> str | None:
    """The canonical zone a stored or submitted name stands for (an alias such as US/Central
    or a legacy name such as Etc/UTC is its target: America/Chicago, UTC); None when unknown."""
    name = (name or "").strip()
    if name in canonical_zones():
        return name
    seen = set()
    while name in _aliases() and name not in seen:  # a link may point at a link
        seen.add(name)
        name = _aliases()[name]
        if name in canonical_zones():
            return name
    if name in ("Etc/UTC", "Etc/UCT", "Etc/Universal", "Etc/Zulu", "UCT", "Universal", "Zulu", "Etc/GMT"):
        return UTC_NAME
    if name in LEGACY_ZONES:
        return LEGACY_ZONES[name]
    return _same_clock(name)


# tzdata 2024b made these old rule-named zones links ("backward"); an older system tzdata still
# has them as zones of their own, which the pre-issue-16 picker offered and accounts may store
LEGACY_ZONES = {
    "EST5EDT": "America/New_York",
    "CST6CDT": "America/Chicago",
    "MST7MDT": "America/Denver",
    "PST8PDT": "America/Los_Angeles",
    "EST": "America/Panama",
    "MST": "America/Phoenix",
    "HST": "Pacific/Honolulu",
    "CET": "Europe/Brussels",
    "MET": "Europe/Brussels",
    "EET": "Europe/Athens",
    "WET": "Europe/Lisbon",
}


@functools.cache
def _same_clock(name: str) -> str | None:
    """A zone tzdata keeps but zone1970.tab folded into another (Europe/Amsterdam into
    Europe/Brussels since 1970): the canonical zone of the same country (zone.tab) that keeps
    the same clock in January and July."""
    country = None
    try:
        with open(ZONE1970.replace("zone1970.tab", "zone.tab"), encoding="utf-8") as tab:
            for line in tab:
                parts = line.rstrip("\n").split("\t")
                if not line.startswith("#") and len(parts) >= 3 and parts[2] == name:
                    country = parts[0]
    except OSError:
        return None
    if country is None or name not in time_zone_set():
        return None
    probes = [dt.datetime(dt.datetime.now(dt.UTC).year, month, 15, tzinfo=dt.UTC) for month in (1, 7)]

    def clock(zone_name: str) -> list:
        return [p.astimezone(zoneinfo.ZoneInfo(zone_name)).utcoffset() for p in probes]

    for candidate, codes in _zone1970():
        if country in codes and clock(candidate) == clock(name):
            return candidate
    return None


def _offset_label(name: str, now: dt.datetime) -> str:
    offset = now.astimezone(zoneinfo.ZoneInfo(name)).utcoffset() or dt.timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "\u2212"  # a real minus sign
    minutes = abs(minutes)
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def zone_label(name: str, now: dt.datetime | None = None) -> str:
    """ "Chicago (UTC\u221206:00)": the city part of the name, readable, with today's offset."""
    now = now or dt.datetime.now(dt.UTC)
    if name == UTC_NAME:
        return "UTC (UTC+00:00)"
    city = name.split("/", 1)[-1].replace("_", " ").replace("/", " \u2013 ")
    return f"{city} ({_offset_label(name, now)})"


def time_zone_choices(country: str | None) -> dict[str, list]:
    """The picker's optgroups: the zones of the account's country first (in zone1970.tab's
    order: for the US, New York first and then west), then every
    canonical zone by region (Africa, America, ...), each labelled with its offset today.

    Built once per (language, country, quarter hour) and kept (issue 16: building it loads
    every zone file, ~60 ms); every tzdata transition falls on a quarter hour UTC, so a
    label's offset is never stale. Each call gets its own dict and lists."""
    now = dt.datetime.now(dt.UTC)
    quarter = int(now.timestamp()) // 900
    cached = _time_zone_groups(language(), country or "", quarter)
    return {title: list(group) for title, group in cached.items()}


@functools.lru_cache(maxsize=64)
def _time_zone_groups(language_code: str, country: str, quarter: int) -> dict[str, tuple]:
    now = dt.datetime.fromtimestamp(quarter * 900, dt.UTC)
    groups: dict[str, tuple] = {
        title: tuple(group) for title, group in _build_time_zone_groups(country or None, now).items()
    }
    return groups


def _build_time_zone_groups(country: str | None, now: dt.datetime) -> dict[str, list]:
    groups: dict[str, list] = {}
    likely = [name for name, codes in _zone1970() if country and country in codes]
    if likely:
        title = str(_l("Likely for %(country)s", country=country_name(country or "")))
        groups[title] = options((z, zone_label(z, now)) for z in likely)
    by_region: dict[str, list[str]] = {}
    for name in sorted(n for n, _ in _zone1970()):
        by_region.setdefault(name.split("/", 1)[0], []).append(name)
    groups["UTC"] = options([(UTC_NAME, zone_label(UTC_NAME, now))])
    for region, names in sorted(by_region.items()):
        ordered = sorted(names, key=lambda z: zone_label(z, now))
        groups[region] = options((z, zone_label(z, now)) for z in ordered)
    return groups


def language_codes() -> frozenset[str]:
    return frozenset(code for code, _ in LANGUAGES)


def options(pairs) -> list:
    """(value, label) pairs as WTForms wants them: SelectChoice from WTForms 3.3 on (tuples
    are deprecated there), plain tuples before."""
    try:
        from wtforms.fields.choices import SelectChoice
    except ImportError:  # WTForms < 3.3
        return [tuple(p) for p in pairs]
    return [SelectChoice(value, label) for value, label in pairs]


class KeptSelect(widgets.Select):
    """WTForms' Select, the same markup, kept per (choices, selected value, attributes): the
    country and time-zone pickers are hundreds of <option>s, the same for every member of a
    language and country (issue 16: rendering them was most of their pages' CPU). Choices
    with their own attributes (render_kw) are rendered every time. Per process, LRU-bounded."""

    SIZE = 256
    _kept: OrderedDict = OrderedDict()
    _lock = threading.Lock()

    def __call__(self, field, **kwargs):
        key = self._key(field, kwargs)
        if key is None:
            return super().__call__(field, **kwargs)
        with self._lock:
            html = self._kept.get(key)
            if html is not None:
                self._kept.move_to_end(key)
                return html
        html = super().__call__(field, **kwargs)
        with self._lock:
            self._kept[key] = html
            while len(self._kept) > self.SIZE:
                self._kept.popitem(last=False)
        return html

    def _key(self, field, kwargs) -> tuple | None:
        try:
            groups = field.choices.items() if isinstance(field.choices, dict) else ((None, field.choices),)
            content = tuple((None if t is None else str(t), _choice_key(group)) for t, group in groups)
            flags = tuple(bool(getattr(field.flags, a, False)) for a in self.validation_attrs)
            attrs = tuple(sorted((k, str(v)) for k, v in kwargs.items()))
            return (type(field), field.id, field.name, repr(field.data), flags, attrs, self.multiple, content)
        except _Uncacheable:
            return None


class _Uncacheable(Exception):
    pass


def _choice_key(group) -> tuple:
    try:  # SelectChoice (WTForms >= 3.3): one comprehension, the common case
        return tuple(
            [_plain(c) and (c.value, c.label if type(c.label) is str else str(c.label)) for c in group]
        )
    except AttributeError:  # (value, label) tuples
        out = []
        for c in group:
            if not (isinstance(c, (tuple, list)) and len(c) == 2):
                raise _Uncacheable from None
            out.append((c[0], None if c[1] is None else str(c[1])))
        return tuple(out)


def _plain(choice) -> bool:
    if choice.render_kw or choice.optgroup:
        raise _Uncacheable
    return True


# --- states and provinces (issue 16: a 911 address in the US or Canada names a real one) ------

# USPS codes: the 50 states, DC, and the territories a US number may be served in
US_STATES: dict[str, str] = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California",
    "CO": "Colorado", "CT": "Connecticut", "DE": "Delaware", "DC": "District of Columbia",
    "FL": "Florida", "GA": "Georgia", "HI": "Hawaii", "ID": "Idaho", "IL": "Illinois",
    "IN": "Indiana", "IA": "Iowa", "KS": "Kansas", "KY": "Kentucky", "LA": "Louisiana",
    "ME": "Maine", "MD": "Maryland", "MA": "Massachusetts", "MI": "Michigan", "MN": "Minnesota",
    "MS": "Mississippi", "MO": "Missouri", "MT": "Montana", "NE": "Nebraska", "NV": "Nevada",
    "NH": "New Hampshire", "NJ": "New Jersey", "NM": "New Mexico", "NY": "New York",
    "NC": "North Carolina", "ND": "North Dakota", "OH": "Ohio", "OK": "Oklahoma", "OR": "Oregon",
    "PA": "Pennsylvania", "RI": "Rhode Island", "SC": "South Carolina", "SD": "South Dakota",
    "TN": "Tennessee", "TX": "Texas", "UT": "Utah", "VT": "Vermont", "VA": "Virginia",
    "WA": "Washington", "WV": "West Virginia", "WI": "Wisconsin", "WY": "Wyoming",
    "AS": "American Samoa", "GU": "Guam", "MP": "Northern Mariana Islands", "PR": "Puerto Rico",
    "VI": "U.S. Virgin Islands", "UM": "U.S. Minor Outlying Islands",
}  # fmt: skip
# Canada Post codes: 10 provinces and 3 territories
CA_PROVINCES: dict[str, str] = {
    "AB": "Alberta", "BC": "British Columbia", "MB": "Manitoba", "NB": "New Brunswick",
    "NL": "Newfoundland and Labrador", "NS": "Nova Scotia", "NT": "Northwest Territories",
    "NU": "Nunavut", "ON": "Ontario", "PE": "Prince Edward Island", "QC": "Quebec",
    "SK": "Saskatchewan", "YT": "Yukon",
}  # fmt: skip
_SUBDIVISIONS = {"US": US_STATES, "CA": CA_PROVINCES}


def subdivision_code(country: str, value: str) -> str | None:
    """A US state or territory, or a Canadian province or territory, as its postal code ("il",
    "Illinois" -> "IL", "Québec" -> "QC"); None when `value` is none of `country`'s. Countries
    other than the US and Canada keep what was typed."""
    table = _SUBDIVISIONS.get(country)
    if table is None:
        return value
    typed = _sort_key(" ".join((value or "").replace(".", " ").split()))
    for code, name in table.items():
        if typed in (code.casefold(), _sort_key(name.replace(".", " ").replace("  ", " "))):
            return code
    return None
