"""What a member dialed, "as you would dial it on the phone, using a 1 or 0 if needed".

Pure: the caller passes what the database knows (is this one of the platform's service numbers,
an on-net virtual number, which area codes are regional for the caller). Countries, country codes (IDDD) and names come from
`phonenumbers`, never from a hand-made table.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Callable, Container
from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumberType, geocoder

EMERGENCY_NUMBERS = frozenset({"911"})
NANP_LOCAL_COUNTRIES = frozenset({"US", "CA"})  # "Continental US and Canada"
_SEPARATORS = re.compile(r"[\s().\-/]")
MAX_DIALED = 20


class DialClass(str, enum.Enum):
    ON_NET = "N"  # another member's virtual number: free, routed internally
    SERVICE = "S"  # one of the platform's service numbers (controller/rules/service_numbers.py): free, inside
    EMERGENCY = "E"  # 911: always goes through
    TOLL_FREE = "T"  # NANP 8xx
    REGIONAL = "R"  # the caller's own area code, or one marked regional for it
    DOMESTIC = "D"  # the rest of the continental US and Canada
    INTERNATIONAL = "I"  # 011 + country code (and NANP numbers outside US/CA)
    INVALID = "X"


@dataclass(frozen=True)
class Dialed:
    dial_class: DialClass
    digits: str  # E.164 without '+' (on-net: the virtual number; a service number as listed; 911: "911")
    country: str = ""  # ISO 3166 alpha-2
    country_name: str = ""
    iddd: str = ""  # country calling code
    reason: str = ""  # why a string is INVALID

    @property
    def billable(self) -> bool:
        return self.dial_class in (DialClass.REGIONAL, DialClass.DOMESTIC, DialClass.INTERNATIONAL)

    @property
    def e164(self) -> str:
        return (
            "+" + self.digits
            if self.dial_class not in (DialClass.EMERGENCY, DialClass.ON_NET, DialClass.SERVICE)
            else self.digits
        )


def normalize(raw: str) -> str | None:
    """Strip the separators people type; None when anything else is left."""
    s = _SEPARATORS.sub("", raw or "")
    if not s or len(s) > MAX_DIALED:
        return None
    if s.startswith("+"):
        return s if s[1:].isdigit() and len(s) > 1 else None
    return s if s.isdigit() else None


def area_code(number: str) -> str:
    """The NANP area code of an 11-digit 1NPANXXXXXX number (or a 10-digit one), else ''."""
    if len(number) == 11 and number.startswith("1"):
        return number[1:4]
    if len(number) == 10:
        return number[:3]
    return ""


def _invalid(reason: str) -> Dialed:
    return Dialed(DialClass.INVALID, "", reason=reason)


def classify(
    raw: str,
    *,
    caller_number: str = "",
    is_on_net: Callable[[str], bool] | Container[str] = (),
    regional_area_codes: Container[str] = (),
    is_service: Container[str] = (),
) -> Dialed:
    """`is_service`: the platform's enabled service numbers (or those of the candidates): a
    member reaches them inside, free, however the number would otherwise be classified (the
    conference number is a domestic number to the PSTN, the access numbers toll-free ones)."""
    s = normalize(raw)
    if s is None:
        return _invalid("not a phone number")
    if s in EMERGENCY_NUMBERS:
        return Dialed(DialClass.EMERGENCY, s, "US", "United States", "1")

    # service numbers as the member dials them: the same forms as on-net numbers
    for candidate in _on_net_candidates(s):
        if candidate in is_service:
            return Dialed(DialClass.SERVICE, candidate)
    on_net = is_on_net if callable(is_on_net) else (lambda n, _c=is_on_net: n in _c)
    # on-net virtual numbers as the member dials them: with or without the leading 1
    for candidate in _on_net_candidates(s):
        if on_net(candidate):
            return Dialed(DialClass.ON_NET, candidate)

    if s.startswith("+"):
        international = s
    elif s.startswith("011"):
        international = "+" + s[3:]
    elif len(s) == 11 and s.startswith("1"):
        international = "+" + s
    elif len(s) == 10 and s[0] in "23456789":
        international = "+1" + s
    elif len(s) == 7 and area_code(caller_number):
        international = "+1" + area_code(caller_number) + s  # 7-digit local dialing
    else:
        return _invalid("dial 1 + area code + number, or 011 + country code + number")

    facts = _number_facts(international)
    if isinstance(facts, str):
        return _invalid(facts)
    digits, region, name, iddd, toll_free = facts
    if toll_free:
        return Dialed(DialClass.TOLL_FREE, digits, region, name, iddd)
    if iddd == "1" and region in NANP_LOCAL_COUNTRIES:
        npa = digits[1:4]
        mine = area_code(caller_number)
        if npa == mine or (mine and npa in regional_area_codes):
            return Dialed(DialClass.REGIONAL, digits, region, name, iddd)
        return Dialed(DialClass.DOMESTIC, digits, region, name, iddd)
    return Dialed(DialClass.INTERNATIONAL, digits, region, name, iddd)


@functools.lru_cache(maxsize=65536)
def _number_facts(international: str) -> tuple[str, str, str, str, bool] | str:
    """What phonenumbers says of an E.164 number: (digits, region, country name, country code,
    NANP toll-free), or why it is not a number. Cached: on the FastAGI hot path the metadata
    walk (every NANP region for a +1 number) costs more than the rest of the decision, and the
    answer depends only on the number and the library's metadata."""
    try:
        parsed = phonenumbers.parse(international, None)
    except phonenumbers.NumberParseException:
        return "not a phone number"
    region = phonenumbers.region_code_for_number(parsed)
    if not region or not phonenumbers.is_valid_number_for_region(parsed, region):
        return "no such number"
    digits = f"{parsed.country_code}{parsed.national_number}"
    if parsed.italian_leading_zero:
        digits = f"{parsed.country_code}{'0' * (parsed.number_of_leading_zeros or 1)}{parsed.national_number}"
    # the region is known: its name directly (geocoder.country_name_for_number would walk
    # every region of the country code again, the costliest step of a decision)
    name = region_name(region)
    toll_free = parsed.country_code == 1 and phonenumbers.number_type(parsed) == PhoneNumberType.TOLL_FREE
    return digits, region, name, str(parsed.country_code), toll_free


def region_name(region: str) -> str:
    """The English name of a region code (non-geographic numbers, such as toll-free, have no
    country of their own in phonenumbers' geocoder)."""
    lookup = getattr(geocoder, "_region_display_name", None)
    return (lookup(region, "en") if lookup and region else "") or region


def on_net_candidates(raw: str) -> list[str]:
    """The virtual numbers (and service numbers) `raw` could mean as dialed (what classify() asks
    the database about)."""
    s = normalize(raw)
    return _on_net_candidates(s) if s else []


def _on_net_candidates(s: str) -> list[str]:
    s = s.lstrip("+")
    out = [s]
    if len(s) == 10:
        out.append("1" + s)
    if s.startswith("011"):
        out.append(s[3:])
    return out
