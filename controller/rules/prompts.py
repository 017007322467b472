"""How an amount is said to a caller, in the caller's language: dollars, minutes, and the calling
card's balance ("You have 2 dollars and 1 minute"). Pure: the AGI route plays what these return
(a `Sound` with Playback, a `Number` with SayNumber, in the channel's language).

Only files of Debian's core sound sets (asterisk-core-sounds-en/-es/-fr) are named, each present
in all three (tests/asterisk/test_announcements.py checks the sandbox). What the sets lack
decides two things here:

- no set has "cent" or "cents": an amount is said in whole dollars, rounded down, and a positive
  amount below one dollar as "less than one dollar" (never "0 dollars" to a caller who has some);
- French has no feminine "une" (digits/1F, which SayNumber's f option asks for): "1 minute" is
  said with the masculine "un". Spanish has "un" (digits/1M, SayNumber's m option) for the two
  masculine nouns said here, dólar and minuto, instead of the counting "uno".

Singular or plural follows each language's rule (CLDR's "one" category): English and Spanish
say the singular for 1 only, French for 0 and 1 ("0 dollar", "1 dollar", "2 dollars").
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

YOU_HAVE = "vm-youhave"
AND = "vm-and"
LESS_THAN = "queue-less-than"
DOLLAR, DOLLARS = "letters/dollar", "digits/dollars"
# "minute" is missing from the Spanish set; the queue's pair is in all three
MINUTE, MINUTES = "queue-minute", "queue-minutes"


@dataclass(frozen=True)
class Sound:
    """A sound file, played with Playback."""

    name: str


@dataclass(frozen=True)
class Number:
    """A number said with SayNumber(value[,gender])."""

    value: int
    gender: str = ""


Say = Sound | Number


@dataclass(frozen=True)
class Grammar:
    singular_below_two: bool  # the singular for 0 too, not for 1 only
    masculine: str  # SayNumber's gender option before a masculine noun ('' when not needed)


GRAMMARS = {
    "en": Grammar(singular_below_two=False, masculine=""),
    "es": Grammar(singular_below_two=False, masculine="m"),
    "fr": Grammar(singular_below_two=True, masculine=""),
}
DEFAULT = "en"


def grammar(language: str | None) -> Grammar:
    """The rules of a channel language ('es', 'es_MX'...); English for any other."""
    return GRAMMARS.get((language or DEFAULT).split("_")[0].lower(), GRAMMARS[DEFAULT])


def count(n: int, singular: str, plural: str, language: str | None) -> tuple[Say, ...]:
    """n followed by the noun, in the number the language wants (both nouns masculine)."""
    g = grammar(language)
    one = n == 1 or (n == 0 and g.singular_below_two)
    return (Number(n, g.masculine), Sound(singular if one else plural))


def dollars(amount: Decimal, language: str | None) -> tuple[Say, ...]:
    """An amount of money: whole dollars, rounded down (what the caller has at least); a
    positive amount below one dollar is "less than one dollar"; nothing below zero."""
    if 0 < amount < 1:
        return (Sound(LESS_THAN), *count(1, DOLLAR, DOLLARS, language))
    whole = int(amount.to_integral_value(rounding=ROUND_FLOOR)) if amount > 0 else 0
    return count(whole, DOLLAR, DOLLARS, language)


def minutes(n: int, language: str | None) -> tuple[Say, ...]:
    return count(max(n, 0), MINUTE, MINUTES, language)


def balance(credit: Decimal, plan_minutes: int, language: str | None) -> tuple[Say, ...]:
    """The calling card's announcement: "You have N dollars", then "and M minutes" when the
    member has calling-plan minutes."""
    said: tuple[Say, ...] = (Sound(YOU_HAVE), *dollars(credit, language))
    if plan_minutes > 0:
        said += (Sound(AND), *minutes(plan_minutes, language))
    return said


# every file these rules may name (what the sandbox test checks in each language)
SOUNDS = (YOU_HAVE, AND, LESS_THAN, DOLLAR, DOLLARS, MINUTE, MINUTES)
