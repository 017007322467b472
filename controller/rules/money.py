"""The one money rule: what a call from a member's virtual number may spend now, and what a
billable call may hold of it.

An account's money is its calling plans' seconds (each subscription's regional and US & Canada
buckets, usable only by calls from the one number it is enabled on) and its pay-as-you-go
credit (the sum of its credit lots). Calls in progress hold part of it (call_authorizations):
a hold counts while it is neither settled nor expired, except the holds of the asking call's
own tree (its linkedid: the legs of one forwarded call ring as alternatives, they do not add
up). What is left:

- plan seconds: each bucket minus the seconds held on it, a regional hold taking regional
  seconds first and overflowing into US & Canada seconds, exactly as its rating will take them;
- credit: the lots minus all held credit, never below zero, and at most the asking number's
  credit limit minus what that number's calls hold (the limit bounds a number's calls in
  progress together).

A billable call takes plan seconds first (regional and domestic calls only), then credit for
as long as it pays in full, up to its maximum length.

Pure: the callers read the facts (db.billing, db.hotpath) and pass the clock. The SQL function
voip_money_state (migration 0010) sums the same facts inside PostgreSQL for the call-control
hot path; tests/billing/test_money_rule.py fails when its sums and `held` disagree.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from controller.rules.numbers import DialClass
from controller.rules.rating import Rate, affordable_seconds, cost

ZERO = Decimal("0")
BILLABLE_CLASSES = frozenset({DialClass.REGIONAL, DialClass.DOMESTIC, DialClass.INTERNATIONAL})
PLAN_CLASSES = frozenset({DialClass.REGIONAL, DialClass.DOMESTIC})  # international never uses a plan
NO_CREDIT = "no_credit"  # a refusal key of controller.rules.channel_vars.REFUSALS


# ---------------------------------------------------------------------------------------------
# The facts


@dataclass(frozen=True)
class Subscription:
    """An active calling-plan subscription of the account, with its seconds left."""

    id: int
    enabled_virtual_number_id: int | None
    regional_seconds_left: int
    us_canada_seconds_left: int


@dataclass(frozen=True)
class Hold:
    """One call authorization, as far as money goes."""

    id: int
    virtual_number_id: int | None
    call_class: str
    subscription_id: int | None
    plan_seconds: int
    credit: Decimal
    call_group: str | None
    expires_at: dt.datetime
    settled_at: dt.datetime | None = None


@dataclass(frozen=True)
class Held:
    """What the holds that count reserve, as seen by a call from one number."""

    # plan seconds per (subscription id, call class); only positive entries
    plan_seconds: Mapping[tuple[int, str], int] = field(default_factory=dict)
    credit: Decimal = ZERO
    credit_here: Decimal = ZERO  # the part held by calls from the asking number


@dataclass(frozen=True)
class MoneyState:
    """An account's money as a call from one of its numbers sees it."""

    lots_remaining: Decimal  # the sum of the account's credit lots
    subscriptions: tuple[Subscription, ...] = ()  # the account's active ones
    held: Held = Held()
    credit_limit: Decimal | None = None  # the asking number's; None: no limit


# ---------------------------------------------------------------------------------------------
# Holds


def counts(hold: Hold, *, now: dt.datetime, call_group: str | None, exclude: int | None = None) -> bool:
    """Whether `hold` reserves money against a call of tree `call_group` at `now`. A hold
    whose CDR never arrives stops counting when it expires; `exclude` is the hold of the call
    being rated (its own money is not held against it). A hold without a tree is of no tree:
    the "-" stands for "no tree" on the asking side, as voip_money_state's coalesce does."""
    if hold.settled_at is not None or hold.expires_at <= now or hold.id == exclude:
        return False
    return (hold.call_group or "") != ("-" if call_group is None else call_group)


def held(
    holds: Iterable[Hold],
    *,
    now: dt.datetime,
    virtual_number_id: int | None,
    call_group: str | None = None,
    exclude: int | None = None,
) -> Held:
    """What the holds that count reserve, for a call from `virtual_number_id`."""
    plan: dict[tuple[int, str], int] = {}
    credit = credit_here = ZERO
    for h in holds:
        if not counts(h, now=now, call_group=call_group, exclude=exclude):
            continue
        if h.subscription_id is not None and h.plan_seconds > 0:
            key = (h.subscription_id, h.call_class)
            plan[key] = plan.get(key, 0) + h.plan_seconds
        credit += h.credit
        if virtual_number_id is not None and h.virtual_number_id == virtual_number_id:
            credit_here += h.credit
    return Held(plan, credit, credit_here)


# ---------------------------------------------------------------------------------------------
# Plan seconds


def plan_take(call_class: str, seconds: int, regional_left: int, us_canada_left: int) -> tuple[int, int]:
    """(from regional, from US & Canada): how a call's `seconds` come out of a plan's buckets.
    Regional calls use regional seconds, then US & Canada seconds; domestic calls use US &
    Canada seconds only; other calls never use a plan. Never more than a bucket holds."""
    if call_class not in PLAN_CLASSES:
        return 0, 0
    from_regional = min(seconds, regional_left) if call_class == DialClass.REGIONAL else 0
    return from_regional, min(seconds - from_regional, us_canada_left)


def net_of_holds(
    regional_left: int, us_canada_left: int, held_regional: int, held_domestic: int
) -> tuple[int, int]:
    """A plan's buckets minus what open holds reserve, each hold taken as its rating will take
    it (plan_take): a regional hold overflows into US & Canada seconds."""
    from_regional, from_us = plan_take(DialClass.REGIONAL, held_regional, regional_left, us_canada_left)
    regional, us_canada = regional_left - from_regional, us_canada_left - from_us
    return regional, us_canada - plan_take(DialClass.DOMESTIC, held_domestic, regional, us_canada)[1]


@dataclass(frozen=True)
class PlanBalance:
    """One subscription's seconds left on the enabled number, net of open holds."""

    subscription_id: int
    regional_seconds: int
    us_canada_seconds: int

    def seconds_for(self, call_class: str) -> int:
        """The seconds a call of `call_class` may use (plan_take's buckets)."""
        if call_class == DialClass.REGIONAL:
            return self.regional_seconds + self.us_canada_seconds
        if call_class == DialClass.DOMESTIC:
            return self.us_canada_seconds
        return 0


def plan_balances(
    subscriptions: Iterable[Subscription], holds: Held, virtual_number_id: int | None
) -> tuple[PlanBalance, ...]:
    """The subscriptions enabled on `virtual_number_id`, oldest first, net of the plan seconds
    `holds` reserve."""
    plan = holds.plan_seconds
    out = []
    for s in sorted(subscriptions, key=lambda s: s.id):
        if virtual_number_id is None or s.enabled_virtual_number_id != virtual_number_id:
            continue
        regional, us_canada = net_of_holds(
            s.regional_seconds_left,
            s.us_canada_seconds_left,
            plan.get((s.id, DialClass.REGIONAL), 0),
            plan.get((s.id, DialClass.DOMESTIC), 0),
        )
        out.append(PlanBalance(s.id, regional, us_canada))
    return tuple(out)


def plan_for(plans: Iterable[PlanBalance], call_class: str, prefer: int | None = None) -> PlanBalance | None:
    """The subscription a call uses: among those with seconds for its class, the one `prefer`
    names (the subscription its hold took), else the oldest."""
    usable = [p for p in plans if p.seconds_for(call_class) > 0]
    return min(usable, key=lambda p: (p.subscription_id != prefer, p.subscription_id), default=None)


# ---------------------------------------------------------------------------------------------
# Credit and the whole balance


def credit_available(state: MoneyState) -> Decimal:
    """The lots minus held credit, never below zero, capped by the number's credit limit net of
    what its own calls hold."""
    available = max(ZERO, state.lots_remaining - state.held.credit)
    if state.credit_limit is not None:
        available = min(available, max(ZERO, state.credit_limit - state.held.credit_here))
    return available


@dataclass(frozen=True)
class Balance:
    """What a call from one number may use right now."""

    credit: Decimal  # pay-as-you-go credit
    plans: tuple[PlanBalance, ...] = ()

    def plan_seconds(self, call_class: str) -> int:
        return sum(p.seconds_for(call_class) for p in self.plans)


def available(state: MoneyState, virtual_number_id: int | None) -> Balance:
    """What a call from `virtual_number_id` may use now (None: no number, so no plan)."""
    return Balance(credit_available(state), plan_balances(state.subscriptions, state.held, virtual_number_id))


# ---------------------------------------------------------------------------------------------
# What a billable call may hold


def credit_seconds(credit: Decimal, rate: Rate, cap: int) -> int:
    """The longest call (at most `cap`) `credit` pays in full at `rate`: a whole number of
    increments, or `cap`. A free destination needs no credit at all."""
    if cap <= 0:
        return 0
    if cost(cap, rate) == 0:
        return cap
    seconds = affordable_seconds(credit, rate, cap=cap)
    # affordable_seconds can stop an increment short: rate_per_minute / 60 is inexact in
    # Decimal (1.00 at 1.00/min per second gives 59 s); step up while the next one is paid
    inc = max(1, rate.increment_seconds)
    while seconds < cap and cost(min(seconds + inc, cap), rate) <= credit:
        seconds = min(seconds + inc, cap)
    return seconds


@dataclass(frozen=True)
class Grant:
    """What a billable call may hold: its maximum length, the plan seconds (of subscription_id)
    and the credit that length uses. reason is '' when it may go out, else NO_CREDIT."""

    max_seconds: int
    plan_seconds: int = 0
    credit: Decimal = ZERO
    subscription_id: int | None = None
    reason: str = ""


def grant(
    state: MoneyState,
    virtual_number_id: int,
    call_class: str,
    rate: Rate,
    max_seconds: int,
    credit_cap: Decimal | None = None,
    *,
    subscription_id: int | None = None,
) -> Grant:
    """Plan seconds first, then credit for as long as it pays in full, at most `max_seconds`.
    `credit_cap` (None: none) bounds the credit the call may take further: what is left of the
    account's spending limits (controller/rules/limits.py). `subscription_id`: the call's hold
    already took plan seconds of that subscription (a sliced hold's next slice, issue 13), so
    its plan seconds come from that one only (a hold holds on one subscription)."""
    balance = available(state, virtual_number_id)
    plans = balance.plans
    if subscription_id is not None:
        plans = tuple(p for p in plans if p.subscription_id == subscription_id)
    plan = plan_for(plans, call_class)
    plan_seconds = min(plan.seconds_for(call_class), max_seconds) if plan is not None else 0
    credit = balance.credit if credit_cap is None else min(balance.credit, max(ZERO, credit_cap))
    from_credit = credit_seconds(credit, rate, max_seconds - plan_seconds)
    total = plan_seconds + from_credit
    if total <= 0:
        return Grant(0, reason=NO_CREDIT)
    return Grant(
        total,
        plan_seconds,
        cost(from_credit, rate),
        plan.subscription_id if plan is not None else None,
    )
