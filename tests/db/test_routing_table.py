"""The routing table on the real PostgreSQL: the controller's cache (agi/routing_table.py) loads
every enabled carrier's buy deck and the loss prefixes, picks up a change at its next check
while calls keep the table they had, and the admin's "route this number"
(db.routing.route_number, SQL for one number) answers exactly as the cache does.

These tests own the carriers: they run on a database of their own (derived from the run's
settings, as the billing tests do), so no carrier of theirs ever routes another test's calls
and "no carrier configured" can be tested."""

from __future__ import annotations

import asyncio
import random
import time
from decimal import Decimal

import pytest
from sqlalchemy import text

from agi.routing_table import RoutingTableCache
from controller.rules.rating import Rate
from controller.rules.routing import REFUSED_LOSS, CarrierProfile, RoutingTable, route
from db import hotpath, routing
from db.rates import import_deck
from tests.support.realparts import scratch_database

D = Decimal
NY = "12125551234"


@pytest.fixture(scope="module")
def routing_db(settings):
    with scratch_database(settings, "_routing") as scratch:
        yield scratch


@pytest.fixture(scope="module")
def rfactory(routing_db):
    from db.session import make_engine, session_factory, transaction

    engine = make_engine(routing_db)
    made = session_factory(engine)
    with transaction(made) as s:  # the member's sell deck
        import_deck(
            s,
            "routing tests",
            [
                ("1", "US/Canada", "US", D("0.0200"), D("0"), 6, 6),
                ("1212", "New York", "US", D("0.0150"), D("0"), 6, 6),
                ("44", "United Kingdom", "GB", D("0.0300"), D("0"), 60, 60),
                ("447", "UK mobile", "GB", D("0.1000"), D("0"), 60, 60),
            ],
        )
    yield made
    engine.dispose()


@pytest.fixture()
def clean(rfactory):
    """No carrier, deck or loss prefix before each test."""
    from db.session import transaction

    with transaction(rfactory) as s:
        s.execute(text("DELETE FROM loss_prefixes"))
        s.execute(text("DELETE FROM carriers"))  # their decks go with them (ON DELETE CASCADE)
    return rfactory


@pytest.fixture()
async def pg(routing_db):
    db = hotpath.HotDB(routing_db, max_size=2)
    await db.open()
    yield db
    await db.close()


def add_carrier(s, name: str, deck: list[tuple[str, str]], **kw) -> int:
    """A carrier and its buy deck of (prefix, rate per minute)."""
    cols = {"name": name, "host": f"{name}.example.net", **kw}
    carrier_id = s.execute(
        text(
            f"INSERT INTO carriers ({', '.join(cols)}) VALUES ({', '.join(':' + k for k in cols)}) RETURNING id"
        ),
        cols,
    ).scalar_one()
    for prefix, rate in deck:
        s.execute(
            text("INSERT INTO carrier_rates (carrier_id, prefix, rate_per_minute) VALUES (:c, :p, :r)"),
            {"c": carrier_id, "p": prefix, "r": D(rate)},
        )
    return carrier_id


def names(decision) -> list[str]:
    return [c.name for c in decision.candidates]


async def test_no_enabled_carrier_keeps_the_default_trunk(clean, pg):
    from db.session import transaction

    with transaction(clean) as s:
        add_carrier(s, "off", [("1", "0.001")], enabled=False)
    cache = RoutingTableCache(pg)
    assert await cache.route(NY, Rate("1", D("0.02"))) is None
    with clean() as s:
        assert routing.route_number(s, NY) == (Rate("1212", D("0.015"), D("0"), 6, 6, "New York", "US"), None)


async def test_the_cache_loads_the_enabled_carriers_decks_and_loss_prefixes(clean, pg):
    from db.session import transaction

    with transaction(clean) as s:
        a = add_carrier(s, "alpha", [("1", "0.012"), ("1212", "0.016")], priority=1, tech_prefix="77#")
        add_carrier(s, "bravo", [("1", "0.010"), ("44", "0.020")], caller_id_mode="national")
        add_carrier(s, "charlie", [("1", "0.012")], priority=0)
        add_carrier(s, "delta", [("1", "0.001")], enabled=False)
        s.execute(text("INSERT INTO loss_prefixes (prefix, note) VALUES ('4479', 'test')"))
    cache = RoutingTableCache(pg)
    sell_us = Rate("1", D("0.0200"))
    decision = await cache.route("15551230000", sell_us)
    assert names(decision) == ["bravo", "charlie", "alpha"]  # delta is disabled
    first = decision.candidates[0]
    assert (first.endpoint, first.caller_id_mode, first.buy.rate_per_minute) == (
        "carrier-bravo",
        "national",
        D("0.01"),
    )
    assert decision.candidates[2].carrier_id == a and decision.candidates[2].tech_prefix == "77#"
    # New York: alpha's longest prefix is dearer than the member's 0.015 a minute there
    ny = await cache.route(NY, Rate("1212", D("0.0150")))
    assert names(ny) == ["bravo", "charlie"] and [c.name for c in ny.refused] == ["alpha"]
    # UK mobile: only bravo, buying 0.020 above a 0.010 sell: refused, unless on 4479
    assert (await cache.route("447700900123", Rate("447", D("0.0100")))).refused_reason == REFUSED_LOSS
    allowed = await cache.route("447900900123", Rate("447", D("0.0100")))
    assert names(allowed) == ["bravo"] and allowed.loss_allowed
    assert (await cache.route("33123456789", sell_us)).refused_reason == "no_route"


async def test_calls_giving_up_on_the_first_load_do_not_cancel_it_nor_start_another(clean, pg, monkeypatch):
    from db.session import transaction

    with transaction(clean) as s:
        add_carrier(s, "alpha", [("1", "0.010")])
    cache = RoutingTableCache(pg)
    loads = []
    real_load = cache._load

    def counted_load():
        loads.append(1)
        time.sleep(0.3)  # a big table takes seconds
        return real_load()

    monkeypatch.setattr(cache, "_load", counted_load)
    sell = Rate("1", D("0.0200"))
    for _ in range(3):  # the call path waits DB_TIMEOUT at most, then fails closed
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(cache.route(NY, sell), 0.05)
    assert names(await cache.route(NY, sell)) == ["alpha"]
    assert len(loads) == 1


async def test_a_change_is_picked_up_at_the_next_check_while_calls_keep_the_table_they_had(clean, pg):
    from db.session import transaction

    with transaction(clean) as s:
        add_carrier(s, "alpha", [("1", "0.010")])
        add_carrier(s, "bravo", [("1", "0.012")])
    sell = Rate("1", D("0.0200"))
    cache = RoutingTableCache(pg, check_seconds=0.0)
    assert names(await cache.route(NY, sell)) == ["alpha", "bravo"]

    # a deck import as the admin does it: the carrier's deck replaced, updated_at bumped
    with transaction(clean) as s:
        s.execute(
            text(
                "DELETE FROM carrier_rates WHERE carrier_id = (SELECT id FROM carriers WHERE name = 'alpha')"
            )
        )
        s.execute(
            text(
                "INSERT INTO carrier_rates (carrier_id, prefix, rate_per_minute)"
                " SELECT id, '1', 0.015 FROM carriers WHERE name = 'alpha'"
            )
        )
        s.execute(text("UPDATE carriers SET updated_at = now() WHERE name = 'alpha'"))
    during = await cache.route(NY, sell)  # starts the check in the background
    assert names(during) == ["alpha", "bravo"]  # the table it had
    await asyncio.wait_for(cache._refresh, 10)
    assert names(await cache.route(NY, sell)) == ["bravo", "alpha"]

    # disabling a carrier
    with transaction(clean) as s:
        s.execute(text("UPDATE carriers SET enabled = false, updated_at = now() WHERE name = 'bravo'"))
    await cache.check_now()
    assert names(await cache.route(NY, sell)) == ["alpha"]

    # a loss prefix added
    dear = Rate("1", D("0.0100"))
    assert (await cache.route(NY, dear)).refused_reason == REFUSED_LOSS
    with transaction(clean) as s:
        s.execute(text("INSERT INTO loss_prefixes (prefix) VALUES ('1212')"))
    await cache.check_now()
    assert names(await cache.route(NY, dear)) == ["alpha"]

    # even a rate edited in place by hand (no updated_at bump) is seen, through PostgreSQL's
    # own counters of the table, which move within about a second of the commit
    with transaction(clean) as s:
        s.execute(text("UPDATE carrier_rates SET rate_per_minute = 0.002"))
    deadline = time.monotonic() + 10
    while (await cache.route(NY, sell)).candidates[0].buy.rate_per_minute != D("0.002"):
        assert time.monotonic() < deadline, "the in-place edit was never picked up"
        await asyncio.sleep(0.2)
        await cache.check_now()


async def test_carriers_the_prober_marks_down_are_left_out_until_they_answer_again(clean, pg):
    from db.session import transaction

    with transaction(clean) as s:
        add_carrier(s, "alpha", [("1", "0.010")])
        add_carrier(s, "bravo", [("1", "0.012")])
    sell = Rate("1", D("0.0200"))
    cache = RoutingTableCache(pg, check_seconds=60.0)
    cache.set_down({"alpha"})  # what controller/services/carrier_qualify.py tells it
    assert names(await cache.route(NY, sell)) == ["bravo"]
    cache.set_down({"alpha", "bravo"})
    decision = await cache.route(NY, sell)
    assert decision is not None and decision.refused_reason == "no_route"  # the default trunk
    cache.set_down(set())
    assert names(await cache.route(NY, sell)) == ["alpha", "bravo"]


async def test_route_number_answers_as_the_cache_for_every_number(clean, pg):
    """Random decks over shared prefixes: for 300 numbers, the admin's SQL for one number and
    the controller's whole table give the same decision (sell rate included)."""
    from db.session import transaction

    rng = random.Random(14)
    pool = sorted(
        {"1"}
        | {f"1{rng.randrange(200, 999)}{rng.randrange(0, 999):03d}"[: rng.randint(2, 7)] for _ in range(400)}
    )
    pool += ["44", "447", "4479", "33", "336"]
    with transaction(clean) as s:
        for i in range(6):
            deck = [(p, f"0.0{rng.randint(5, 30):02d}") for p in pool if rng.random() < 0.6]
            add_carrier(
                s,
                f"lcr{i}",
                deck,
                priority=rng.randint(0, 2),
                weight=rng.randint(1, 3),
                enabled=i != 5,
            )
        s.execute(text("INSERT INTO loss_prefixes (prefix) VALUES ('1212'), ('447')"))
        # billed like the sell deck's US prefixes (6/6): a per-minute buy deck is a loss against
        # a sell deck billed per 6 s whatever its rate, and most decisions would be refusals
        s.execute(text("UPDATE carrier_rates SET min_seconds = 6, increment_seconds = 6"))
    cache = RoutingTableCache(pg)
    table = await cache.table()
    assert len(table.carriers) == 5
    numbers = [
        p + "".join(rng.choice("0123456789") for _ in range(11 - len(p))) for p in rng.sample(pool, 250)
    ]
    numbers += [f"1{rng.randrange(10**9, 10**10)}" for _ in range(50)]
    decided = 0
    with clean() as s:
        for digits in numbers:
            sell, decision = routing.route_number(s, digits)
            assert decision == await cache.route(digits, sell), digits
            assert decision == route(routing.table_for_number(s, digits), digits, sell)
            decided += bool(decision.candidates)
    assert decided > 100  # the comparison was not only of empty lists


def test_the_sql_for_one_number_is_the_tables_longest_prefix_per_carrier(clean):
    from db.session import transaction

    with transaction(clean) as s:
        a = add_carrier(s, "alpha", [("1", "0.01"), ("121", "0.02"), ("12125", "0.03"), ("13", "0.04")])
        b = add_carrier(s, "bravo", [("1212", "0.05")])
    with clean() as s:
        one = routing.table_for_number(s, NY)
    assert {cid: r.prefix for cid, r in one.lookup(NY).items()} == {a: "12125", b: "1212"}
    whole = RoutingTable(
        [CarrierProfile(a, "alpha", "carrier-alpha"), CarrierProfile(b, "bravo", "carrier-bravo")],
        [(a, Rate("12125", D("0.03"))), (b, Rate("1212", D("0.05")))],
    )
    assert one.lookup(NY) == whole.lookup(NY)
