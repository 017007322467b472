"""The FastAGI route's authorization (db.hotpath): decided on the money state read with the
decision context, held by voip_hold only if that state still holds, else by the locked path.
The rules themselves, by both paths, are in test_authorize.py."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from sqlalchemy import text

from controller.rules.rating import Rate
from db import hotpath
from db.billing import available_balance
from db.session import transaction

D = Decimal
RATE = Rate("999", D("1.00"), D("0"), 1, 60, 60, "Test")  # 1.00/min, whole minutes


@pytest.fixture()
async def pg(billing_db):
    db = hotpath.HotDB(billing_db, min_size=1, max_size=12)
    await db.open()
    yield db
    await db.close()


async def _decide(
    pg, m, uniqueid: str, group: str | None = None, state: str | None = "read", max_seconds: int = 60
):
    async with pg.connection() as conn:
        if state == "read":
            ctx = await hotpath.decision_context(conn, m.number, [], "700", group or uniqueid)
            state = ctx.money_state
        return await hotpath.authorize(
            conn,
            account_id=m.account_id,
            virtual_number_id=m.vn_id,
            call_class="I",
            dialed="99912345",
            uniqueid=uniqueid,
            rate=RATE,
            max_seconds=max_seconds,
            call_group=group or uniqueid,
            money_state=state,
        )


async def test_one_decision_holds_what_the_call_may_spend(pg, member, bfactory):
    m = member(credit=["2.50"])
    auth = await _decide(pg, m, "hp-1", max_seconds=600)
    assert auth.auth_id is not None and auth.max_seconds == 120 and auth.held_credit == D("2.0000")
    with transaction(bfactory) as s:
        assert available_balance(s, m.account_id, m.vn_id).credit == D("0.50")


async def test_many_concurrent_decisions_never_hold_more_than_the_balance(pg, member):
    m = member(credit=["2.00", "1.00"])  # three minutes, one per call
    results = await asyncio.gather(*(_decide(pg, m, f"hp-many-{i}") for i in range(10)))
    granted = [r for r in results if r.max_seconds > 0]
    assert len(granted) == 3 and sum(r.held_credit for r in results) == D("3.0000")
    assert all(r.auth_id is not None for r in granted)
    assert {r.reason for r in results if r.max_seconds == 0} == {"no_credit"}


async def test_a_stale_money_state_is_never_held_on(pg, member, bfactory):
    """Decided on a state another call has since changed: voip_hold refuses it and the locked
    path decides again on the real balance."""
    m = member(credit=["1.00"])
    async with pg.connection() as conn:
        stale = (await hotpath.decision_context(conn, m.number, [], "700", "hp-stale-a")).money_state
    first = await _decide(pg, m, "hp-stale-b")  # takes the only minute
    assert first.max_seconds == 60
    second = await _decide(pg, m, "hp-stale-a", state=stale)  # its state says 1.00 is free
    assert second.max_seconds == 0 and second.reason == "no_credit" and second.auth_id is None
    with transaction(bfactory) as s:
        held = s.scalar(
            text(
                "SELECT sum(held_credit) FROM call_authorizations WHERE account_id = :a"
                " AND settled_at IS NULL"
            ),
            {"a": m.account_id},
        )
    assert held == D("1.0000")


async def test_legs_of_one_call_tree_are_alternatives(pg, member):
    """Two forwarding legs of one call (same linkedid) may each hold the whole balance."""
    m = member(credit=["1.00"])
    a = await _decide(pg, m, "hp-leg-1", group="hp-tree")
    b = await _decide(pg, m, "hp-leg-2", group="hp-tree")
    assert a.max_seconds == b.max_seconds == 60


async def test_without_a_state_the_locked_path_decides(pg, member):
    m = member(credit=["1.00"], plan=(0, 30))
    auth = await _decide(pg, m, "hp-locked", state=None, max_seconds=600)
    assert auth.auth_id is not None and auth.plan_seconds == 0  # international: no plan seconds
    assert auth.max_seconds == 60
