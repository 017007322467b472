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


def charge(bfactory, m, cost: str, call_type: str = "D", ago: str = "1 minute", vn: bool = True) -> int:
    """A rated charge of member `m`, `ago` before now (the rater's insert_charge)."""
    from db import billing
    from tests.billing.conftest import insert_cdr

    with transaction(bfactory) as s:
        cdr_id = insert_cdr(s, member=m)
        charge_id = billing.insert_charge(
            s,
            cdr_id,
            account_id=m.account_id,
            virtual_number_id=m.vn_id if vn else None,
            call_type=call_type,
            country="US",
            prefix="1",
            billable_seconds=60,
            plan_seconds=0,
            plan_subscription_id=None,
            cost=D(cost),
        )
        s.execute(
            text("UPDATE cdr_charges SET rated_at = now() - CAST(:ago AS interval) WHERE id = :id"),
            {"ago": ago, "id": charge_id},
        )
    assert charge_id is not None
    return charge_id


# what the decision's facts were before the day counters: the day's charges summed
SUMMED = """
    SELECT coalesce(sum(ch.cost), 0), coalesce(sum(ch.cost) FILTER (WHERE ch.call_type = 'I'), 0),
           coalesce(sum(ch.cost) FILTER (WHERE ch.virtual_number_id = :v), 0)
      FROM cdr_charges ch JOIN accounts a ON a.id = ch.account_id
     WHERE ch.account_id = :a
       AND ch.rated_at >= date_trunc('day', now() AT TIME ZONE a.time_zone) AT TIME ZONE a.time_zone
"""


async def test_the_day_counters_are_the_days_charges_in_the_accounts_time_zone(
    pg, bfactory, billing_db, member
):
    """The decision reads today's spend from account_day_spend (kept by migration 0018's trigger
    on cdr_charges) instead of summing the day's charges: it must be what the charges of the
    account's local day add up to, through inserts, a correction, a deletion and a change of
    the account's time zone."""
    m = member(credit=["50.00"])
    other = member(credit=["50.00"])

    async def facts() -> tuple[Decimal, ...]:
        async with pg.connection() as conn:
            ctx = await hotpath.decision_context(conn, m.number, [], "700", "mine")
        f = db_limits.limits_of(ctx.limit_row, billing_db)[1]
        return f.charged_today, f.charged_today_intl, f.charged_today_here, f.window_spent

    def summed() -> tuple[Decimal, ...]:
        with bfactory() as s:
            row = s.execute(text(SUMMED), {"a": m.account_id, "v": m.vn_id}).one()
            window = s.scalar(
                text(
                    "SELECT coalesce(sum(cost), 0) FROM cdr_charges WHERE account_id = :a"
                    " AND rated_at > now() - interval '10 minutes'"
                ),
                {"a": m.account_id},
            )
        return (*row, window)

    # charges from 2 minutes to 30 hours ago: wherever the account's midnight falls, some are
    # today's and some yesterday's
    ids = [
        charge(bfactory, m, cost, call_type, ago=ago, vn=vn)
        for cost, call_type, ago, vn in (
            ("1.00", "D", "2 minutes", True),
            ("2.00", "I", "5 minutes", True),
            ("0.50", "D", "3 minutes", False),  # a charge of no number
            ("4.00", "D", "50 minutes", True),
            ("0.25", "I", "3 hours", True),
            ("8.00", "D", "7 hours", True),
            ("16.00", "I", "13 hours", True),
            ("0.125", "D", "19 hours", True),
            ("32.00", "D", "30 hours", True),
        )
    ]
    charge(bfactory, other, "64.00", ago="1 minute")  # another account's
    assert await facts() == summed()
    assert (await facts())[3] == D("3.50")  # the velocity window: the last 10 minutes

    with transaction(bfactory) as s:  # a correction, then a charge deleted with its CDR
        s.execute(text("UPDATE cdr_charges SET cost = 3.00, rated_at = now() WHERE id = :id"), {"id": ids[5]})
        s.execute(
            text("DELETE FROM cdr WHERE id = (SELECT cdr_id FROM cdr_charges WHERE id = :id)"), {"id": ids[1]}
        )
    assert await facts() == summed()

    for zone in ("Pacific/Kiritimati", "Pacific/Pago_Pago", "Asia/Kolkata", "UTC"):
        with transaction(bfactory) as s:
            s.execute(
                text("UPDATE accounts SET time_zone = :z WHERE id = :a"), {"z": zone, "a": m.account_id}
            )
        assert await facts() == summed(), zone
