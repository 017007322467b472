"""controller/rules/limits.py: the spending limits and fraud controls as pure functions."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest

from controller.rules import limits as L
from controller.rules.decisions import ALLOW

BASE = L.Limits(daily_cap=D("10"), intl_daily_cap=D("5"))
NO_FACTS = L.LimitFacts()


def test_effective_cap_is_the_members_value_never_above_the_ceiling():
    assert L.effective_cap(None, None, D("100")) == D("100")
    assert L.effective_cap(D("20"), None, D("100")) == D("20")
    assert L.effective_cap(D("500"), D("50"), D("100")) == D("50")
    assert L.effective_cap(None, D("50"), D("100")) == D("50")


def test_allowed_countries_is_the_members_list_within_the_operators():
    assert L.allowed_countries(None, None) is None
    assert L.allowed_countries(["FR"], None) == {"FR"}
    assert L.allowed_countries(None, ["FR", "GB"]) == {"FR", "GB"}
    assert L.allowed_countries(["FR", "DE"], ["FR", "GB"]) == {"FR"}


def test_parse_countries_keeps_iso_codes_and_names_the_rest():
    assert L.parse_countries("us, ca fr;US") == (["US", "CA", "FR"], [])
    assert L.parse_countries("France 1X")[1] == ["France", "1X"]


@pytest.mark.parametrize(
    "facts, call_class, cap, reason",
    [
        (NO_FACTS, "D", D("10"), L.DAILY_CAP),
        (L.LimitFacts(charged_today=D("4"), held=D("3")), "D", D("3"), L.DAILY_CAP),
        (L.LimitFacts(charged_today=D("12")), "D", D("0"), L.DAILY_CAP),
        (NO_FACTS, "I", D("5"), L.INTL_DAILY_CAP),
        (
            L.LimitFacts(charged_today_intl=D("4"), charged_today=D("4"), held_intl=D("1")),
            "I",
            D("0"),
            L.INTL_DAILY_CAP,
        ),
        (L.LimitFacts(charged_today=D("8")), "I", D("2"), L.DAILY_CAP),
    ],
)
def test_credit_cap_is_the_tightest_cap_minus_charged_today_and_held(facts, call_class, cap, reason):
    assert L.credit_cap(BASE, facts, call_class) == (cap, reason)


def test_number_daily_limit_bounds_the_numbers_own_spend_per_day():
    limits = L.Limits(daily_cap=D("10"), intl_daily_cap=D("5"), number_daily_limit=D("2"))
    facts = L.LimitFacts(charged_today=D("1.5"), charged_today_here=D("1.5"), held_here=D("0.25"))
    assert L.credit_cap(limits, facts, "D") == (D("0.25"), L.NUMBER_DAILY_LIMIT)


def test_screen_refuses_premium_ranges_without_opt_in():
    limits = L.Limits(daily_cap=D("10"), intl_daily_cap=D("5"), premium_prefixes=("1900",))
    assert L.screen(limits, NO_FACTS, "D", "19005550100", "US").verdict.reason == L.PREMIUM_BLOCKED
    opted = L.Limits(
        daily_cap=D("10"), intl_daily_cap=D("5"), premium_prefixes=("1900",), premium_opt_in=True
    )
    assert L.screen(opted, NO_FACTS, "D", "19005550100", "US").verdict == ALLOW
    # a prefix the decision's statement matched on another candidate does not hit this number
    assert L.screen(limits, NO_FACTS, "D", "12125550100", "US").verdict == ALLOW


def test_screen_refuses_countries_off_the_account_or_number_list():
    acc = L.Limits(daily_cap=D("10"), intl_daily_cap=D("5"), countries=frozenset({"FR"}))
    assert L.screen(acc, NO_FACTS, "I", "442079460000", "GB").verdict.reason == L.COUNTRY_NOT_ALLOWED
    assert L.screen(acc, NO_FACTS, "I", "33142685300", "FR").verdict == ALLOW
    num = L.Limits(daily_cap=D("10"), intl_daily_cap=D("5"), number_countries=frozenset({"GB"}))
    assert L.screen(num, NO_FACTS, "I", "33142685300", "FR").verdict.reason == L.COUNTRY_NOT_ALLOWED
    # the lists are about international calls only
    assert L.screen(acc, NO_FACTS, "D", "12125550100", "US").verdict == ALLOW


def test_screen_refuses_over_the_concurrent_call_limits():
    limits = L.Limits(daily_cap=D("10"), intl_daily_cap=D("5"), max_concurrent=2, number_max_concurrent=1)
    assert (
        L.screen(limits, L.LimitFacts(open_calls=2), "D", "12125550100", "US").verdict.reason
        == L.TOO_MANY_CALLS
    )
    assert L.screen(
        limits, L.LimitFacts(open_calls=1, open_calls_here=1), "D", "1212", "US"
    ).verdict.reason == (L.TOO_MANY_CALLS)
    assert L.screen(limits, L.LimitFacts(open_calls=1), "D", "12125550100", "US").verdict == ALLOW
    assert L.screen(BASE, L.LimitFacts(open_calls=500), "D", "12125550100", "US").verdict == ALLOW  # 0: none


def test_velocity_trips_on_one_attempt_more_than_allowed_or_spend_over_the_amount():
    limits = L.Limits(
        daily_cap=D("10"), intl_daily_cap=D("5"), velocity_intl_attempts=3, velocity_amount=D("20")
    )
    assert L.screen(limits, L.LimitFacts(window_intl_attempts=2), "I", "33142685300", "FR").verdict == ALLOW
    tripped = L.screen(limits, L.LimitFacts(window_intl_attempts=3), "I", "33142685300", "FR")
    assert tripped.verdict.reason == L.VELOCITY_TRIPPED and "3 international" in tripped.trip
    assert L.screen(limits, L.LimitFacts(window_intl_attempts=3), "D", "12125550100", "US").verdict == ALLOW
    spent = L.screen(limits, L.LimitFacts(window_spent=D("20.01")), "D", "12125550100", "US")
    assert spent.trip and spent.verdict.reason == L.VELOCITY_TRIPPED


def test_a_tripped_account_is_refused_without_tripping_again():
    limits = L.Limits(
        daily_cap=D("10"), intl_daily_cap=D("5"), tripped_at=dt.datetime(2026, 1, 1), tripped_reason="x"
    )
    s = L.screen(limits, NO_FACTS, "D", "12125550100", "US")
    assert s.verdict.reason == L.VELOCITY_TRIPPED and s.trip == ""


def test_rate_allowed_refuses_a_destination_dearer_than_the_maximum():
    limits = L.Limits(daily_cap=D("10"), intl_daily_cap=D("5"), max_rate=D("0.50"))
    assert L.rate_allowed(limits, D("0.50")) == ALLOW
    assert L.rate_allowed(limits, D("0.51")).reason == L.RATE_TOO_HIGH
    assert L.rate_allowed(BASE, D("99")) == ALLOW


def test_lower_cap_never_above_the_ceiling_nor_negative():
    assert L.lower_cap(D("5"), D("10")) == ""
    assert L.lower_cap(D("10.01"), D("10")) == "above_ceiling"
    assert L.lower_cap(D("-1"), D("10")) == "negative"


def test_facts_from_the_decision_statements_columns():
    f = L.LimitFacts.from_parts([D(1), D(2), D(3), D(4)], [9, 10], 11, (D(5), D(6), D(7)))
    assert (f.charged_today, f.charged_today_intl, f.charged_today_here) == (D(1), D(2), D(3))
    assert (f.held, f.held_intl, f.held_here, f.open_calls, f.open_calls_here) == (D(5), D(6), D(7), 9, 10)
    assert (f.window_intl_attempts, f.window_spent) == (11, D(9))
    assert L.LimitFacts.from_parts(None, None, None) == NO_FACTS


def test_every_limit_reason_has_an_announcement():
    from controller.rules.channel_vars import REFUSALS

    assert set(L.REASONS) <= set(REFUSALS)
