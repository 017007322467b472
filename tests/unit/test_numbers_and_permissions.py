"""Dial classification and LD permissions, for every dial class."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controller.rules.decisions import OutboundPlan, Permissions, may_call
from controller.rules.numbers import DialClass, classify

CALLER = "13125550101"  # a Chicago (312) number
ON_NET = {"17005550101", "17005550102"}
REGIONAL = {"773"}


def c(raw):
    return classify(raw, caller_number=CALLER, is_on_net=ON_NET, regional_area_codes=REGIONAL)


@pytest.mark.parametrize(
    "raw, cls, digits, country",
    [
        ("911", DialClass.EMERGENCY, "911", "US"),
        ("17005550102", DialClass.ON_NET, "17005550102", ""),
        ("7005550102", DialClass.ON_NET, "17005550102", ""),
        ("18005551234", DialClass.TOLL_FREE, "18005551234", "US"),
        ("1-888-555-1234", DialClass.TOLL_FREE, "18885551234", "US"),
        ("3125550199", DialClass.REGIONAL, "13125550199", "US"),
        ("5550199", DialClass.REGIONAL, "13125550199", "US"),
        ("1 (773) 555-0199", DialClass.REGIONAL, "17735550199", "US"),
        ("12125550100", DialClass.DOMESTIC, "12125550100", "US"),
        ("+1 416 555 0123", DialClass.DOMESTIC, "14165550123", "CA"),
        ("011 44 20 7946 0000", DialClass.INTERNATIONAL, "442079460000", "GB"),
        ("+33 1 42 68 53 00", DialClass.INTERNATIONAL, "33142685300", "FR"),
        ("18765551234", DialClass.INTERNATIONAL, "18765551234", "JM"),  # NANP, but not US/CA
    ],
)
def test_classify(raw, cls, digits, country):
    d = c(raw)
    assert (d.dial_class, d.digits, d.country) == (cls, digits, country)


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "abc",
        "12",
        "0114",
        "1555",
        "911a",
        "*72",
        "1234567890123456789012",
        "+",
        "011",
        "19005550100x",
        "&PJSIP/evil",
        "1312555;0101",
    ],
)
def test_malformed_or_impossible_strings_are_invalid(raw):
    assert c(raw).dial_class is DialClass.INVALID


def test_country_name_and_iddd_come_from_phonenumbers():
    d = c("011442079460000")
    assert (d.country_name, d.iddd) == ("United Kingdom", "44")


@pytest.mark.parametrize(
    "raw, us_ca, intl, allowed, reason",
    [
        ("911", False, False, True, ""),
        ("17005550102", False, False, True, ""),
        ("18005551234", False, False, True, ""),
        ("3125550199", False, False, True, ""),
        ("12125550100", False, False, False, "not_permitted_us_canada"),
        ("12125550100", True, False, True, ""),
        ("011442079460000", True, False, False, "not_permitted_international"),
        ("011442079460000", False, True, True, ""),
        ("garbage", True, True, False, "invalid_number"),
    ],
)
def test_may_call_per_permission(raw, us_ca, intl, allowed, reason):
    v = may_call(Permissions(us_ca, intl), c(raw))
    assert (v.allowed, v.reason) == (allowed, reason)
    if not allowed:
        assert v.message


@given(st.text(max_size=30))
def test_classify_never_raises_and_digits_are_digits(raw):
    d = c(raw)
    assert d.digits.isdigit() or d.dial_class is DialClass.INVALID
    if d.dial_class is not DialClass.INVALID:
        assert d.digits and len(d.digits) <= 15


@given(st.text(max_size=30))
def test_911_is_always_allowed_and_nothing_else_slips_through_without_rights(raw):
    d = c(raw)
    v = may_call(Permissions(False, False), d)
    if v.allowed:
        assert d.dial_class in (
            DialClass.EMERGENCY,
            DialClass.ON_NET,
            DialClass.TOLL_FREE,
            DialClass.REGIONAL,
        )


@pytest.mark.parametrize("max_seconds, options", [(None, ""), (0, "S(0)"), (3600, "S(3600)")])
def test_outbound_plan_dial_options_hang_up_at_the_maximum_length(max_seconds, options):
    assert OutboundPlan(c("3125550199"), "13125550101", max_seconds, 7).dial_options == options
