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
        premium = await db_limits.PremiumPrefixes(pg).get(conn)
        limits, facts = await db_limits.decision_limits(
            conn, m.account_id, m.vn_id, ctx.limit_row, billing_db, "I", "mine", premium
        )
    assert limits.daily_cap == D("3.00") and limits.premium_opt_in and "1900" in limits.premium_prefixes
    assert (facts.held, facts.held_intl, facts.held_here) == (D("1.50"), D("1.00"), D("1.50"))
    assert (facts.open_calls, facts.open_calls_here, facts.window_intl_attempts) == (2, 2, 2)
    # a leg of one of those calls does not count its own tree
    async with pg.connection() as conn:
        ctx = await hotpath.decision_context(conn, m.number, [], "700", "a")
        _, facts = await db_limits.decision_limits(
            conn, m.account_id, m.vn_id, ctx.limit_row, billing_db, "I", "a"
        )
    assert (facts.held, facts.open_calls, facts.window_intl_attempts) == (D("0.50"), 1, 1)
    # without a concurrent-call limit the calls in progress are not counted (the decision's cost)
    set_limits(bfactory, m, max_concurrent=0)
    async with pg.connection() as conn:
        ctx = await hotpath.decision_context(conn, m.number, [], "700", "a")
        _, facts = await db_limits.decision_limits(
            conn, m.account_id, m.vn_id, ctx.limit_row, billing_db, "I", "a"
        )
    assert facts.open_calls == 0


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
    with transaction(bfactory) as s:  # the number's spend today is read for its credit limit
        s.execute(text("UPDATE virtual_numbers SET credit_limit = 1000 WHERE id = :v"), {"v": m.vn_id})

    async def facts() -> tuple[Decimal, ...]:
        """What the decision reads (the window's charges summed, as a decision does when the
        velocity amount could be reached), checking on the way that the day counters' bound
        of the window, which a decision uses otherwise, is never below the window's charges."""
        async with pg.connection() as conn:
            ctx = await hotpath.decision_context(conn, m.number, [], "700", "mine")
            f = (
                await db_limits.decision_limits(
                    conn, m.account_id, m.vn_id, ctx.limit_row, billing_db, "D", "mine", exact_window=True
                )
            )[1]
        bound = db_limits.limits_of(ctx.limit_row, billing_db)[1].window_spent
        assert bound >= f.window_spent
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


# ----- the limits' cost on the hot path (migration 0021, docs/scaling.md section 8)

LIMIT_RELATIONS = {"account_limits", "number_limits", "premium_prefixes", "account_day_spend", "cdr_charges"}


async def _relations(conn, m, maybe_international: bool) -> set[str]:
    """The relations one decision statement of member `m` locks (each is an executor node and
    a lock: PostgreSQL 15 keeps 16 relation locks per backend on its fast path)."""
    async with conn.transaction():
        await hotpath.decision_context(
            conn, m.number, [], "700", "mine", maybe_international=maybe_international
        )
        rows = await conn.fetch(
            "SELECT relation::regclass::text FROM pg_locks"
            " WHERE pid = pg_backend_pid() AND locktype = 'relation'"
        )
    return {r[0] for r in rows}


async def test_a_decision_of_an_account_without_limits_opens_no_limits_table(
    pg, bfactory, billing_db, member
):
    m = member(credit=["10.00"])
    charge(bfactory, m, "1.00")
    async with pg.connection() as conn:
        assert not (await _relations(conn, m, False)) & LIMIT_RELATIONS
        # a call that may be international counts the window's international attempts
        assert "account_limits" in await _relations(conn, m, True)
    set_limits(bfactory, m, daily_cap=D("3.00"))
    async with pg.connection() as conn:
        assert {"account_limits", "number_limits"} <= await _relations(conn, m, False)
        ctx = await hotpath.decision_context(conn, m.number, [], "700", "mine", maybe_international=False)
        limits, facts = await db_limits.decision_limits(
            conn, m.account_id, m.vn_id, ctx.limit_row, billing_db, "D", "mine"
        )
    assert (limits.daily_cap, facts.charged_today) == (D("3.00"), D("1.00"))


def flags(bfactory, m) -> int:
    with bfactory() as s:
        return s.scalar(text("SELECT limit_flags FROM accounts WHERE id = :a"), {"a": m.account_id})


async def test_limit_flags_follow_the_limits_rows(bfactory, member):
    m = member(credit=["10.00"])
    assert flags(bfactory, m) == 0
    set_limits(bfactory, m, max_concurrent=2)
    assert flags(bfactory, m) == 1
    with transaction(bfactory) as s:
        s.execute(
            text("INSERT INTO number_limits (virtual_number_id, max_concurrent) VALUES (:v, 1)"),
            {"v": m.vn_id},
        )
    assert flags(bfactory, m) == 3
    with transaction(bfactory) as s:
        s.execute(text("DELETE FROM account_limits WHERE account_id = :a"), {"a": m.account_id})
    assert flags(bfactory, m) == 2
    with transaction(bfactory) as s:
        s.execute(text("DELETE FROM number_limits WHERE virtual_number_id = :v"), {"v": m.vn_id})
    assert flags(bfactory, m) == 0


async def test_the_velocity_amount_is_decided_on_the_windows_charges(pg, bfactory, billing_db, member):
    """The day counters bound the window's charges; over the velocity amount on that bound, the
    window is summed, so only the window's charges trip the rule, as before the counters."""
    from controller.rules import limits as rules

    m = member(credit=["50.00"])
    set_limits(bfactory, m, velocity_amount=D("5.00"), daily_cap_ceiling=D("1000"))
    charge(bfactory, m, "4.00", ago="50 minutes")  # outside the 10-minute window

    async def screen() -> tuple[Decimal, str]:
        async with pg.connection() as conn:
            ctx = await hotpath.decision_context(conn, m.number, [], "700", "mine", maybe_international=False)
            limits, facts = await db_limits.decision_limits(
                conn, m.account_id, m.vn_id, ctx.limit_row, billing_db, "D", "mine"
            )
        return facts.window_spent, rules.velocity_exceeded(limits, facts, "D")

    assert await screen() == (D("4.00"), "")  # the bound, under the amount: no sum needed
    charge(bfactory, m, "2.00", ago="2 minutes")
    assert await screen() == (D("2.00"), "")  # bound 6.00 over 5.00: the window summed
    charge(bfactory, m, "3.50", ago="1 minute")
    spent, why = await screen()
    assert spent == D("5.50") and "more than $5.00" in why


async def test_an_international_call_counts_its_attempts_when_the_statement_did_not(
    pg, bfactory, billing_db, member
):
    m = member(credit=["10.00"])
    hold(bfactory, m, "0.10", "I", group="a")
    hold(bfactory, m, "0.10", "I", group="b", settled=True)
    async with pg.connection() as conn:
        ctx = await hotpath.decision_context(conn, m.number, [], "700", "mine", maybe_international=False)
        assert ctx.limit_row[db_limits.LIMIT_COLUMNS.index("own")] is None
        _, facts = await db_limits.decision_limits(
            conn, m.account_id, m.vn_id, ctx.limit_row, billing_db, "I", "mine"
        )
    assert facts.window_intl_attempts == 2


async def test_premium_prefixes_in_memory_follow_the_table_within_the_check_interval(pg, bfactory):
    cache = db_limits.PremiumPrefixes(pg, check_seconds=0)
    async with pg.connection() as conn:
        first = await cache.get(conn)
    assert "1900" in first and "1999555" not in first
    with transaction(bfactory) as s:
        s.execute(text("INSERT INTO premium_prefixes (prefix) VALUES ('1999555')"))
    try:
        async with pg.connection() as conn:
            assert await cache.get(conn) == first  # the decision does not wait for the check
        assert cache._refresh is not None
        await cache._refresh
        async with pg.connection() as conn:
            assert "1999555" in await cache.get(conn)
    finally:
        with transaction(bfactory) as s:
            s.execute(text("DELETE FROM premium_prefixes WHERE prefix = '1999555'"))
