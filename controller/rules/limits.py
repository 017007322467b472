"""Spending limits and fraud controls: what an account's and a number's limits allow a billable
call, given what the account spent and holds today (docs/fraud.md, "Spending limits and controls").

The limits (Limits) are the member's own values within the operator's ceilings, with the
settings' defaults where neither set one (`effective_cap`, `allowed_countries`); the facts
(LimitFacts) are what the outbound decision's one statement sums (db/calls.py LIMIT_SELECT,
migration 0018). Each check returns a Verdict whose reason is a key of channel_vars.REFUSALS; the money
a call may still take under the caps (`credit_cap`) is handed to the one money rule
(money.grant's `credit_cap`), so a hold never reserves more than a cap leaves.

Pure: no clock, no settings, no I/O; the caller passes the defaults and the facts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from controller.rules.decisions import ALLOW, Verdict
from controller.rules.numbers import DialClass

ZERO = Decimal("0")

# refusal reasons (keys of channel_vars.REFUSALS), also fraud_events.kind
DAILY_CAP = "daily_cap"
INTL_DAILY_CAP = "intl_daily_cap"
NUMBER_DAILY_LIMIT = "number_daily_limit"
COUNTRY_NOT_ALLOWED = "country_not_allowed"
RATE_TOO_HIGH = "rate_too_high"
TOO_MANY_CALLS = "too_many_calls"
PREMIUM_BLOCKED = "premium_blocked"
VELOCITY_TRIPPED = "velocity_tripped"
REASONS = (
    DAILY_CAP,
    INTL_DAILY_CAP,
    NUMBER_DAILY_LIMIT,
    COUNTRY_NOT_ALLOWED,
    RATE_TOO_HIGH,
    TOO_MANY_CALLS,
    PREMIUM_BLOCKED,
    VELOCITY_TRIPPED,
)


def effective_cap(member: Decimal | None, ceiling: Decimal | None, default: Decimal) -> Decimal:
    """A cap as it applies: the member's value, never above the operator's ceiling (the
    setting's default when the operator set none)."""
    top = default if ceiling is None else ceiling
    return top if member is None else min(member, top)


def allowed_countries(member: Iterable[str] | None, operator: Iterable[str] | None) -> frozenset[str] | None:
    """The countries an account may call: the member's list within the operator's allowance
    (None: no list, every country)."""
    if operator is None:
        return None if member is None else frozenset(member)
    allowance = frozenset(operator)
    return allowance if member is None else allowance & frozenset(member)


def parse_countries(text: str) -> tuple[list[str], list[str]]:
    """A list as people type it ("US, ca fr"): (the ISO codes, upper case, without repeats,
    in order; the entries that are not two letters)."""
    good: list[str] = []
    bad: list[str] = []
    for item in text.replace(",", " ").replace(";", " ").split():
        code = item.strip().upper()
        if len(code) == 2 and code.isascii() and code.isalpha():
            if code not in good:
                good.append(code)
        else:
            bad.append(item[:20])
    return good, bad


@dataclass(frozen=True)
class Limits:
    """The limits that apply to a call from one number (effective values)."""

    daily_cap: Decimal
    intl_daily_cap: Decimal
    number_daily_limit: Decimal | None = None  # the number's call credit limit, per day
    countries: frozenset[str] | None = None  # the account's (None: every country)
    number_countries: frozenset[str] | None = None  # the number's (None: the account's)
    max_rate: Decimal | None = None  # per minute; None: no limit
    max_concurrent: int = 0  # calls of the account in progress at once; 0: no limit
    number_max_concurrent: int = 0
    premium_opt_in: bool = False
    premium_prefixes: tuple[str, ...] = ()  # the high-cost ranges matching the dialed number
    velocity_intl_attempts: int = 0  # 0: no attempts rule
    velocity_amount: Decimal | None = None  # None: no amount rule
    velocity_minutes: int = 10
    tripped_at: dt.datetime | None = None
    tripped_reason: str = ""


@dataclass(frozen=True)
class LimitFacts:
    """What the account spent and holds (db/calls.py LIMIT_SELECT): credit charged today in the
    account's time zone, credit held by the open holds of other call trees, the other call
    trees in progress, and what happened in the velocity window."""

    charged_today: Decimal = ZERO
    charged_today_intl: Decimal = ZERO
    charged_today_here: Decimal = ZERO  # by the asking number
    held: Decimal = ZERO
    held_intl: Decimal = ZERO
    held_here: Decimal = ZERO
    open_calls: int = 0
    open_calls_here: int = 0
    window_intl_attempts: int = 0
    window_spent: Decimal = ZERO

    @classmethod
    def from_parts(
        cls,
        charges: Sequence[Decimal] | None,
        calls: Sequence[int] | None,
        attempts: int | None,
        held: tuple[Decimal, Decimal, Decimal] = (ZERO, ZERO, ZERO),
    ) -> LimitFacts:
        """From the decision statement's columns (db/calls.py LIMIT_SELECT): the charges (today,
        today international, today by the number, in the window), the other call trees in
        progress (the account's, the number's; None: not counted), the window's international
        attempts, and `held`: the credit the open holds of other calls reserve (all,
        international, by the number), from the money state. What the open holds reserve
        counts as spent in the window too (they are the calls in progress)."""
        c = charges or (ZERO, ZERO, ZERO, ZERO)
        n = calls or (0, 0)
        return cls(
            c[0],
            c[1],
            c[2],
            held[0],
            held[1],
            held[2],
            int(n[0]),
            int(n[1]),
            int(attempts or 0),
            c[3] + held[0],
        )


@dataclass(frozen=True)
class Left:
    """What is left today under each cap (None: that cap does not apply)."""

    daily: Decimal
    intl: Decimal | None
    number: Decimal | None


def left_today(limits: Limits, facts: LimitFacts, call_class: str) -> Left:
    """Cap minus (charged today + credit held by the other calls in progress), never below 0."""
    daily = max(ZERO, limits.daily_cap - facts.charged_today - facts.held)
    intl = None
    if call_class == DialClass.INTERNATIONAL:
        intl = max(ZERO, limits.intl_daily_cap - facts.charged_today_intl - facts.held_intl)
    number = None
    if limits.number_daily_limit is not None:
        number = max(ZERO, limits.number_daily_limit - facts.charged_today_here - facts.held_here)
    return Left(daily, intl, number)


def credit_cap(limits: Limits, facts: LimitFacts, call_class: str) -> tuple[Decimal, str]:
    """The credit a call may still take under the caps, and the refusal reason of the cap
    that binds (when the call gets nothing from credit because of it)."""
    left = left_today(limits, facts, call_class)
    cap, reason = left.daily, DAILY_CAP
    if left.intl is not None and left.intl < cap:
        cap, reason = left.intl, INTL_DAILY_CAP
    if left.number is not None and left.number < cap:
        cap, reason = left.number, NUMBER_DAILY_LIMIT
    return cap, reason


def is_premium(digits: str, prefixes: Iterable[str]) -> bool:
    return any(digits.startswith(p) for p in prefixes)


def velocity_exceeded(limits: Limits, facts: LimitFacts, call_class: str) -> str:
    """Why this attempt trips the velocity rule ('' when it does not): it would be one more
    international attempt than allowed in the window, or the window's spending is over."""
    if (
        call_class == DialClass.INTERNATIONAL
        and limits.velocity_intl_attempts > 0
        and facts.window_intl_attempts >= limits.velocity_intl_attempts
    ):
        return (
            f"more than {limits.velocity_intl_attempts} international calls "
            f"in {limits.velocity_minutes} minutes"
        )
    if limits.velocity_amount is not None and facts.window_spent > limits.velocity_amount:
        return f"more than ${limits.velocity_amount} spent in {limits.velocity_minutes} minutes"
    return ""


@dataclass(frozen=True)
class Screen:
    """A billable call's verdict under the limits; `trip` is the velocity rule's reason when
    this attempt trips it (the account is then stopped until the operator lifts it)."""

    verdict: Verdict
    trip: str = ""


def screen(limits: Limits, facts: LimitFacts, call_class: str, digits: str, country: str) -> Screen:
    """Before the rate is known: the tripped velocity rule, premium ranges, the country
    allow-lists, the concurrent-call limits, then whether this attempt trips the velocity rule."""
    if limits.tripped_at is not None:
        return Screen(
            Verdict(False, VELOCITY_TRIPPED, f"billable calls stopped: {limits.tripped_reason}".strip())
        )
    if not limits.premium_opt_in and is_premium(digits, limits.premium_prefixes):
        return Screen(Verdict(False, PREMIUM_BLOCKED, f"{digits} is a premium-rate number"))
    if call_class == DialClass.INTERNATIONAL:
        for countries, whose in ((limits.countries, "account"), (limits.number_countries, "number")):
            if countries is not None and country not in countries:
                return Screen(
                    Verdict(
                        False, COUNTRY_NOT_ALLOWED, f"{country or 'unknown'} is not on the {whose}'s list"
                    )
                )
    if limits.max_concurrent > 0 and facts.open_calls >= limits.max_concurrent:
        return Screen(Verdict(False, TOO_MANY_CALLS, f"{facts.open_calls} calls in progress on the account"))
    if limits.number_max_concurrent > 0 and facts.open_calls_here >= limits.number_max_concurrent:
        return Screen(
            Verdict(False, TOO_MANY_CALLS, f"{facts.open_calls_here} calls in progress on the number")
        )
    why = velocity_exceeded(limits, facts, call_class)
    if why:
        return Screen(Verdict(False, VELOCITY_TRIPPED, f"billable calls stopped: {why}"), trip=why)
    return Screen(ALLOW)


def rate_allowed(limits: Limits, rate_per_minute: Decimal) -> Verdict:
    """The maximum per-minute rate: a destination dearer than it is refused."""
    if limits.max_rate is not None and rate_per_minute > limits.max_rate:
        return Verdict(False, RATE_TOO_HIGH, f"rate {rate_per_minute}/min is above {limits.max_rate}/min")
    return ALLOW


def lower_cap(value: Decimal, ceiling: Decimal) -> str:
    """Why a member's new cap is refused ('' when fine): negative, or above the ceiling."""
    if value < 0:
        return "negative"
    if value > ceiling:
        return "above_ceiling"
    return ""
