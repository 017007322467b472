"""Property tests (hypothesis) for controller.rules.rating: the maximum length a credit buys and
the price of a call agree, for any rate deck line."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import example, given, settings
from hypothesis import strategies as st

from controller.rules.money import credit_seconds
from controller.rules.rating import MAX_CALL_SECONDS, Rate, affordable_seconds, billed_seconds, cost
from controller.services.rater import price


def money(max_value: str, places: int):
    return st.decimals(
        min_value=Decimal("0"),
        max_value=Decimal(max_value),
        places=places,
        allow_nan=False,
        allow_infinity=False,
    )


rates = st.builds(
    Rate,
    prefix=st.just("1"),
    rate_per_minute=money("5", 5),
    connect_fee=money("1", 5),
    min_seconds=st.integers(0, 180),
    increment_seconds=st.integers(1, 120),
)
credits = money("100", 4)
caps = st.integers(1, MAX_CALL_SECONDS)


@settings(max_examples=2000, deadline=None)
@given(rate=rates, credit=credits, cap=caps)
def test_affordable_seconds_never_cost_more_than_the_credit(rate, credit, cap):
    seconds = affordable_seconds(credit, rate, cap=cap)
    assert 0 <= seconds <= cap
    assert cost(seconds, rate) <= credit


@settings(max_examples=2000, deadline=None)
@given(rate=rates, credit=credits, cap=caps)
@example(rate=Rate("1", Decimal("1"), Decimal("0"), 0, 1), credit=Decimal("1"), cap=600)
@example(rate=Rate("1", Decimal("0"), Decimal("0"), 0, 1), credit=Decimal("0"), cap=600)
def test_one_more_increment_would_exceed_the_credit_unless_capped(rate, credit, cap):
    seconds = affordable_seconds(credit, rate, cap=cap)
    inc = max(1, rate.increment_seconds)
    if seconds + inc <= cap:
        assert cost(seconds + inc, rate) > credit


@settings(max_examples=3000, deadline=None)
@given(rate=rates, credit=credits, cap=caps)
@example(rate=Rate("1", Decimal("1"), Decimal("0"), 0, 1), credit=Decimal("1"), cap=600)
@example(rate=Rate("1", Decimal("0"), Decimal("0"), 0, 1), credit=Decimal("0"), cap=600)
def test_authorized_length_is_the_longest_the_credit_pays_in_full(rate, credit, cap):
    """controller.rules.money.credit_seconds (what a call holds): never more than the credit,
    and one more increment would exceed it unless the cap is reached."""
    seconds = credit_seconds(credit, rate, cap)
    inc = max(1, rate.increment_seconds)
    assert 0 <= seconds <= cap
    assert cost(seconds, rate) <= credit
    if seconds < cap:
        assert cost(min(seconds + inc, cap), rate) > credit


@settings(max_examples=1000, deadline=None)
@given(rate=rates, credit=credits, cap=caps)
def test_nothing_affordable_means_not_even_the_first_increment(rate, credit, cap):
    if affordable_seconds(credit, rate, cap=cap) == 0:
        assert credit == 0 or cost(1, rate) > credit


@settings(max_examples=1000, deadline=None)
@given(rate=rates, a=st.integers(0, 20000), b=st.integers(0, 20000))
def test_cost_never_decreases_with_duration_and_bills_whole_increments(rate, a, b):
    short, long_ = sorted((a, b))
    assert cost(short, rate) <= cost(long_, rate)
    billed = billed_seconds(long_, rate)
    assert billed >= long_
    if long_ > 0:
        assert billed == rate.min_seconds or billed % max(1, rate.increment_seconds) == 0


@settings(max_examples=1000, deadline=None)
@given(
    rate=rates,
    seconds=st.integers(0, 20000),
    plan=st.integers(0, 20000),
    call_class=st.sampled_from(["R", "D", "I", "N", "E", "T"]),
)
def test_pricing_splits_plan_and_credit_without_losing_a_second(rate, seconds, plan, call_class):
    p = price(call_class, seconds, rate, plan)
    if call_class in ("N", "E", "T"):
        assert p.cost == 0 and p.plan_seconds == 0
        return
    assert 0 <= p.plan_seconds <= min(seconds, plan if call_class != "I" else 0)
    assert p.cost == cost(seconds - p.plan_seconds, rate)
    assert p.call_type == ("P" + call_class if p.plan_seconds and p.plan_seconds == seconds else call_class)
