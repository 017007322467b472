"""Issue 13, race-free PIN limits: every limiting counter is taken and judged in one statement
before the PIN is compared, so a burst of concurrent attempts gets no more than the limit
through. The bursts run on their own pool of real PostgreSQL connections, one per attempt,
all started at once; the answers are counted."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt

import pytest
import pytest_asyncio
from sqlalchemy import select

from agi.callingcard import Verdict, access_key, check_pin
from controller.services.deps import Deps
from db import accounts, lockouts
from db.models import Lockout, VirtualNumber
from db.session import async_session_factory, make_async_engine
from tests.support.members import make_member
from tests.support.realparts import unique_number

pytestmark = pytest.mark.asyncio(loop_scope="session")

BURST = 25


@pytest_asyncio.fixture(loop_scope="session")
async def deps(database):
    engine = make_async_engine(database, pool_size=BURST, max_overflow=0)
    try:
        yield Deps(settings=database, db=async_session_factory(engine))
    finally:
        await engine.dispose()


def card_with_pin(factory, settings, pin: str) -> str:
    m = make_member(factory, settings)
    with factory() as s, s.begin():
        vn = s.get(VirtualNumber, m.vn_id)
        accounts.set_pin(s, vn, pin, key=settings.pin_hmac_key)
    return m.number


async def test_a_burst_of_wrong_pins_on_one_card_gets_only_the_cards_limit_compared(deps, factory, database):
    number = card_with_pin(factory, database, "31415")
    access = f"burst-{unique_number()}"  # this test's own access number budget
    verdicts = await asyncio.gather(*(check_pin(deps, access, number, f"{90000 + i}") for i in range(BURST)))
    compared = [v for v in verdicts if v[0] is not Verdict.LOCKED]
    assert len(compared) == database.card_pin_max_failures, [v[0] for v in verdicts]
    assert [v[0] for v in compared].count(Verdict.LOCKING) == 1
    # locked now: the right PIN is refused too
    assert (await check_pin(deps, access, number, "31415"))[0] is Verdict.LOCKED
    with factory() as s:
        row = s.get(Lockout, (lockouts.KIND_CARD_PIN, lockouts.key_for(number)))
        assert row.locked_until is not None and row.locked_until > dt.datetime.now(dt.UTC)
        # the refused attempts gave the access number's budget back: only guesses count
        budget = s.get(Lockout, (lockouts.KIND_CARD_BUDGET, access_key(access)))
        assert budget.failures == database.card_pin_max_failures


async def test_a_burst_spread_over_many_cards_gets_only_the_access_numbers_budget(deps, factory, database):
    settings = dataclasses.replace(database, pin_budget=12)
    burst_deps = dataclasses.replace(deps, settings=settings)
    access = f"burst-{unique_number()}"
    cards = [unique_number() for _ in range(BURST)]  # one guess per card: no card limit is hit
    verdicts = await asyncio.gather(*(check_pin(burst_deps, access, c, "27182") for c in cards))
    compared = [v for v in verdicts if v[0] is not Verdict.LOCKED]
    assert len(compared) == settings.pin_budget, [v[0] for v in verdicts]
    # the budget is closed for a good card too
    number = card_with_pin(factory, database, "16180")
    assert (await check_pin(burst_deps, access, number, "16180"))[0] is Verdict.LOCKED
    # ... while on another access number the same card's PIN is good, and gives its attempt back
    other = f"burst-{unique_number()}"
    verdict, vn, _language = await check_pin(burst_deps, other, number, "16180")
    assert verdict is Verdict.GOOD and vn is not None and vn.number == number
    with factory() as s:
        assert s.get(Lockout, (lockouts.KIND_CARD_BUDGET, access_key(other))).failures == 0
        assert s.get(Lockout, (lockouts.KIND_CARD_PIN, lockouts.key_for(number))).failures == 0


async def test_a_concurrent_burst_on_any_take_counter_passes_exactly_the_limit(deps):
    """db.lockouts.take itself, as the conference budget uses it: BURST at once, limit 7."""
    key = lockouts.key_for(f"burst-{unique_number()}")

    async def one() -> bool:
        async with deps.db() as session, session.begin():
            taken = await lockouts.take(
                session,
                lockouts.KIND_CONF_BUDGET,
                key,
                limit=7,
                window=dt.timedelta(hours=1),
                lock_for=dt.timedelta(hours=1),
            )
            return taken.allowed

    answers = await asyncio.gather(*(one() for _ in range(BURST)))
    assert answers.count(True) == 7


async def test_a_pin_set_before_the_card_keyed_hash_still_works_and_is_upgraded(deps, factory, database):
    """Migration 0015 cannot rehash: an old-form hash is accepted for its own card only, and
    rewritten in the card-keyed form on that good login."""
    from controller.rules import secrets as sec

    number = card_with_pin(factory, database, "55555")
    with factory() as s, s.begin():
        vn = s.scalar(select(VirtualNumber).where(VirtualNumber.number == number))
        vn.pin_hmac = sec.pin_hmac(database.pin_hmac_key, "24680")  # as stored before issue 13
        vn_id = vn.id
    access = f"burst-{unique_number()}"
    other = card_with_pin(factory, database, "11223")
    assert (await check_pin(deps, access, other, "24680"))[0] is Verdict.WRONG  # not another card's
    assert (await check_pin(deps, access, number, "24680"))[0] is Verdict.GOOD
    with factory() as s:
        assert s.get(VirtualNumber, vn_id).pin_hmac == sec.card_pin_hmac(
            database.pin_hmac_key, vn_id, "24680"
        )
