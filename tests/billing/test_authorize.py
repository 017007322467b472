"""Call authorizations: the maximum length from plan seconds then credit, and holds that keep
concurrent calls from spending the same balance twice.

On the function the FastAGI route runs (db.hotpath.authorize, on the asyncpg pool), by both of
its paths: optimistic (decided on the money state read with the decision context, held if that
state still holds) and locked (lock, state, decide, hold in one transaction)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import text

from controller.rules.rating import MAX_CALL_SECONDS, Rate, RateDeck
from db import hotpath
from db.billing import available_balance
from db.session import transaction
from tests.billing.conftest import DECK

D = Decimal
# the billing tests' deck in memory, as the route's RateDeckCache holds the active one
RATES = RateDeck(Rate(p, r, f, m, i, d, c) for p, d, c, r, f, m, i in DECK)


@pytest.fixture()
async def pg(billing_db):
    db = hotpath.HotDB(billing_db, min_size=1, max_size=12)
    await db.open()
    yield db
    await db.close()


@pytest.fixture(params=["optimistic", "locked"])
def path(request):
    return request.param


async def _authorize(pg, path, m, call_class="D", dialed="13125550100", uniqueid="u", **kw):
    rate = RATES.lookup(dialed)
    assert rate is not None
    async with pg.connection() as conn:
        state = None
        if path == "optimistic":
            ctx = await hotpath.decision_context(conn, m.number, [], "700", kw.get("call_group"))
            state = ctx.money_state
        return await hotpath.authorize(
            conn,
            account_id=m.account_id,
            virtual_number_id=m.vn_id,
            call_class=call_class,
            dialed=dialed,
            uniqueid=uniqueid,
            rate=rate,
            money_state=state,
            **kw,
        )


async def test_plan_seconds_first_then_credit_sets_the_maximum_length(pg, path, bfactory, member):
    m = member(credit=["0.10"], plan=(0, 120))
    auth = await _authorize(pg, path, m, "D")
    # 120 plan seconds + 0.10 at 0.015/min in 6 s increments: 396 s (0.0990; 402 s would be 0.1005)
    assert (auth.max_seconds, auth.plan_seconds, auth.reason) == (516, 120, "")
    assert auth.held_credit == D("0.0990") and auth.rate_prefix == "1"
    with bfactory() as s:
        row = s.execute(text("SELECT * FROM call_authorizations WHERE id = :id"), {"id": auth.auth_id}).one()
        bal = available_balance(s, m.account_id, m.vn_id)
    assert (row.held_plan_seconds, row.held_credit, row.plan_subscription_id, row.max_seconds) == (
        120,
        D("0.0990"),
        m.subscription_id,
        516,
    )
    assert bal.credit == D("0.0010") and bal.plan_seconds("D") == 0
    assert row.expires_at - row.created_at >= dt.timedelta(seconds=516 + 300)


async def test_regional_calls_use_regional_then_us_canada_seconds_domestic_only_us(
    pg, path, bfactory, member
):
    m = member(plan=(100, 50))
    with bfactory() as s:
        bal = available_balance(s, m.account_id, m.vn_id)
    assert (bal.plan_seconds("R"), bal.plan_seconds("D"), bal.plan_seconds("I")) == (150, 50, 0)
    r = await _authorize(pg, path, m, "R", "12125550100")
    assert (r.max_seconds, r.plan_seconds) == (150, 150)
    with bfactory() as s:
        bal = available_balance(s, m.account_id, m.vn_id)
    assert (bal.plan_seconds("R"), bal.plan_seconds("D")) == (0, 0)  # the overflow holds US seconds


async def test_international_calls_never_use_plan_seconds(pg, path, bfactory, member):
    m = member(credit=["0.03"], plan=(600, 600))
    auth = await _authorize(pg, path, m, "I", "441632960000")
    assert (auth.max_seconds, auth.plan_seconds, auth.held_credit) == (60, 0, D("0.0300"))
    with bfactory() as s:
        assert available_balance(s, m.account_id, m.vn_id).plan_seconds("D") == 600


async def test_nothing_affordable_is_refused_no_credit_and_holds_nothing(pg, path, bfactory, member):
    m = member(credit=["0.50"])
    auth = await _authorize(pg, path, m, "I", "99912345")  # 1.00 for the first minute
    assert tuple(auth) == (None, 0, 0, "no_credit")
    with bfactory() as s:
        assert (
            s.scalar(
                text("SELECT count(*) FROM call_authorizations WHERE account_id = :a"), {"a": m.account_id}
            )
            == 0
        )


async def test_no_rate_for_the_destination_is_refused_not_in_service(pg, billing_db, bfactory, member):
    """The route refuses a destination without a rate before anything is held."""
    from agi.errors import CallRefused
    from agi.outbound import authorize
    from controller.rules.decisions import Permissions
    from controller.rules.numbers import DialClass, Dialed
    from controller.services.deps import Deps
    from db.calls import Member

    m = member(credit=["5.00"])
    caller = Member(m.vn_id, m.number, m.account_id, True, "", Permissions(True, True), False, True, "en")
    deps = Deps(settings=billing_db, pg=pg)
    async with pg.connection() as conn:
        with pytest.raises(CallRefused) as refused:
            await authorize(deps, conn, caller, Dialed(DialClass.INTERNATIONAL, "2125550100"), "u", "u")
    assert refused.value.reason == "not_in_service"
    with bfactory() as s:
        assert not s.scalar(
            text("SELECT count(*) FROM call_authorizations WHERE account_id = :a"), {"a": m.account_id}
        )


async def test_maximum_length_is_capped_at_four_hours(pg, path, member):
    m = member(credit=["1000.00"], plan=(0, 99999))
    assert (await _authorize(pg, path, m, "D")).max_seconds == MAX_CALL_SECONDS
    m2 = member(credit=["1000.00"])
    auth = await _authorize(pg, path, m2, "D")
    assert auth.max_seconds == MAX_CALL_SECONDS and auth.held_credit == D("3.6000")


async def test_free_destination_needs_no_credit(pg, path, member):
    m = member()
    auth = await _authorize(pg, path, m, "D", "18005550100")  # a 0-rate prefix in the deck
    assert auth.max_seconds == MAX_CALL_SECONDS and auth.held_credit == 0 and auth.reason == ""


async def test_credit_limit_of_the_number_caps_what_its_calls_hold(pg, path, bfactory, member):
    m = member(credit=["10.00"], credit_limit=D("1.50"))
    first = await _authorize(pg, path, m, "I", "99912345", uniqueid="limit-1")
    second = await _authorize(pg, path, m, "I", "99912345", uniqueid="limit-2")
    assert (first.max_seconds, second.reason) == (60, "no_credit")  # 1.00 held, 0.50 left < 1.00
    with bfactory() as s:
        assert available_balance(s, m.account_id, m.vn_id).credit == D("0.50")


async def test_expired_holds_stop_counting(pg, path, bfactory, member):
    m = member(credit=["1.00"])
    auth = await _authorize(pg, path, m, "I", "99912345", uniqueid="exp-1")
    assert auth.max_seconds == 60
    with bfactory() as s:
        assert available_balance(s, m.account_id, m.vn_id).credit == 0
    with transaction(bfactory) as s:
        s.execute(
            text("UPDATE call_authorizations SET expires_at = now() - interval '1 second' WHERE id = :id"),
            {"id": auth.auth_id},
        )
    with bfactory() as s:
        assert available_balance(s, m.account_id, m.vn_id).credit == D("1.00")
    assert (await _authorize(pg, path, m, "I", "99912345", uniqueid="exp-2")).max_seconds == 60


async def test_two_concurrent_authorizations_cannot_both_get_the_whole_balance(pg, path, member):
    m = member(credit=["1.00"])  # one minute at 1.00/min
    results = await asyncio.gather(
        *(_authorize(pg, path, m, "I", "99912345", uniqueid=f"race-{i}") for i in range(2))
    )
    assert sorted(r.max_seconds for r in results) == [0, 60]
    assert sum(r.held_credit for r in results) == D("1.0000")


async def test_many_concurrent_authorizations_hold_no_more_than_the_balance(pg, path, member):
    m = member(credit=["2.00", "1.00"])  # three minutes at 1.00/min, one per call
    results = await asyncio.gather(
        *(_authorize(pg, path, m, "I", "99912345", uniqueid=f"many-{i}", max_seconds=60) for i in range(10))
    )
    granted = [r for r in results if r.max_seconds > 0]
    assert len(granted) == 3 and sum(r.held_credit for r in results) == D("3.0000")
    assert {r.reason for r in results if r.max_seconds == 0} == {"no_credit"}


async def test_authorization_for_another_accounts_number_is_a_programming_error(pg, path, member):
    a, b = member(credit=["1.00"]), member(credit=["1.00"])
    wrong = dataclasses.replace(b, account_id=a.account_id)  # a's account, b's number
    with pytest.raises(ValueError):
        await _authorize(pg, path, wrong, "D")
