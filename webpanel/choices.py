"""The drop-down lists the panel offers, each from its proper source.

Countries and their names come from `phonenumbers` (DESIGN 5: no hand-made country table),
time zones from the system's IANA database (`zoneinfo`), so what a form offers is exactly
what the server accepts.
"""

from __future__ import annotations

import functools
import unicodedata
import zoneinfo

import phonenumbers
from babel import Locale

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
    return options(countries(language()))


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
    return frozenset(time_zones())


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
