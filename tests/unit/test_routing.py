"""controller/rules/routing.py: least-cost routing as pure functions, a table of cases (ties,
equal costs, priority, weight, loss refusal and loss allowed, longest prefix per carrier,
attempts, disabled carriers, caller-ID modes)."""

from __future__ import annotations

import random
from decimal import Decimal as D

import pytest

from controller.rules.rating import Rate
from controller.rules.routing import (
    REFUSED_LOSS,
    REFUSED_NO_ROUTE,
    Candidate,
    CarrierProfile,
    RoutingTable,
    caller_id_for,
    dial_string,
    margin,
    route,
)

NUMBER = "12125551234"
SELL = Rate("1", D("0.0200"))  # the member pays 2 cents a minute


def carrier(cid: int, name: str, **kw) -> CarrierProfile:
    return CarrierProfile(cid, name, f"carrier-{name}", **kw)


def buy(prefix: str, per_minute: str, fee: str = "0", min_s: int = 60, inc: int = 60) -> Rate:
    return Rate(prefix, D(per_minute), D(fee), min_s, inc)


def names(table: RoutingTable, sell: Rate | None = SELL, **kw) -> list[str]:
    return [c.name for c in route(table, NUMBER, sell, **kw).candidates]


# (carriers, rates as (carrier_id, Rate), the order expected)
ORDER_CASES = {
    "cheapest rate per minute first": (
        [carrier(1, "a"), carrier(2, "b"), carrier(3, "c")],
        [(1, buy("1", "0.015")), (2, buy("1", "0.010")), (3, buy("1", "0.012"))],
        ["b", "c", "a"],
    ),
    "equal rate: the connect fee of a 60 s call decides": (
        [carrier(1, "a"), carrier(2, "b")],
        [(1, buy("1", "0.010", fee="0.002")), (2, buy("1", "0.010"))],
        ["b", "a"],
    ),
    "equal rate: a 90 s minimum makes the 60 s call dearer": (
        [carrier(1, "a"), carrier(2, "b")],
        [(1, buy("1", "0.010", min_s=90)), (2, buy("1", "0.010", min_s=6, inc=6))],
        ["b", "a"],
    ),
    "rate before connect fee: a cheaper minute wins over a smaller fee": (
        [carrier(1, "a"), carrier(2, "b")],
        [(1, buy("1", "0.011")), (2, buy("1", "0.010", fee="0.005"))],
        ["b", "a"],
    ),
    "equal costs: lower priority first": (
        [carrier(1, "a", priority=5), carrier(2, "b", priority=1), carrier(3, "c", priority=3)],
        [(1, buy("1", "0.010")), (2, buy("1", "0.010")), (3, buy("1", "0.010"))],
        ["b", "c", "a"],
    ),
    "priority only among equal costs": (
        [carrier(1, "a", priority=0), carrier(2, "b", priority=9)],
        [(1, buy("1", "0.011")), (2, buy("1", "0.010"))],
        ["b", "a"],
    ),
    "equal costs and priority: higher weight first": (
        [carrier(1, "a", weight=1), carrier(2, "b", weight=10), carrier(3, "c", weight=5)],
        [(1, buy("1", "0.010")), (2, buy("1", "0.010")), (3, buy("1", "0.010"))],
        ["b", "c", "a"],
    ),
    "a full tie goes by name, whatever the load order": (
        [carrier(3, "zulu"), carrier(1, "mike"), carrier(2, "alpha")],
        [(3, buy("1", "0.010")), (1, buy("1", "0.010")), (2, buy("1", "0.010"))],
        ["alpha", "mike", "zulu"],
    ),
    "each carrier's longest prefix is its price": (
        # a is cheap for "1" but dear for New York (1212); b has only "1"
        [carrier(1, "a"), carrier(2, "b")],
        [(1, buy("1", "0.005")), (1, buy("1212", "0.018")), (2, buy("1", "0.010"))],
        ["b", "a"],
    ),
    "a carrier not reaching the number is no candidate": (
        [carrier(1, "a"), carrier(2, "b")],
        [(1, buy("44", "0.001")), (2, buy("1", "0.010"))],
        ["b"],
    ),
    "a disabled carrier (not in the table's carriers) is absent, its deck ignored": (
        [carrier(2, "b")],
        [(1, buy("1", "0.001")), (2, buy("1", "0.010"))],
        ["b"],
    ),
}


@pytest.mark.parametrize("carriers, rates, expected", ORDER_CASES.values(), ids=ORDER_CASES.keys())
def test_candidates_come_in_cost_then_priority_then_weight_order(carriers, rates, expected):
    table = RoutingTable(carriers, rates)
    assert names(table, max_attempts=10) == expected


def test_the_candidates_carry_their_carriers_settings_and_buy_rate():
    table = RoutingTable(
        [carrier(7, "east", max_channels=30, setup_timeout=5, tech_prefix="99#", caller_id_mode="e164")],
        [(7, Rate("1212", D("0.009"), D("0"), 6, 6, "New York", "US"))],
    )
    (c,) = route(table, NUMBER, SELL).candidates
    assert c == Candidate(
        7,
        "east",
        "carrier-east",
        Rate("1212", D("0.009"), D("0"), 6, 6, "New York", "US"),
        0,
        1,
        30,
        5,
        "99#",
        "e164",
        "",
    )


def test_lookup_gives_each_carriers_longest_matching_rate():
    table = RoutingTable(
        [carrier(1, "a"), carrier(2, "b")],
        [(1, buy("1", "0.01")), (1, buy("121", "0.02")), (2, buy("12125", "0.03")), (2, buy("1", "0.04"))],
    )
    found = table.lookup("+" + NUMBER)
    assert {cid: r.prefix for cid, r in found.items()} == {1: "121", 2: "12125"}
    assert table.lookup("449999") == {} and table.lookup("12a") == {}
    assert len(table) == 4 and table.prefixes() == 3


# (buy rate, loss prefixes, sell rate, candidates left, refused reason)
LOSS_CASES = {
    "buying below the sell price is kept": (buy("1", "0.015"), [], SELL, ["a"], None),
    "buying at the sell price is no loss": (buy("1", "0.020"), [], SELL, ["a"], None),
    "a dearer minute is refused": (buy("1", "0.021"), [], SELL, [], REFUSED_LOSS),
    "same minute, but a connect fee makes 60 s cost more: refused": (
        buy("1", "0.020", fee="0.001"),
        [],
        SELL,
        [],
        REFUSED_LOSS,
    ),
    "a loss prefix of the number allows it": (buy("1", "0.030"), ["1212"], SELL, ["a"], None),
    "the longest loss prefix matching is enough": (buy("1", "0.030"), ["44", "121255"], SELL, ["a"], None),
    "a loss prefix of another number does not": (buy("1", "0.030"), ["1213", "44"], SELL, [], REFUSED_LOSS),
    "a loss prefix longer than the number does not": (
        buy("1", "0.030"),
        [NUMBER + "9"],
        SELL,
        [],
        REFUSED_LOSS,
    ),
    "no sell rate (the admin tool on an unpriced number): nothing is a loss": (
        buy("1", "0.030"),
        [],
        None,
        ["a"],
        None,
    ),
}


@pytest.mark.parametrize("rate, loss, sell, expected, reason", LOSS_CASES.values(), ids=LOSS_CASES.keys())
def test_a_route_buying_above_the_sell_price_is_refused_unless_a_loss_prefix_allows_it(
    rate, loss, sell, expected, reason
):
    table = RoutingTable([carrier(1, "a")], [(1, rate)], loss)
    decision = route(table, NUMBER, sell)
    assert [c.name for c in decision.candidates] == expected
    assert decision.refused_reason == reason
    assert [c.name for c in decision.refused] == ([] if expected else ["a"])


def test_only_the_losing_carriers_are_dropped_and_the_reason_stays_empty():
    table = RoutingTable(
        [carrier(1, "dear"), carrier(2, "cheap"), carrier(3, "fair")],
        [(1, buy("1", "0.050")), (2, buy("1", "0.010")), (3, buy("1", "0.019"))],
    )
    decision = route(table, NUMBER, SELL)
    assert [c.name for c in decision.candidates] == ["cheap", "fair"]
    assert [c.name for c in decision.refused] == ["dear"]
    assert decision.refused_reason is None and not decision.loss_allowed


def test_loss_allowed_argument_overrides_the_tables_loss_prefixes():
    table = RoutingTable([carrier(1, "a")], [(1, buy("1", "0.05"))], ["1"])
    assert route(table, NUMBER, SELL).loss_allowed is True
    assert route(table, NUMBER, SELL, loss_allowed=False).refused_reason == REFUSED_LOSS
    table = RoutingTable([carrier(1, "a")], [(1, buy("1", "0.05"))])
    assert names(table, loss_allowed=True) == ["a"]


@pytest.mark.parametrize(
    "carriers, rates, digits",
    [
        ([], [], NUMBER),  # no carrier at all
        ([carrier(1, "a")], [(1, buy("44", "0.01"))], NUMBER),  # none reaching the number
        ([carrier(1, "a")], [(1, buy("1", "0.01"))], ""),
        ([carrier(1, "a")], [(1, buy("1", "0.01"))], "1212*555"),  # not a number
    ],
)
def test_no_carrier_reaching_the_number_is_no_route(carriers, rates, digits):
    decision = route(RoutingTable(carriers, rates), digits, SELL)
    assert decision.candidates == () and decision.refused_reason == REFUSED_NO_ROUTE


def test_a_carrier_failing_its_qualify_is_left_out_and_all_down_is_no_route():
    table = RoutingTable(
        [carrier(1, "a"), carrier(2, "b"), carrier(3, "c")],
        [(1, buy("1", "0.010")), (2, buy("1", "0.011")), (3, buy("1", "0.012"))],
    )
    # a down carrier gives its place to the next, as a disabled one would (the cap still 2)
    assert names(table, down={"a"}, max_attempts=2) == ["b", "c"]
    assert names(table, down=frozenset({"b", "nobody"})) == ["a", "c"]
    decision = route(table, NUMBER, SELL, down={"a", "b", "c"})
    assert decision.candidates == () and decision.refused_reason == REFUSED_NO_ROUTE


@pytest.mark.parametrize("max_attempts, expected", [(1, 1), (2, 2), (3, 3), (10, 4), (0, 1)])
def test_max_attempts_caps_the_list(max_attempts, expected):
    table = RoutingTable(
        [carrier(i, f"c{i}") for i in range(1, 5)], [(i, buy("1", f"0.01{i}")) for i in range(1, 5)]
    )
    assert names(table, max_attempts=max_attempts) == ["c1", "c2", "c3", "c4"][:expected]


def test_a_seeded_draw_spreads_exact_ties_by_weight_and_repeats_for_the_same_seed():
    table = RoutingTable(
        [carrier(1, "heavy", weight=3), carrier(2, "light", weight=1), carrier(3, "dear", weight=1000)],
        [(1, buy("1", "0.01")), (2, buy("1", "0.01")), (3, buy("1", "0.015"))],
    )
    firsts = [names(table, rng=random.Random(seed))[0] for seed in range(2000)]
    assert 0.70 < firsts.count("heavy") / 2000 < 0.80  # 3 out of 4
    assert all(names(table, rng=random.Random(seed))[2] == "dear" for seed in range(50))  # cost first
    assert names(table, rng=random.Random(42)) == names(table, rng=random.Random(42))


def test_margin_is_the_members_price_minus_the_carriers_as_rated():
    c = route(
        RoutingTable([carrier(1, "a")], [(1, buy("1", "0.012", fee="0.001"))]), NUMBER, SELL
    ).candidates[0]
    assert margin(c, SELL) == D("0.0070")  # per minute: 0.0200 - (0.012 + 0.001)
    assert margin(c, SELL, seconds=120) == D("0.0150")  # 0.0400 - (0.024 + 0.001)
    per_second = Rate("1", D("0.0200"), D("0"), 1, 1)
    assert margin(c, per_second, seconds=30) == D("-0.0030")  # 0.0100 - 0.0130 (60 s minimum)
    decision = route(RoutingTable([carrier(1, "a")], [(1, buy("1", "0.012"))]), NUMBER, SELL)
    assert decision.margin(decision.candidates[0]) == D("0.0080")
    assert route(RoutingTable([carrier(1, "a")], [(1, buy("1", "0.012"))]), NUMBER, None).margin(c) is None


def _candidate(**kw) -> Candidate:
    return Candidate(1, "a", "carrier-a", buy("1", "0.01"), **kw)


@pytest.mark.parametrize(
    "tech_prefix, digits, expected",
    [
        ("", NUMBER, f"PJSIP/{NUMBER}@carrier-a"),
        ("0099#", NUMBER, f"PJSIP/0099#{NUMBER}@carrier-a"),
        ("", "+" + NUMBER, f"PJSIP/{NUMBER}@carrier-a"),
    ],
)
def test_dial_string_puts_the_tech_prefix_before_the_number(tech_prefix, digits, expected):
    assert dial_string(_candidate(tech_prefix=tech_prefix), digits) == expected


@pytest.mark.parametrize("digits", ["", "1212&PJSIP/evil", "1212@other", "12 12", "1212,g"])
def test_dial_string_refuses_anything_that_is_not_a_number(digits):
    with pytest.raises(ValueError):
        dial_string(_candidate(), digits)


@pytest.mark.parametrize(
    "mode, fixed, member, expected",
    [
        ("pass", "", "15551230000", "15551230000"),
        ("pass", "", "4001", "4001"),
        ("e164", "", "15551230000", "+15551230000"),
        ("e164", "", "5551230000", "+15551230000"),  # NANP 10 digits: country code 1 added
        ("e164", "", "+447700900123", "+447700900123"),
        ("e164", "", "447700900123", "+447700900123"),
        ("national", "", "15551230000", "5551230000"),
        ("national", "", "+15551230000", "5551230000"),
        ("national", "", "5551230000", "5551230000"),
        ("national", "", "447700900123", "447700900123"),  # not North American: as digits
        ("fixed", "+18005550100", "15551230000", "+18005550100"),
        ("fixed", "", "15551230000", "15551230000"),  # no fixed number set: the member's
    ],
)
def test_caller_id_follows_the_carriers_mode(mode, fixed, member, expected):
    assert caller_id_for(_candidate(caller_id_mode=mode, caller_id_number=fixed), member) == expected


def test_a_buy_deck_billed_per_minute_is_a_loss_against_a_sell_deck_billed_per_six_seconds():
    """The same rate per minute, billed in coarser steps: a 10-second call costs the operator a
    whole minute and the member 12 seconds. Not only the rate and a 60 s call are compared."""
    table = RoutingTable(
        [
            CarrierProfile(1, "coarse", "carrier-coarse"),
            CarrierProfile(2, "fine", "carrier-fine"),
        ]
    )
    coarse = table.price_hit(1, D("0.0200"), D("0"), 60, 60, "", "")
    fine = table.price_hit(2, D("0.0200"), D("0"), 6, 6, "", "")
    table.put_prefix("1", (coarse, fine))
    table.seal()
    sell = Rate("1", D("0.0200"), D("0"), 6, 6)
    decision = route(table, "12125550100", sell)
    assert [c.name for c in decision.candidates] == ["fine"]
    assert [c.name for c in decision.refused] == ["coarse"]
