"""Sliced holds and releases on the billing database (issue 13): a decision holds one slice
(db.hotpath.HOLD_SLICE), db.hotpath.extend_hold adds slices through the one money rule under
the money's locks, never more than the money allows, however many calls extend at once; a
release only touches the holds of the calling channel (db.billing.release_owned); the sweeper's
release leaves a hold a CDR names to the rater (db.billing.release_orphans)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from sqlalchemy import text

from controller.rules import money
from controller.rules.rating import MAX_CALL_SECONDS, Rate
from db import billing, hotpath
from db.billing import available_balance
from db.session import transaction
from tests.billing.conftest import insert_cdr

D = Decimal
RATE = Rate("999", D("1.00"), D("0"), 60, 60, "Test")  # 1.00/min, whole minutes (deck's 999)
PER_SECOND = Rate("998", D("0.60"), D("0"), 1, 1, "Test")  # the deck's 998


@pytest.fixture()
async def pg(billing_db):
    db = hotpath.HotDB(billing_db, min_size=1, max_size=12)
    await db.open()
    yield db
    await db.close()


async def _decide(pg, m, uniqueid: str, rate: Rate = RATE, slice_seconds: int | None = 60):
    token = hotpath.HOLD_SLICE.set(slice_seconds)
    try:
        async with pg.connection() as conn:
            ctx = await hotpath.decision_context(conn, m.number, [], "700", uniqueid)
            return await hotpath.authorize(
                conn,
                account_id=m.account_id,
                virtual_number_id=m.vn_id,
                call_class="I",
                dialed=rate.prefix + "12345",
                uniqueid=uniqueid,
                rate=rate,
                call_group=uniqueid,
                money_state=ctx.money_state,
            )
    finally:
        hotpath.HOLD_SLICE.reset(token)


async def _extend(pg, auth_id: int, slice_seconds: int = 60) -> hotpath.Extension:
    async with pg.connection() as conn:
        return await hotpath.extend_hold(conn, auth_id, slice_seconds=slice_seconds, remaining_seconds=5)


def _hold(bfactory, auth_id: int):
    with transaction(bfactory) as s:
        return s.execute(
            text(
                "SELECT max_seconds, held_credit, settled_at, expires_at - now() AS ttl"
                " FROM call_authorizations WHERE id = :id"
            ),
            {"id": auth_id},
        ).one()


async def test_a_decision_holds_one_slice_not_the_whole_call(pg, member, bfactory):
    m = member(credit=["10.00"])
    whole = await _decide(pg, m, "sl-whole", slice_seconds=None)
    assert whole.max_seconds == 600 and whole.held_credit == D("10.0000")  # all of it, 10 min
    m2 = member(credit=["10.00"])
    sliced = await _decide(pg, m2, "sl-one")
    assert sliced.max_seconds == 60 and sliced.held_credit == D("1.0000")
    with transaction(bfactory) as s:
        assert available_balance(s, m2.account_id, m2.vn_id).credit == D("9.00")


async def test_extensions_add_slices_until_the_money_runs_out(pg, member, bfactory):
    m = member(credit=["2.50"])
    first = await _decide(pg, m, "sl-ext")
    assert first.max_seconds == 60
    ext = await _extend(pg, first.auth_id)
    assert (ext.seconds, ext.credit, ext.total_seconds) == (60, D("1.0000"), 120)
    hold = _hold(bfactory, first.auth_id)
    assert hold.max_seconds == 120 and hold.held_credit == D("2.0000")
    assert hold.ttl.total_seconds() > 60 + billing.HOLD_GRACE_SECONDS
    # 0.50 left does not pay a whole minute: nothing more, and the hold is unchanged
    assert (await _extend(pg, first.auth_id)).seconds == 0
    assert _hold(bfactory, first.auth_id).held_credit == D("2.0000")
    with transaction(bfactory) as s:
        assert available_balance(s, m.account_id, m.vn_id).credit == D("0.50")


async def test_a_settled_hold_is_never_extended(pg, member, bfactory):
    m = member(credit=["5.00"])
    first = await _decide(pg, m, "sl-settled")
    with transaction(bfactory) as s:
        billing.settle_authorization(s, first.auth_id)
    assert (await _extend(pg, first.auth_id)).seconds == 0
    assert _hold(bfactory, first.auth_id).max_seconds == 60


async def test_a_call_never_holds_past_its_maximum_length(pg, member, bfactory):
    m = member(credit=["500.00"])
    first = await _decide(pg, m, "sl-max")
    with transaction(bfactory) as s:
        s.execute(
            text("UPDATE call_authorizations SET max_seconds = :m WHERE id = :id"),
            {"m": MAX_CALL_SECONDS - 30, "id": first.auth_id},
        )
    ext = await _extend(pg, first.auth_id)  # 30 s left of the call's maximum
    assert (ext.seconds, ext.total_seconds) == (30, MAX_CALL_SECONDS)
    assert (await _extend(pg, first.auth_id)).seconds == 0
    assert _hold(bfactory, first.auth_id).max_seconds == MAX_CALL_SECONDS


async def test_concurrent_extensions_never_hold_more_than_the_money(pg, member, bfactory):
    m = member(credit=["3.00"])  # 300 s at $0.60/min per second
    calls = [await _decide(pg, m, f"sl-many-{i}", rate=PER_SECOND, slice_seconds=60) for i in range(4)]
    assert [c.max_seconds for c in calls] == [60, 60, 60, 60]  # $2.40 held
    for _ in range(3):
        await asyncio.gather(*(_extend(pg, c.auth_id) for c in calls))
    with transaction(bfactory) as s:
        held, seconds = s.execute(
            text(
                "SELECT sum(held_credit), sum(max_seconds) FROM call_authorizations"
                " WHERE account_id = :a AND settled_at IS NULL"
            ),
            {"a": m.account_id},
        ).one()
        assert held == D("3.0000") and seconds == 300
        assert available_balance(s, m.account_id, m.vn_id).credit == D("0")


def test_an_extension_takes_plan_seconds_only_from_the_holds_subscription():
    subs = (money.Subscription(1, 7, 0, 30), money.Subscription(2, 7, 0, 500))
    state = money.MoneyState(lots_remaining=D("0"), subscriptions=subs)
    g = money.grant(state, 7, "D", PER_SECOND, 60, subscription_id=1)
    assert (g.max_seconds, g.plan_seconds, g.subscription_id) == (30, 30, 1)
    # the hold's subscription is used up: no seconds of another one (the hold holds on one)
    used_up = money.MoneyState(lots_remaining=D("0"), subscriptions=(money.Subscription(1, 7, 0, 0), subs[1]))
    assert money.grant(used_up, 7, "D", PER_SECOND, 60, subscription_id=1).reason == money.NO_CREDIT
    g = money.grant(used_up, 7, "D", PER_SECOND, 60)
    assert (g.max_seconds, g.plan_seconds, g.subscription_id) == (60, 60, 2)


async def test_a_release_only_touches_the_calling_channels_holds(pg, member, bfactory):
    m = member(credit=["5.00"])
    mine = await _decide(pg, m, "rel-mine")
    theirs = await _decide(pg, m, "rel-theirs")
    with transaction(bfactory) as s:
        assert billing.release_owned(s, "rel-attacker", "rel-attacker", theirs.auth_id) == []
        assert billing.release_owned(s, "rel-mine", "rel-mine", theirs.auth_id) == []
        assert billing.release_owned(s, "rel-other", "rel-mine", mine.auth_id) == [mine.auth_id]  # its tree
    assert _hold(bfactory, theirs.auth_id).settled_at is None
    with transaction(bfactory) as s:  # no id: the channel's own holds only
        assert billing.release_owned(s, "rel-theirs", None, None) == [theirs.auth_id]


async def test_the_sweeper_leaves_a_hold_a_cdr_names_to_the_rater(pg, member, bfactory):
    m = member(credit=["5.00"])
    rated = await _decide(pg, m, "sw-rated")
    orphan = await _decide(pg, m, "sw-orphan")
    unanswered = await _decide(pg, m, "sw-unanswered")
    with transaction(bfactory) as s:
        insert_cdr(s, member=m, call_class="I", dialed="99912345", billsec=30, auth_id=rated.auth_id)
        insert_cdr(
            s,
            member=m,
            call_class="I",
            dialed="99912345",
            disposition="NO ANSWER",
            auth_id=unanswered.auth_id,
        )
    with transaction(bfactory) as s:
        released = billing.release_orphans(s, [rated.auth_id, orphan.auth_id, unanswered.auth_id])
    assert sorted(released) == sorted([orphan.auth_id, unanswered.auth_id])
    assert _hold(bfactory, rated.auth_id).settled_at is None


async def test_a_refusal_says_whether_the_cap_or_the_money_refused_it(pg, member):
    """Authorization.capped is decided on the state the refusal was decided on (the locked
    path's, when another call got in first), for the spending limits' refusal reason."""
    rich, poor = member(credit=["5.00"]), member()
    for m, capped in ((rich, True), (poor, False)):
        async with pg.connection() as conn:
            auth = await hotpath.authorize(
                conn,
                account_id=m.account_id,
                virtual_number_id=m.vn_id,
                call_class="I",
                dialed="99912345",
                uniqueid=f"cap-{capped}",
                rate=RATE,
                call_group=f"cap-{capped}",
                credit_cap=D("0"),
            )
        assert auth.max_seconds == 0 and auth.reason == "no_credit" and auth.capped is capped


async def test_the_sweeper_releases_nothing_while_it_cannot_list_asterisks_channels(
    pg, member, bfactory, billing_db
):
    # AMI unreachable is no "no channels": a hold whose call may be up stays held
    from controller.services.ami import AMILink
    from controller.services.holds import HoldSweeper
    from db.session import async_session_factory, make_async_engine

    m = member(credit=["5.00"])
    hold = await _decide(pg, m, "sw-no-ami")
    engine = make_async_engine(billing_db)
    ami = AMILink(billing_db)  # never connected: every action is AMIError
    try:
        sweeper = HoldSweeper(ami, async_session_factory(engine), grace=0)
        assert await sweeper.sweep() == []
        assert await sweeper.sweep() == []
    finally:
        ami.close()
        await engine.dispose()
    assert _hold(bfactory, hold.auth_id).settled_at is None
