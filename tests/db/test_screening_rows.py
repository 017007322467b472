"""db/screening.py on real PostgreSQL: a forwarding_rules row, the number's call_blocks, its
voicemail switch and its account's time zone become what controller.rules.screening decides
on, the same through the AGI's async loader and the panel's sync one; the simulator reads it."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from controller.rules.forwarding import Outcome, Ring, RingList, RingMode, Step1, Voicemail
from controller.rules.screening import OfficeHours, Refusal, Why
from db import screening
from db.models import Account, CallBlock, ForwardingRule, VirtualNumber
from db.session import make_async_engine, transaction
from tests.support.members import make_member, set_forwarding, set_options
from webpanel.forwarding.simulate import simulate

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _load_async(database, vn_id: int) -> screening.NumberRules | None:
    engine = make_async_engine(database)
    try:
        async with AsyncSession(engine) as s:
            return await screening.load(s, vn_id)
    finally:
        await engine.dispose()


def _load_sync(factory, vn_id: int) -> screening.NumberRules | None:
    with factory() as s:
        return screening.load_sync(s, vn_id)


async def test_every_column_maps_and_both_loaders_agree(factory, database, settings):
    m = make_member(factory, settings)
    set_forwarding(
        factory,
        m,
        step1="ring_list",
        step1_mode="sequential",
        step1_seconds=7,
        step1_numbers=["13125550111", "", "13125550122"],
        device_seconds=9,
        no_answer_enabled=True,
        no_answer_mode="simultaneous",
        no_answer_seconds=11,
        no_answer_numbers=["13125550133"],
        busy_enabled=False,
        busy_numbers=["13125550144"],
        dnd=True,
        reject_anonymous=True,
        confirm_forwarded=True,
        hours_enabled=True,
        hours_days=1 | 4 | 64,
        hours_open=dt.time(22, 0),
        hours_close=dt.time(6, 30),
        after_hours_step1="ring_list",
        after_hours_mode="sequential",
        after_hours_seconds=13,
        after_hours_numbers=["13125550155"],
    )
    set_options(factory, m, voicemail_enabled=False)
    with transaction(factory) as s:
        s.execute(update(Account).where(Account.id == m.account_id).values(time_zone="Asia/Tokyo"))
        s.add_all(
            [
                CallBlock(virtual_number_id=m.vn_id, number="13125550199"),
                CallBlock(virtual_number_id=m.vn_id, number="442071234567"),
            ]
        )
    rules = await _load_async(database, m.vn_id)
    assert rules == _load_sync(factory, m.vn_id)
    assert rules is not None
    assert rules.time_zone == "Asia/Tokyo"
    fwd = rules.settings
    assert fwd.step1 is Step1.RING_LIST
    assert fwd.step1_list == RingList(("13125550111", "13125550122"), RingMode.SEQUENTIAL, 7)
    assert fwd.device_seconds == 9
    assert fwd.no_answer_list == RingList(("13125550133",), RingMode.SIMULTANEOUS, 11)
    assert fwd.busy_list is None  # numbers kept, branch off
    assert fwd.voicemail_enabled is False
    assert fwd.confirm_forwarded is True
    sc = rules.screening
    assert sc.dnd and sc.reject_anonymous
    # normalized as decide() compares them: a North American number by its 10 digits
    assert sc.blocked == frozenset({"3125550199", "442071234567"})
    assert sc.hours == OfficeHours(1 | 4 | 64, dt.time(22, 0), dt.time(6, 30))
    assert sc.after_hours is Step1.RING_LIST
    assert sc.after_hours_list == RingList(("13125550155",), RingMode.SEQUENTIAL, 13)
    # the account's zone: local time is Tokyo's
    noon_utc = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)
    assert rules.local_now(noon_utc).hour == 21


async def test_a_new_number_gets_the_defaults_and_an_unknown_one_none(factory, database, settings):
    m = make_member(factory, settings)
    rules = _load_sync(factory, m.vn_id)
    assert rules is not None
    assert rules.screening.hours is None and not rules.screening.dnd and not rules.screening.blocked
    assert rules.settings.step1 is Step1.NONE and rules.settings.voicemail_enabled
    assert rules.settings.confirm_forwarded is False
    with transaction(factory) as s:  # a number without its rules row (as before migration 0028's)
        s.execute(delete(ForwardingRule).where(ForwardingRule.virtual_number_id == m.vn_id))
    bare = await _load_async(database, m.vn_id)
    assert bare is not None and bare.settings.step1 is Step1.NONE
    with factory() as s:
        missing = (s.query(VirtualNumber.id).order_by(VirtualNumber.id.desc()).first() or (0,))[0] + 1000
    assert await _load_async(database, missing) is None


async def test_simulate_decides_on_the_accounts_local_time(factory, settings):
    m = make_member(factory, settings)
    set_forwarding(
        factory,
        m,
        step1="none",
        device_seconds=5,
        hours_enabled=True,
        hours_days=127,
        hours_open=dt.time(9, 0),
        hours_close=dt.time(17, 0),
        after_hours_step1="ring_list",
        after_hours_mode="simultaneous",
        after_hours_seconds=8,
        after_hours_numbers=["13125550111"],
    )
    with transaction(factory) as s:
        s.execute(update(Account).where(Account.id == m.account_id).values(time_zone="America/Chicago"))
        s.add(CallBlock(virtual_number_id=m.vn_id, number="3125550199"))
    # 16:00 UTC is 10:00 in Chicago (December): open; 02:00 UTC is 20:00 the day before: closed
    with factory() as s:
        inside = simulate(s, m.vn_id, "+1 312 555 0100", dt.datetime(2026, 12, 7, 16, 0, tzinfo=dt.UTC))
        outside = simulate(s, m.vn_id, "13125550100", dt.datetime(2026, 12, 7, 2, 0, tzinfo=dt.UTC))
        blocked = simulate(s, m.vn_id, "+13125550199", dt.datetime(2026, 12, 7, 16, 0, tzinfo=dt.UTC))
        with pytest.raises(LookupError):
            simulate(s, m.vn_id + 100000, "13125550100")
    assert inside.time_zone == "America/Chicago" and inside.local_now.hour == 10
    assert inside.decision.why is Why.OFFICE_HOURS
    assert inside.walks[Outcome.NOANSWER] == [Ring((), RingMode.SIMULTANEOUS, 5, device=True), Voicemail()]
    assert outside.decision.why is Why.AFTER_HOURS and outside.local_now.hour == 20
    assert outside.walks[Outcome.NOANSWER] == [
        Ring(("13125550111",), RingMode.SIMULTANEOUS, 8),
        Voicemail(),
    ]
    assert blocked.decision.refusal is Refusal.BLOCKED and blocked.walks == {}
