"""Holds never orphaned (issue 13, items 5 and 10) on the real Asterisk, from the member's own
SIPp phone (and the calling card's PSTN caller): a caller who hangs up while the decision is
being made does not freeze the credit, even with the rater stopped;
the sweeper frees the holds a dead controller left behind (and never a live call's); a FastAGI
request naming another call's hold releases nothing."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal

import pytest
import pytest_asyncio
from sqlalchemy import select, text

from controller.app import make_sweeper
from controller.services.holds import HoldSweeper, channel_list
from db.models import CallAuthorization
from tests.asterisk.test_outbound_calls import DOMESTIC, HANGS_UP, STAYS, completed, phone_calls
from tests.support.events import AmiRecorder
from tests.support.members import make_member
from tests.support.wait import until

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture()
def events(controller):
    rec = AmiRecorder(controller.ami, "UserEvent", "Hangup", "HangupRequest", "SoftHangupRequest")
    yield rec
    rec.close()


def holds_of(factory, account_id: int) -> list[CallAuthorization]:
    with factory() as s:
        return list(
            s.scalars(
                select(CallAuthorization)
                .where(CallAuthorization.account_id == account_id)
                .order_by(CallAuthorization.id)
            ).all()
        )


def lock_money(factory, account_id: int):
    """Row-lock the account's credit lots in a transaction of its own (commit it to let go): a
    decision's hold (voip_hold locks the money first) waits meanwhile."""
    locker = factory()
    locker.execute(
        text("SELECT id FROM credit_lots WHERE account_id = :a FOR UPDATE"), {"a": account_id}
    ).all()
    return locker


def decision_waits(factory) -> bool:
    with factory() as s:
        return bool(
            s.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'voip-agi'"
                    " AND datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
        )


async def stop_rater(controller) -> None:
    """The controller's rater stops (VOIP_RATER=off, or a rating backlog): CDRs wait."""
    controller._rater_stop.set()
    if controller._rater is not None:
        await controller._rater
        controller._rater = None


async def start_rater(controller) -> None:
    from controller.services.rater import run_rater

    controller._rater_stop.clear()
    controller._rater = asyncio.create_task(
        run_rater(controller.db_engine, controller._rater_stop), name="rater"
    )


@pytest_asyncio.fixture(loop_scope="session")
async def rater_back(controller):
    yield
    if controller._rater is None:
        await start_rater(controller)


async def test_a_caller_who_hangs_up_during_the_decision_does_not_freeze_the_credit(
    controller, rater_back, factory, settings, events, tmp_path, need_sipp
):
    """Without the rater, too: a hold does not wait for its call's CDR to be rated to go back
    (before, only the rating of the unanswered CDR, which the route's variables still reached,
    settled it)."""
    # $0.30 at $0.60/min: one call's hold takes all of it
    m = make_member(factory, settings, credit="0.30", allow_us_canada_ld=True)
    await stop_rater(controller)
    # the decision is slow: the member's credit lot is row-locked, so the hold's insert
    # (voip_hold locks the money first) waits while the phone gives up (CANCEL)
    locker = lock_money(factory, m.account_id)
    try:
        call = phone_calls(settings, m, DOMESTIC, tmp_path, scenario="uac_cancel.xml", timeout=20)
        await until(
            lambda: decision_waits(factory),
            timeout=10,
            interval=0.02,
            what="the decision waiting on the lock",
        )
        # the caller gives up before the decision is made: CANCEL, 487 (the channel itself ends
        # only when the decision's AGI returns)
        done, _ = await asyncio.wait({call}, timeout=1.5)
        assert done, "the phone's CANCEL did not end its call in time"
    finally:
        locker.commit()  # the decision goes on: the hold is inserted for a call that is gone
        locker.close()
    completed(await call)

    # the hold is given back within seconds, not when it expires hours later
    def released() -> bool:
        hs = holds_of(factory, m.account_id)
        return bool(hs) and all(h.settled_at is not None for h in hs)

    await until(released, timeout=15, what="the hung-up caller's hold released")
    assert not events.matching(UserEvent="SimPstn", Number=DOMESTIC)
    await start_rater(controller)

    # and the member's next call gets the credit
    call = phone_calls(settings, m, DOMESTIC, tmp_path, scenario=HANGS_UP)
    await events.wait_for(15, UserEvent="SimPstn", Number=DOMESTIC, State="answered")
    completed(await call)
    assert not events.matching(UserEvent="VoipRefused")


async def test_a_calling_card_caller_who_hangs_up_during_the_decision_does_not_freeze_the_credit(
    controller, factory, settings, events, tmp_path, need_sipp
):
    """The calling card's caller was answered long before the decision, and the hold's id goes
    to the billed leg, which never starts when the caller is gone: nothing names the hold."""
    from tests.asterisk.test_callingcard import card, dial_card, member_with_pin
    from tests.support.realparts import unique_number

    m = member_with_pin(factory, settings, "58213", credit="0.30")
    locker = lock_money(factory, m.account_id)
    try:
        await dial_card(
            controller, settings, card(m.number, "58213") + "w" * 14 + DOMESTIC + "#", unique_number("1415")
        )
        await until(
            lambda: decision_waits(factory), timeout=60, interval=0.05, what="the card call's decision"
        )
        access = settings.callingcard_numbers.split(",")[0]
        (leg,) = [
            c.name
            for c in await channel_list(controller.ami)
            if c.name.startswith(f"Local/{access}@from-pstn") and c.name.endswith(";2")
        ]
        await controller.ami.action({"Action": "Hangup", "Channel": leg})
        await asyncio.sleep(0.3)
    finally:
        locker.commit()  # the decision goes on: the hold is inserted for a caller who is gone
        locker.close()

    def released() -> bool:
        hs = holds_of(factory, m.account_id)
        return bool(hs) and all(h.settled_at is not None for h in hs)

    await until(released, timeout=20, what="the card caller's hold released")
    assert not events.matching(UserEvent="SimPstn", Number=DOMESTIC)
    # the member's next call, from the phone, gets the credit
    call = phone_calls(settings, m, DOMESTIC, tmp_path, scenario=HANGS_UP)
    await events.wait_for(15, UserEvent="SimPstn", Number=DOMESTIC, State="answered")
    completed(await call)


async def test_the_sweeper_of_a_restarted_controller_frees_what_the_old_one_left_held(
    controller, factory, settings, events, tmp_path, need_sipp
):
    m = make_member(factory, settings, credit="0.30", allow_us_canada_ld=True)
    await controller.holds.stop()  # the controller is down: nothing sweeps
    try:
        # what a controller that died between the hold and the dialplan leaves: a hold of a
        # channel that is gone, holding all of the member's credit for hours
        with factory() as s, s.begin():
            s.add(
                CallAuthorization(
                    uniqueid="1700000000.424242",
                    account_id=m.account_id,
                    virtual_number_id=m.vn_id,
                    call_class="D",
                    dialed=DOMESTIC,
                    rate_prefix="1",
                    max_seconds=30,
                    held_credit=Decimal("0.30"),
                    call_group="1700000000.424242",
                    expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=4),
                )
            )
        call = phone_calls(settings, m, DOMESTIC, tmp_path)
        await events.wait_for(15, UserEvent="VoipRefused", Reason="no_credit")
        completed(await call)
    finally:
        # the controller is back: a new sweeper, knowing nothing of the old one
        controller.holds = make_sweeper(controller)
        controller.holds.start()

    def leftover_released() -> bool:
        return all(h.settled_at is not None for h in holds_of(factory, m.account_id))

    await until(leftover_released, timeout=20, what="the sweeper releasing the leftover hold")

    # the next call gets the credit, and a sweep while it is up never releases its hold
    eager = HoldSweeper(controller.ami, controller.db, interval=1, grace=0)
    call = phone_calls(settings, m, DOMESTIC, tmp_path, scenario=HANGS_UP)
    await events.wait_for(15, UserEvent="SimPstn", Number=DOMESTIC, State="answered")
    assert await eager.sweep() == []
    live = [h for h in holds_of(factory, m.account_id) if h.settled_at is None]
    assert len(live) == 1 and live[0].held_credit == Decimal("0.30")
    completed(await call)


async def test_a_fastagi_request_naming_another_calls_hold_releases_nothing(
    controller, factory, settings, events, tmp_path, need_sipp
):
    m = make_member(factory, settings, credit="0.10", allow_us_canada_ld=True)  # a 10 s call
    call = phone_calls(settings, m, DOMESTIC, tmp_path, scenario=STAYS)
    await events.wait_for(15, UserEvent="SimPstn", Number=DOMESTIC, State="answered")
    (hold,) = holds_of(factory, m.account_id)
    assert hold.settled_at is None

    # a crafted FastAGI request: route release, another channel, the live call's hold id
    reader, writer = await asyncio.open_connection("127.0.0.1", settings.agi_port)
    headers = {
        "agi_network": "yes",
        "agi_network_script": f"{settings.agi_token}/release",
        "agi_request": f"agi://127.0.0.1:{settings.agi_port}/{settings.agi_token}/release",
        "agi_channel": "PJSIP/attacker-00000001",
        "agi_uniqueid": "1700000000.31337",
        "agi_arg_1": str(hold.id),
    }
    writer.write("".join(f"{k}: {v}\n" for k, v in headers.items()).encode() + b"\n")
    await writer.drain()
    commands = []
    while line := await asyncio.wait_for(reader.readline(), 5):
        commands.append(line.decode().strip())
        # every question about the channel is answered as the attacker likes
        writer.write(b"200 result=1 (1700000000.31337)\n")
        await writer.drain()
    writer.close()

    with factory() as s:
        assert s.get(CallAuthorization, hold.id).settled_at is None, commands
    completed(await call)  # cut by Asterisk at the limit; its CDR is rated, settling the hold

    def settled() -> bool:
        with factory() as s:
            return s.get(CallAuthorization, hold.id).settled_at is not None

    await until(settled, timeout=20, what="the rater settling the hold")
