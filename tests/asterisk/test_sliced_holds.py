"""Sliced holds (issue 13, item "holds that do not starve concurrent calls") on the real
Asterisk, from the member's own SIPp phone: a call holds one slice of money at first, the
controller extends the hold (and moves the call's end on the live channel over AMI) while the
call lasts and money remains, and cuts it cleanly at the end of what was granted; many calls at
once on a small balance connect where whole-length holds let one through, and the sum charged
never exceeds the money.

The slice here is 20 s, extended when 10 s are left (production: VOIP_HOLD_SLICE_SECONDS 300,
VOIP_HOLD_EXTEND_BEFORE_SECONDS 45). The test deck bills $0.60/min per second: $0.05 is 5 s."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
import pytest_asyncio
from sqlalchemy import func, select

from controller.app import make_sweeper
from db.models import CallAuthorization, Cdr, CdrCharge, CreditLot
from tests.asterisk.test_outbound_calls import DOMESTIC, HANGS_UP, STAYS, completed, phone_calls
from tests.support.events import AmiRecorder
from tests.support.members import make_member
from tests.support.sipp import place_call
from tests.support.wait import until

pytestmark = pytest.mark.asyncio(loop_scope="session")

SLICE, BEFORE = 20, 10


@pytest.fixture()
def events(controller):
    rec = AmiRecorder(controller.ami, "UserEvent")
    yield rec
    rec.close()


@pytest_asyncio.fixture(loop_scope="session")
async def sliced(controller):
    """The controller deciding with 20 s slices, its extender adding one when 10 s are left."""
    before = controller.settings
    await controller.holds.stop()
    controller.settings = controller.deps.settings = dataclasses.replace(
        before, hold_slice_s=SLICE, hold_extend_before_s=BEFORE, hold_sweep_s=2
    )
    controller.holds = make_sweeper(controller)
    controller.holds.start()
    yield controller.settings
    await controller.holds.stop()
    controller.settings = controller.deps.settings = before
    controller.holds = make_sweeper(controller)
    controller.holds.start()


def charged(factory, account_id: int) -> tuple[Decimal, Decimal]:
    """(the sum the rater charged, the sum taken from the lots) for the account."""
    with factory() as s:
        cost = s.scalar(
            select(func.coalesce(func.sum(CdrCharge.cost), 0)).where(CdrCharge.account_id == account_id)
        )
        lots = s.scalars(select(CreditLot).where(CreditLot.account_id == account_id)).all()
        assert all(lot.remaining >= 0 for lot in lots)
        return Decimal(cost), sum((lot.original - lot.remaining for lot in lots), Decimal("0"))


async def test_a_call_longer_than_a_slice_is_extended_and_cut_when_the_money_runs_out(
    controller, sliced, factory, settings, events, tmp_path, need_sipp
):
    m = make_member(factory, settings, credit="0.35", allow_us_canada_ld=True)  # 35 s in all
    call = phone_calls(settings, m, DOMESTIC, tmp_path, scenario=STAYS, timeout=60)
    await events.wait_for(15, UserEvent="SimPstn", Number=DOMESTIC, State="answered")
    answered = time.monotonic()
    with factory() as s:
        (hold,) = s.scalars(
            select(CallAuthorization).where(CallAuthorization.account_id == m.account_id)
        ).all()
        assert hold.max_seconds == SLICE and hold.held_credit == Decimal("0.20")  # one slice at first
    completed(await call)  # Asterisk ended it, at the end of what was granted
    lasted = time.monotonic() - answered
    assert 31 <= lasted <= 38, lasted  # not cut at the first slice's end (20 s), nor let run on

    def cdr():
        with factory() as s:
            return s.scalar(select(Cdr).where(Cdr.vnum == m.number, Cdr.call_class == "D"))

    row = await until(cdr, timeout=30, what="the call's CDR")
    assert row.disposition == "ANSWERED" and 32 <= row.billsec <= 35, row.billsec
    with factory() as s:
        hold = s.get(CallAuthorization, hold.id)
        assert hold.max_seconds == 35 and hold.held_credit == Decimal("0.35")  # 20 s + 15 s granted

    def rated():
        with factory() as s:
            return s.scalar(select(CdrCharge).where(CdrCharge.cdr_id == row.id))

    ch = await until(rated, timeout=20, what="the rater's charge")
    assert ch.billable_seconds == row.billsec
    cost, taken = charged(factory, m.account_id)
    assert cost == taken == (Decimal("0.60") * row.billsec / 60).quantize(Decimal("0.0001"))
    assert cost <= Decimal("0.35")


CALLS = 20


async def test_many_concurrent_calls_on_a_small_balance_connect_and_never_spend_more_than_it(
    controller, sliced, factory, settings, events, tmp_path, need_sipp
):
    # $2.00: 200 s. A whole-length hold (4 h) takes all of it for the first call; a 20 s slice
    # holds $0.20, so ten calls fit at once
    m = make_member(factory, settings, credit="2.00", allow_us_canada_ld=True)

    def one(i: int):
        cwd = tmp_path / f"c{i}"
        cwd.mkdir()
        return place_call(
            m.number,
            m.sip_password,
            DOMESTIC,
            host=settings.asterisk_host,
            port=settings.sip_port,
            cwd=cwd,
            timeout=40,
            scenario=HANGS_UP,  # hangs up 2 s after the answer (a refusal ends on its own)
        )

    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(CALLS) as pool:
        results = await asyncio.gather(*(loop.run_in_executor(pool, one, i) for i in range(CALLS)))
    for r in results:
        completed(r)
    # each call once (by its channel: an AMI event may reach a recorder twice)
    answered = {str(e.get("Channel")) for e in events.matching(UserEvent="SimPstn", Number=DOMESTIC)}
    refused = {str(e.get("Channel")): e for e in events.matching(UserEvent="VoipRefused")}.values()
    assert len(answered) + len(refused) == CALLS, (len(answered), [e.get("Reason") for e in refused])
    assert len(answered) >= 8, f"only {len(answered)} of {CALLS} calls connected"

    def all_rated():
        with factory() as s:
            n = s.scalar(
                select(func.count())
                .select_from(CdrCharge)
                .join(Cdr, Cdr.id == CdrCharge.cdr_id)
                .where(Cdr.vnum == m.number, Cdr.call_class == "D", Cdr.disposition == "ANSWERED")
            )
            return n >= len(answered)

    await until(all_rated, timeout=30, what="every connected call charged")
    cost, taken = charged(factory, m.account_id)
    assert cost == taken and Decimal("0") < cost <= Decimal("2.00"), (cost, taken)
