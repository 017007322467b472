"""The one money rule (controller.rules.money): what a call may spend now and what it may hold,
as a table of cases and as properties; and the proof that voip_money_state, which sums the
facts inside PostgreSQL for the hot path, reads them as the rule does row by row (the rater's
reading), on states generated in the real billing database."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from controller.rules import money
from controller.rules.money import Balance, Grant, Held, Hold, MoneyState, PlanBalance, Subscription
from controller.rules.numbers import DialClass
from controller.rules.rating import MAX_CALL_SECONDS, Rate, cost

D = Decimal
R, DOM, INTL = DialClass.REGIONAL, DialClass.DOMESTIC, DialClass.INTERNATIONAL
VN, OTHER_VN = 7, 8
US = Rate("1", D("0.0150"), D("0"), 6, 6)  # the billing deck's lines (tests/billing/conftest.py)
UK = Rate("44", D("0.0300"), D("0"), 60, 60)
PREMIUM = Rate("999", D("1.0000"), D("0"), 60, 60)
FREE = Rate("1800", D("0"), D("0"), 0, 1)
NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


def state(lots="0", subs=(), plan=None, credit="0", here="0", limit=None) -> MoneyState:
    return MoneyState(
        D(lots),
        tuple(Subscription(*s) for s in subs),
        Held(plan or {}, D(credit), D(here)),
        None if limit is None else D(limit),
    )


# ---------------------------------------------------------------------------------------------
# What a call may spend now


@pytest.mark.parametrize(
    "money_state, vn, credit, plan_seconds",
    [
        pytest.param(state(), VN, "0", (0, 0, 0), id="nothing"),
        pytest.param(state("10"), VN, "10", (0, 0, 0), id="lots"),
        pytest.param(state("10", credit="3"), VN, "7", (0, 0, 0), id="lots minus held credit"),
        pytest.param(state("2", credit="3"), VN, "0", (0, 0, 0), id="never below zero"),
        pytest.param(state("10", limit="1.50"), VN, "1.50", (0, 0, 0), id="credit limit caps"),
        pytest.param(
            state("10", credit="1", here="1", limit="1.50"),
            VN,
            "0.50",
            (0, 0, 0),
            id="limit net of own holds",
        ),
        pytest.param(
            state("10", credit="1", limit="1.50"),
            VN,
            "1.50",
            (0, 0, 0),
            id="other numbers' holds not on limit",
        ),
        pytest.param(
            state("1", credit="0.5", limit="5"), VN, "0.5", (0, 0, 0), id="lots bind under the limit"
        ),
        pytest.param(state("10", limit="0"), VN, "0", (0, 0, 0), id="zero limit"),
        pytest.param(
            state("10", credit="2", here="2", limit="1"), VN, "0", (0, 0, 0), id="own holds over limit"
        ),
        pytest.param(state("10", subs=[(1, VN, 100, 50)]), None, "10", (0, 0, 0), id="no number: no plan"),
        pytest.param(state(subs=[(1, VN, 100, 50)]), VN, "0", (150, 50, 0), id="regional uses both buckets"),
        pytest.param(state(subs=[(1, OTHER_VN, 100, 50)]), VN, "0", (0, 0, 0), id="plan of another number"),
        pytest.param(
            state(subs=[(1, VN, 100, 50)], plan={(1, "R"): 120}),
            VN,
            "0",
            (30, 30, 0),
            id="regional hold overflows",
        ),
        pytest.param(
            state(subs=[(1, VN, 100, 50)], plan={(1, "D"): 60}),
            VN,
            "0",
            (100, 0, 0),
            id="domestic hold on US only",
        ),
        pytest.param(
            state(subs=[(1, VN, 100, 50)], plan={(1, "R"): 200}),
            VN,
            "0",
            (0, 0, 0),
            id="hold beyond both buckets",
        ),
        pytest.param(
            state(subs=[(1, VN, 100, 50)], plan={(1, "R"): 30, (1, "D"): 40}),
            VN,
            "0",
            (80, 10, 0),
            id="regional and domestic holds",
        ),
        pytest.param(
            state(subs=[(1, VN, 100, 50), (2, VN, 0, 60)], plan={(2, "D"): 60}),
            VN,
            "0",
            (150, 50, 0),
            id="each subscription its own holds",
        ),
        pytest.param(
            state(subs=[(1, VN, 100, 50)], plan={(1, "I"): 60}),
            VN,
            "0",
            (150, 50, 0),
            id="no plan for intl holds",
        ),
    ],
)
def test_what_a_call_may_spend_now(money_state, vn, credit, plan_seconds):
    balance = money.available(money_state, vn)
    assert balance.credit == D(credit)
    assert (balance.plan_seconds(R), balance.plan_seconds(DOM), balance.plan_seconds(INTL)) == plan_seconds


# ---------------------------------------------------------------------------------------------
# What a billable call may hold


@pytest.mark.parametrize(
    "money_state, call_class, rate, max_seconds, expected",
    [
        pytest.param(
            state("0.10", subs=[(1, VN, 0, 120)]),
            DOM,
            US,
            MAX_CALL_SECONDS,
            Grant(516, 120, D("0.0990"), 1),  # 396 s of 0.10 at 0.015/min in 6 s increments
            id="plan seconds first then credit",
        ),
        pytest.param(
            state("0.03", subs=[(1, VN, 600, 600)]),
            INTL,
            UK,
            MAX_CALL_SECONDS,
            Grant(60, 0, D("0.0300")),
            id="international never uses the plan",
        ),
        pytest.param(
            state("0.50"), INTL, PREMIUM, MAX_CALL_SECONDS, Grant(0, reason="no_credit"), id="no credit"
        ),
        pytest.param(
            state("1000"),
            DOM,
            US,
            MAX_CALL_SECONDS,
            Grant(MAX_CALL_SECONDS, 0, D("3.6000")),
            id="four hours at most",
        ),
        pytest.param(state(), DOM, FREE, MAX_CALL_SECONDS, Grant(MAX_CALL_SECONDS), id="free destination"),
        pytest.param(
            state("10", credit="1", here="1", limit="1.50"),
            INTL,
            PREMIUM,
            MAX_CALL_SECONDS,
            Grant(0, reason="no_credit"),
            id="credit limit left less than a minute",
        ),
        pytest.param(state("10"), DOM, US, 0, Grant(0, reason="no_credit"), id="no length asked"),
        pytest.param(
            state(subs=[(1, VN, 0, 99999)]),
            DOM,
            US,
            600,
            Grant(600, 600, D("0"), 1),
            id="plan capped at the length",
        ),
        pytest.param(
            state(subs=[(2, VN, 0, 50), (1, VN, 0, 50)]),
            DOM,
            US,
            600,
            Grant(50, 50, D("0"), 1),
            id="oldest plan",
        ),
        pytest.param(
            state(subs=[(1, VN, 100, 0), (2, VN, 0, 50)]),
            DOM,
            US,
            600,
            Grant(50, 50, D("0"), 2),
            id="a plan without seconds for the class is skipped",
        ),
        pytest.param(
            state(subs=[(1, VN, 100, 50)]),
            R,
            US,
            600,
            Grant(150, 150, D("0"), 1),
            id="regional uses both buckets",
        ),
        pytest.param(
            state("1.00", subs=[(1, VN, 0, 30)], plan={(1, "D"): 30}),
            DOM,
            PREMIUM,
            600,
            Grant(60, 0, D("1.0000")),
            id="held plan seconds are not granted again",
        ),
    ],
)
def test_what_a_billable_call_may_hold(money_state, call_class, rate, max_seconds, expected):
    assert money.grant(money_state, VN, call_class, rate, max_seconds) == expected


def test_the_rater_uses_the_subscription_its_hold_named_else_the_oldest():
    plans = (PlanBalance(1, 0, 10), PlanBalance(2, 0, 10), PlanBalance(3, 0, 0))
    assert money.plan_for(plans, DOM).subscription_id == 1
    assert money.plan_for(plans, DOM, prefer=2).subscription_id == 2
    assert money.plan_for(plans, DOM, prefer=3).subscription_id == 1  # no seconds left on it
    assert money.plan_for(plans, INTL) is None


# ---------------------------------------------------------------------------------------------
# Which holds count


def hold(
    group=None, *, expires=NOW + dt.timedelta(minutes=5), settled=None, id=1, vn=VN, sub=None, secs=0, cr="1"
):
    return Hold(id, vn, "D", sub, secs, D(cr), group, expires, settled)


@pytest.mark.parametrize(
    "h, call_group, exclude, counted",
    [
        pytest.param(hold("g2"), "g1", None, True, id="another call tree"),
        pytest.param(hold("g1"), "g1", None, False, id="the same call tree"),
        pytest.param(hold("g1", settled=NOW), "g2", None, False, id="settled"),
        pytest.param(hold("g1", expires=NOW), "g2", None, False, id="expires now"),
        pytest.param(hold("g1", expires=NOW - dt.timedelta(seconds=1)), "g2", None, False, id="expired"),
        pytest.param(hold("g1", id=5), "g2", 5, False, id="the rated call's own"),
        pytest.param(hold(None), None, None, True, id="no tree on either side"),
        pytest.param(hold("g1"), None, None, True, id="asked without a tree"),
        pytest.param(hold("-"), None, None, False, id="a '-' tree is the no-tree ask's"),
        pytest.param(hold(""), "", None, False, id="empty trees are one tree"),
        pytest.param(hold(None), "", None, False, id="no tree is the empty tree"),
    ],
)
def test_which_holds_count(h, call_group, exclude, counted):
    assert money.counts(h, now=NOW, call_group=call_group, exclude=exclude) is counted
    expected = Held({}, D(h.credit), D(h.credit)) if counted else Held()
    assert money.held([h], now=NOW, virtual_number_id=VN, call_group=call_group, exclude=exclude) == expected


def test_held_sums_plan_seconds_per_subscription_and_class_and_credit_per_number():
    holds = [
        hold(id=1, sub=1, secs=30, cr="0.5"),
        hold(id=2, sub=1, secs=20, cr="0.25", vn=OTHER_VN),
        hold(id=3, sub=None, secs=10, cr="1"),  # plan seconds without a plan are not plan seconds
        dataclasses.replace(hold(id=4, sub=1, secs=40, cr="0"), call_class="R"),
    ]
    assert money.held(holds, now=NOW, virtual_number_id=VN) == Held(
        {(1, "D"): 50, (1, "R"): 40}, D("1.75"), D("1.5")
    )
    assert money.held(holds, now=NOW, virtual_number_id=None).credit_here == 0


# ---------------------------------------------------------------------------------------------
# Properties

seconds = st.integers(0, 20_000)
amounts = st.decimals(min_value=D("0"), max_value=D("50"), places=4, allow_nan=False, allow_infinity=False)
rates = st.builds(
    Rate,
    prefix=st.just("1"),
    rate_per_minute=st.decimals(min_value=D("0"), max_value=D("2"), places=4),
    connect_fee=st.decimals(min_value=D("0"), max_value=D("0.5"), places=4),
    min_seconds=st.integers(0, 120),
    increment_seconds=st.integers(1, 60),
)


@st.composite
def money_states(draw) -> MoneyState:
    subs = draw(
        st.lists(st.tuples(st.integers(1, 4), st.sampled_from([VN, OTHER_VN, None]), seconds, seconds))
    )
    subs = list({s[0]: s for s in subs}.values())  # one row per id
    plan = draw(st.dictionaries(st.tuples(st.integers(1, 4), st.sampled_from("RDI")), st.integers(1, 20_000)))
    credit = draw(amounts)
    return MoneyState(
        draw(amounts),
        tuple(Subscription(*s) for s in subs),
        Held(plan, credit, draw(st.decimals(min_value=D("0"), max_value=credit, places=4))),
        draw(st.none() | amounts),
    )


def with_hold(s: MoneyState, call_class: str, g: Grant) -> MoneyState:
    """`s` once the grant `g` is held by another call from the same number."""
    plan = dict(s.held.plan_seconds)
    if g.subscription_id is not None and g.plan_seconds:
        key = (g.subscription_id, call_class)
        plan[key] = plan.get(key, 0) + g.plan_seconds
    held = Held(plan, s.held.credit + g.credit, s.held.credit_here + g.credit)
    return dataclasses.replace(s, held=held)


@settings(max_examples=500, deadline=None)
@given(s=money_states())
def test_credit_available_is_never_negative_nor_above_lots_or_limit(s):
    credit = money.credit_available(s)
    assert 0 <= credit <= max(D(0), s.lots_remaining - s.held.credit)
    if s.credit_limit is not None:
        assert credit <= max(D(0), s.credit_limit - s.held.credit_here)


@settings(max_examples=500, deadline=None)
@given(
    s=money_states(),
    call_class=st.sampled_from([R, DOM, INTL]),
    rate=rates,
    cap=st.integers(0, MAX_CALL_SECONDS),
)
def test_a_grant_never_exceeds_what_is_available(s, call_class, rate, cap):
    balance = money.available(s, VN)
    g = money.grant(s, VN, call_class, rate, cap)
    assert 0 <= g.max_seconds <= max(cap, 0)
    assert (g.reason == "no_credit") == (g.max_seconds == 0)
    assert g.plan_seconds <= balance.plan_seconds(call_class)
    assert g.credit == cost(g.max_seconds - g.plan_seconds, rate) <= balance.credit
    if call_class == INTL:
        assert g.plan_seconds == 0 and g.subscription_id is None


@settings(max_examples=500, deadline=None)
@given(s=money_states(), call_class=st.sampled_from([R, DOM, INTL]), rate=rates, cap=st.integers(1, 3600))
def test_two_calls_never_hold_the_same_money_twice(s, call_class, rate, cap):
    """The second call sees the first one's hold: together they hold no more than there was."""
    before = money.available(s, VN)
    first = money.grant(s, VN, call_class, rate, cap)
    second = money.grant(with_hold(s, call_class, first), VN, call_class, rate, cap)
    assert first.credit + second.credit <= before.credit
    assert first.plan_seconds + second.plan_seconds <= before.plan_seconds(call_class)


@settings(max_examples=3000, deadline=None)
@given(r=seconds, u=seconds, held_regional=seconds, held_domestic=seconds)
@example(r=100, u=50, held_regional=200, held_domestic=0)
def test_net_of_holds_is_the_buckets_minus_the_overflowing_holds(r, u, held_regional, held_domestic):
    """The closed form the rule always had: a regional hold takes regional seconds first and
    overflows into US & Canada seconds; a domestic hold takes US & Canada seconds."""
    from_regional = min(held_regional, r)
    overflow = held_regional - from_regional
    assert money.net_of_holds(r, u, held_regional, held_domestic) == (
        max(0, r - from_regional),
        max(0, u - held_domestic - overflow),
    )


@settings(max_examples=2000, deadline=None)
@given(
    r=seconds, u=seconds, held_r=seconds, held_d=seconds, call_class=st.sampled_from([R, DOM]), data=st.data()
)
def test_holding_seconds_of_a_plan_takes_exactly_those_seconds(r, u, held_r, held_d, call_class, data):
    """Holding s seconds a call may use leaves exactly s fewer for the next call of its class."""
    before = PlanBalance(1, *money.net_of_holds(r, u, held_r, held_d)).seconds_for(call_class)
    assume(before > 0)
    s = data.draw(st.integers(1, before))
    more_r, more_d = (s, 0) if call_class == R else (0, s)
    after = PlanBalance(1, *money.net_of_holds(r, u, held_r + more_r, held_d + more_d)).seconds_for(
        call_class
    )
    assert after == before - s


@settings(max_examples=2000, deadline=None)
@given(call_class=st.sampled_from([R, DOM, INTL, "N", "E", "T"]), s=seconds, r=seconds, u=seconds)
def test_plan_take_never_takes_more_than_a_bucket_holds_nor_from_a_call_without_plan(call_class, s, r, u):
    from_regional, from_us = money.plan_take(call_class, s, r, u)
    assert 0 <= from_regional <= r and 0 <= from_us <= u and from_regional + from_us <= s
    if call_class not in (R, DOM):
        assert (from_regional, from_us) == (0, 0)
    elif call_class == DOM:
        assert from_regional == 0
    if call_class in (R, DOM):
        assert from_regional + from_us == min(s, PlanBalance(1, r, u).seconds_for(call_class))


def test_balance_plan_seconds_sum_over_the_numbers_plans():
    assert Balance(D(0), (PlanBalance(1, 10, 20), PlanBalance(2, 0, 5))).plan_seconds(R) == 35


# ---------------------------------------------------------------------------------------------
# voip_money_state (SQL) against the rule's own reading, on the real billing database

GROUPS = [None, "", "-", "g1", "g2"]
money_4 = st.decimals(min_value=D("0"), max_value=D("5"), places=4, allow_nan=False, allow_infinity=False)
db_states = st.fixed_dictionaries(
    {
        "lots": st.lists(st.tuples(money_4.filter(lambda d: d > 0), st.integers(0, 100)), max_size=3),
        "limits": st.tuples(st.none() | money_4, st.none() | money_4),
        "subs": st.lists(
            st.tuples(st.sampled_from([0, 1, None]), st.integers(0, 600), st.integers(0, 600), st.booleans()),
            max_size=3,
        ),
        "holds": st.lists(
            st.tuples(
                st.sampled_from([0, 1, None]),  # the number (ours, our other one, none)
                st.sampled_from("RDI"),
                st.integers(0, 3),  # the subscription (index; past the end: none)
                st.integers(0, 300),
                money_4,
                st.sampled_from(GROUPS),
                st.sampled_from(["open", "expired", "expires now", "settled"]),
                st.booleans(),  # on another account (never counts)
            ),
            max_size=8,
        ),
        "ask": st.tuples(st.sampled_from([0, 1]), st.sampled_from(GROUPS)),
    }
)


@pytest.fixture()
def accounts(bfactory, member):
    """Our account with two numbers, another account with one, and a plan to subscribe to."""
    from db import accounts as account_service
    from db.models import Account, CallingPlan
    from db.session import transaction
    from tests.support.realparts import unique_number

    ours, theirs = member(), member()
    with transaction(bfactory) as s:
        other = account_service.add_virtual_number(
            s, s.get(Account, ours.account_id), unique_number("1700"), realm="test"
        )
        plan = CallingPlan(name=f"money rule plan {ours.account_id}")
        s.add(plan)
        s.flush()
        return ours, other.id, theirs, plan.id


def every_edge(ask_vn: int, ask_group: str | None) -> dict:
    """One hold of each tree and of each status, each with its own amount, so that a hold
    counted on one side only changes the sums."""
    holds = [(0, "R", 0, 10, D(1) / 2**i, group, "open", False) for i, group in enumerate(GROUPS)]
    holds += [
        (1, "D", 1, 20, D("0.0100"), None, status, False) for status in ("expired", "expires now", "settled")
    ]
    holds += [
        (None, "D", 3, 40, D("0.0200"), "g1", "open", False),
        (0, "R", 0, 80, D("0.0400"), None, "open", True),
    ]
    return {
        "lots": [(D("5"), 100), (D("1"), 50), (D("2"), 0)],
        "limits": (D("1.5"), None),
        "subs": [(0, 100, 50, True), (1, 30, 30, True), (0, 600, 600, False)],
        "holds": holds,
        "ask": (ask_vn, ask_group),
    }


def _edges(test):
    for ask_vn in (0, 1):
        for group in GROUPS:
            test = example(facts=every_edge(ask_vn, group))(test)
    return test


@_edges
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(facts=db_states)
def test_voip_money_state_reads_the_money_as_the_rule_does(bfactory, accounts, facts):
    from db import billing

    ours, other_vn, theirs, plan_id = accounts
    numbers = [ours.vn_id, other_vn]
    with bfactory() as s:
        try:
            for vn, limit in zip(numbers, facts["limits"], strict=True):
                s.execute(
                    text("UPDATE virtual_numbers SET credit_limit = :l WHERE id = :vn"),
                    {"l": limit, "vn": vn},
                )
            for original, percent_left in facts["lots"]:
                s.execute(
                    text(
                        "INSERT INTO credit_lots (account_id, original, remaining, source)"
                        " VALUES (:a, :o, :left, 'admin')"
                    ),
                    {
                        "a": ours.account_id,
                        "o": original,
                        "left": (original * percent_left / 100).quantize(D("0.0001")),
                    },
                )
            sub_ids = [
                s.scalar(
                    text(
                        "INSERT INTO plan_subscriptions (account_id, plan_id, enabled_virtual_number_id,"
                        " renew_date, regional_seconds_left, us_canada_seconds_left, active)"
                        " VALUES (:a, :p, :vn, '2027-01-01', :r, :u, :active) RETURNING id"
                    ),
                    {
                        "a": ours.account_id,
                        "p": plan_id,
                        "vn": None if on is None else numbers[on],
                        "r": r,
                        "u": u,
                        "active": active,
                    },
                )
                for on, r, u, active in facts["subs"]
            ]
            for on, call_class, sub, plan_seconds, credit, group, status, elsewhere in facts["holds"]:
                s.execute(
                    text(
                        "INSERT INTO call_authorizations (uniqueid, account_id, virtual_number_id, call_class,"
                        " dialed, max_seconds, plan_subscription_id, held_plan_seconds, held_credit,"
                        " call_group, expires_at, settled_at) VALUES ('m', :a, :vn, :cc, '1', 60, :sub, :p,"
                        " :cr, :g, now() + make_interval(secs => :ttl), CASE WHEN :settled THEN now() END)"
                    ),
                    {
                        "a": theirs.account_id if elsewhere else ours.account_id,
                        "vn": theirs.vn_id if elsewhere else (None if on is None else numbers[on]),
                        "cc": call_class,
                        "sub": None if elsewhere or sub >= len(sub_ids) else sub_ids[sub],
                        "p": plan_seconds,
                        "cr": credit,
                        "g": group,
                        "ttl": {"open": 600, "expired": -1, "expires now": 0, "settled": 600}[status],
                        "settled": status == "settled",
                    },
                )
            asking, group = numbers[facts["ask"][0]], facts["ask"][1]

            owner, by_sql = billing.money_state(s, ours.account_id, asking, group)
            locked = billing.lock_accounts(s, [ours.account_id])  # the rater's reading
            by_rows = MoneyState(
                locked.lots_remaining(ours.account_id),
                tuple(
                    Subscription(
                        x.id, x.enabled_virtual_number_id, x.regional_seconds_left, x.us_canada_seconds_left
                    )
                    for x in locked.subscriptions.values()
                ),
                money.held(
                    billing.open_holds(s, ours.account_id),
                    now=locked.now,
                    virtual_number_id=asking,
                    call_group=group,
                ),
                s.scalar(text("SELECT credit_limit FROM virtual_numbers WHERE id = :vn"), {"vn": asking}),
            )
            assert owner == ours.account_id
            assert by_sql == by_rows
            assert money.available(by_sql, asking) == money.available(by_rows, asking)
            # what the panel and the calling card show, and the plans the rater prices on
            without_tree = billing.money_state(s, ours.account_id, asking)[1]
            assert billing.available_balance(s, ours.account_id, asking) == money.available(
                without_tree, asking
            )
            assert (
                billing.plan_balances(s, locked, ours.account_id, asking)
                == money.available(without_tree, asking).plans
            )
        finally:
            s.rollback()
