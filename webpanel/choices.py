"""The drop-down lists the panel offers, each from its proper source.

Countries and their names come from `phonenumbers` (DESIGN 5: no hand-made country table),
time zones from the system's IANA database (`zoneinfo`), so what a form offers is exactly
what the server accepts.
"""
from __future__ import annotations

import functools
import zoneinfo

import phonenumbers

from controller.numbers import region_name

LANGUAGES: tuple[tuple[str, str], ...] = (("en", "English"), ("es", "Español"), ("fr", "Français"))

# 911 address parts, as US/Canadian address standards (NENA, USPS Pub. 28) spell them
STREET_DIRECTIONS: tuple[tuple[str, str], ...] = (
    ("", "—"), ("N", "N (North)"), ("S", "S (South)"), ("E", "E (East)"), ("W", "W (West)"),
    ("NE", "NE (Northeast)"), ("NW", "NW (Northwest)"), ("SE", "SE (Southeast)"),
    ("SW", "SW (Southwest)"),
)
STREET_TYPES: tuple[tuple[str, str], ...] = (
    ("", "—"), ("ALY", "Alley"), ("AVE", "Avenue"), ("BLVD", "Boulevard"), ("BND", "Bend"),
    ("CIR", "Circle"), ("CT", "Court"), ("CV", "Cove"), ("CRES", "Crescent"), ("DR", "Drive"),
    ("EXPY", "Expressway"), ("FWY", "Freeway"), ("HWY", "Highway"), ("LN", "Lane"),
    ("LOOP", "Loop"), ("PATH", "Path"), ("PIKE", "Pike"), ("PKWY", "Parkway"), ("PL", "Place"),
    ("PLZ", "Plaza"), ("RD", "Road"), ("ROW", "Row"), ("RTE", "Route"), ("SQ", "Square"),
    ("ST", "Street"), ("TER", "Terrace"), ("TRL", "Trail"), ("WAY", "Way"),
)

_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})


@functools.cache
def countries() -> tuple[tuple[str, str], ...]:
    """(ISO 3166 alpha-2, "Name (XX)") for every region phonenumbers supports, by name."""
    named = ((code, region_name(code)) for code in phonenumbers.SUPPORTED_REGIONS)
    return tuple((code, f"{name} ({code})" if name != code else code)
                 for code, name in sorted(named, key=lambda pair: pair[1].casefold()))


@functools.cache
def country_codes() -> frozenset[str]:
    return frozenset(phonenumbers.SUPPORTED_REGIONS)


def country_name(code: str) -> str:
    return region_name(code) if code else ""


@functools.cache
def time_zones() -> tuple[str, ...]:
    return tuple(sorted(z for z in zoneinfo.available_timezones()
                        if z not in _NOT_ZONES and not z.startswith(("posix/", "right/"))))


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
