"""How amounts are said (controller.rules.prompts): "1 dollar", "2 dollars", "less than one
dollar", minutes, in English, Spanish and French, with the files the core sound sets have."""

from __future__ import annotations

from decimal import Decimal

import pytest

from controller.rules.prompts import (
    AND,
    DOLLAR,
    DOLLARS,
    LESS_THAN,
    MINUTE,
    MINUTES,
    SOUNDS,
    YOU_HAVE,
    Number,
    Sound,
    balance,
    dollars,
    grammar,
    minutes,
)


def said(steps) -> list[str]:
    """A readable form: SayNumber as '#n' (with its gender option), sounds by name."""
    return [f"#{s.value}{s.gender}" if isinstance(s, Number) else s.name for s in steps]


@pytest.mark.parametrize(
    "amount, language, expected",
    [
        ("1", "en", ["#1", DOLLAR]),
        ("1.00", "en", ["#1", DOLLAR]),
        ("2", "en", ["#2", DOLLARS]),
        ("0", "en", ["#0", DOLLARS]),
        ("1.05", "en", ["#1", DOLLAR]),  # whole dollars, rounded down: no set has "cents"
        ("1.99", "en", ["#1", DOLLAR]),
        ("21.50", "en", ["#21", DOLLARS]),
        ("0.05", "en", [LESS_THAN, "#1", DOLLAR]),  # some credit: never "0 dollars"
        ("-3.00", "en", ["#0", DOLLARS]),
        # Spanish: "un dólar" (SayNumber's masculine 'un', not the counting 'uno'), "0 dólares"
        ("1", "es", ["#1m", DOLLAR]),
        ("2", "es", ["#2m", DOLLARS]),
        ("0", "es", ["#0m", DOLLARS]),
        ("0.40", "es", [LESS_THAN, "#1m", DOLLAR]),
        # French: singular below two, "0 dollar", "1 dollar", "2 dollars"
        ("0", "fr", ["#0", DOLLAR]),
        ("1", "fr", ["#1", DOLLAR]),
        ("2", "fr", ["#2", DOLLARS]),
        ("0.99", "fr", [LESS_THAN, "#1", DOLLAR]),
    ],
)
def test_an_amount_is_said_in_whole_dollars_with_the_right_noun(amount, language, expected):
    assert said(dollars(Decimal(amount), language)) == expected


@pytest.mark.parametrize(
    "n, language, expected",
    [
        (1, "en", ["#1", MINUTE]),
        (2, "en", ["#2", MINUTES]),
        (0, "en", ["#0", MINUTES]),
        (1, "es", ["#1m", MINUTE]),
        (5, "es", ["#5m", MINUTES]),
        (0, "fr", ["#0", MINUTE]),
        (1, "fr", ["#1", MINUTE]),
        (2, "fr", ["#2", MINUTES]),
        (-1, "en", ["#0", MINUTES]),
    ],
)
def test_minutes_are_said_with_the_right_noun(n, language, expected):
    assert said(minutes(n, language)) == expected


def test_the_balance_says_dollars_and_then_plan_minutes_when_there_are_some():
    assert said(balance(Decimal("1.00"), 0, "en")) == [YOU_HAVE, "#1", DOLLAR]
    assert said(balance(Decimal("2.50"), 1, "en")) == [YOU_HAVE, "#2", DOLLARS, AND, "#1", MINUTE]
    assert said(balance(Decimal("0"), 30, "es")) == [YOU_HAVE, "#0m", DOLLARS, AND, "#30m", MINUTES]


@pytest.mark.parametrize("language", [None, "", "en", "en_US", "de", "xx_YY"])
def test_a_language_without_rules_of_its_own_is_said_as_english(language):
    assert grammar(language) == grammar("en")
    assert said(dollars(Decimal("1"), language)) == ["#1", DOLLAR]


def test_a_regional_variant_follows_its_language():
    assert said(dollars(Decimal("1"), "es_MX")) == ["#1m", DOLLAR]
    assert said(dollars(Decimal("0"), "fr_CA")) == ["#0", DOLLAR]


def test_every_sound_the_rules_name_is_listed_for_the_sandbox_check():
    named = {
        s.name
        for language in ("en", "es", "fr")
        for steps in (balance(Decimal(a), m, language) for a in ("0", "0.5", "1", "2") for m in (0, 1, 2))
        for s in steps
        if isinstance(s, Sound)
    }
    assert named == set(SOUNDS)
