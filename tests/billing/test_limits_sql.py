"""The spending limits' SQL (migration 0018's voip_limit_facts, db.limits): what the decision's
one statement and the hold extender read, on a real PostgreSQL."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from sqlalchemy import text

from db import hotpath
from db import limits as db_limits
from db.session import transaction

D = Decimal


@pytest.fixture()
async def pg(billing_db):
    db = hotpath.HotDB(billing_db, min_size=1, max_size=4)
    await db.open()
    yield db
    await db.close()


def hold(
    bfactory, m, credit: str, call_class: str = "D", group: str = "other", settled: bool = False
) -> None:
    with transaction(bfactory) as s:
        s.execute(
            text(
                "INSERT INTO call_authorizations (uniqueid, account_id, virtual_number_id, call_class,"
                " dialed, max_seconds, held_credit, call_group, expires_at, settled_at)"
                " VALUES (:g, :a, :v, :c, '12125550100', 100, :cr, :g, now() + interval '1 hour',"
                " CASE WHEN :s THEN now() END)"
            ),
            {"a": m.account_id, "v": m.vn_id, "c": call_class, "cr": D(credit), "g": group, "s": settled},
        )


def set_limits(bfactory, m, **values) -> None:
    with transaction(bfactory) as s:
        s.execute(
            text("INSERT INTO account_limits (account_id) VALUES (:a) ON CONFLICT DO NOTHING"),
            {"a": m.account_id},
        )
        sets = ", ".join(f"{k} = :{k}" for k in values)
        s.execute(
            text(f"UPDATE account_limits SET {sets} WHERE account_id = :a"), {"a": m.account_id, **values}
        )


async def test_decision_context_carries_the_limits_and_the_facts(pg, bfactory, billing_db, member):
    m = member(credit=["10.00"])
    set_limits(bfactory, m, daily_cap=D("3.00"), premium_opt_in=True, max_concurrent=5)
    hold(bfactory, m, "1.00", "I", group="a")
    hold(bfactory, m, "0.50", "D", group="b")
    hold(bfactory, m, "0.25", "I", group="c", settled=True)  # ended: counts as an attempt only
    async with pg.connection() as conn:
        ctx = await hotpath.decision_context(conn, m.number, ["19005550100"], "700", "mine")
    limits, facts = db_limits.limits_of(ctx.limit_row, billing_db)
    assert limits.daily_cap == D("3.00") and limits.premium_opt_in and "1900" in limits.premium_prefixes
    assert (facts.held, facts.held_intl, facts.held_here) == (D("1.50"), D("1.00"), D("1.50"))
    assert (facts.open_calls, facts.open_calls_here, facts.window_intl_attempts) == (2, 2, 2)
    # a leg of one of those calls does not count its own tree
    async with pg.connection() as conn:
        ctx = await hotpath.decision_context(conn, m.number, [], "700", "a")
    _, facts = db_limits.limits_of(ctx.limit_row, billing_db)
    assert (facts.held, facts.open_calls, facts.window_intl_attempts) == (D("0.50"), 1, 1)
    # without a concurrent-call limit the calls in progress are not counted (the decision's cost)
    set_limits(bfactory, m, max_concurrent=0)
    async with pg.connection() as conn:
        ctx = await hotpath.decision_context(conn, m.number, [], "700", "a")
    assert db_limits.limits_of(ctx.limit_row, billing_db)[1].open_calls == 0


async def test_extension_cap_is_what_the_caps_leave_with_every_hold_counted(pg, bfactory, billing_db, member):
    m = member(credit=["10.00"])
    other = member(credit=["10.00"])
    set_limits(bfactory, m, daily_cap=D("2.00"), intl_daily_cap=D("1.00"))
    hold(bfactory, m, "0.40", "I", group="x")
    settings = dataclasses.replace(billing_db)
    async with pg.connection() as conn:
        assert await db_limits.extension_cap(conn, m.account_id, m.vn_id, "D", settings) == D("1.60")
        assert await db_limits.extension_cap(conn, m.account_id, m.vn_id, "I", settings) == D("0.60")
        assert await db_limits.extension_cap(conn, other.account_id, m.vn_id, "D", settings) is None
    set_limits(bfactory, m, tripped_at="2026-12-05T00:00:00Z")
    async with pg.connection() as conn:
        assert await db_limits.extension_cap(conn, m.account_id, m.vn_id, "D", settings) == 0


async def test_a_burst_of_attempts_trips_the_velocity_rule_once(pg, bfactory, member):
    import asyncio

    m = member(credit=["10.00"])

    async def one():
        async with pg.connection() as conn:
            return await db_limits.trip(conn, m.account_id, m.vn_id, "burst")

    results = await asyncio.gather(*(one() for _ in range(8)))
    assert sum(r is not None for r in results) == 1
    with bfactory() as s:
        assert (
            s.scalar(
                text("SELECT count(*) FROM fraud_events WHERE account_id = :a AND kind = 'velocity_tripped'"),
                {"a": m.account_id},
            )
            == 1
        )
