"""Screening, office hours and find-me confirmation (issue 16) on REAL calls: a PSTN caller
from the test carrier (SIPp from CARRIER_IP) calls a member's DID; route inbound decides with
controller.rules.screening on the caller ID as received and the account's local time; the
member's phone is a registered SIPp UAS; list targets are simulated PSTN numbers (...0408 rings
out, ...0491 answers and presses 1, anything else answers and stays silent); voicemail is the
real Stasis hand-off. The last test checks that the panel's simulator says what a call does."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import os
import time
from functools import partial
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from controller.rules import channel_vars as cv
from controller.rules.forwarding import Outcome, Ring, Voicemail
from controller.rules.screening import EVERY_DAY, Why
from db.models import Account, CallBlock, Cdr, CdrCharge, MemberCall
from db.session import transaction
from tests.support.events import AmiRecorder, StasisRecorder
from tests.support.members import add_did, make_member, set_forwarding
from tests.support.realparts import unique_number
from tests.support.sipp import Phone, SippResult, carrier_call, final_response
from tests.support.wait import until
from webpanel.forwarding.simulate import simulate

pytestmark = pytest.mark.asyncio(loop_scope="session")

CARRIER_CHANNEL = "PJSIP/voip-test-carrier-"
ZONE = "Asia/Tokyo"  # far from the machine's UTC: the account's zone is the one that counts
_exchanges = itertools.count(200 + os.getpid() % 600)


def pstn(suffix: str) -> str:
    """A simulated PSTN number no other test uses, ending in `suffix` (its behaviour)."""
    return f"1312{next(_exchanges) % 800 + 200:03d}{suffix}"


@pytest.fixture(autouse=True)
def _need_sipp(need_sipp):
    pass


@pytest.fixture()
def stasis(controller):
    rec = StasisRecorder(controller.ari, leave=controller.stasis.apps)  # voicemail runs for real
    yield rec
    rec.close()


@pytest.fixture()
def events(controller):
    """UserEvents and Hangups seen during one test (its only carrier call is the test's)."""
    rec = AmiRecorder(controller.ami, "UserEvent", "Hangup")
    yield rec
    rec.close()


def carrier_leg(channel: object) -> bool:
    """A channel of the carrier's call (a UserEvent with a Channel header of its own lists it
    twice)."""
    return CARRIER_CHANNEL in str(channel)


class PstnCall:
    """A PSTN caller of a DID from the carrier; once answered it stays `hold` seconds."""

    def __init__(self, controller, tmp_path, did: str, hold: int, caller: str | None = None):
        self.did, self.caller = did, caller if caller is not None else unique_number("1312")
        s = controller.settings
        call = partial(
            carrier_call, host=s.asterisk_host, port=s.sip_port, cwd=tmp_path, scenario="carrier_call_hold.xml",
            caller_name="PSTN Caller", stay_ms=hold * 1000, timeout=120,
        )  # fmt: skip
        self.task: asyncio.Task[SippResult] = asyncio.create_task(asyncio.to_thread(call, did, self.caller))

    async def result(self) -> SippResult:
        result = await self.task
        assert result.returncode == 0, f"SIPp exit {result.returncode}:\n{result.log()[-3000:]}"
        return result

    async def answered(self) -> bool:
        return final_response(await self.result()) == 200


def phone(settings, tmp_path, m, behaviour: str = "answer", timeout: int = 60) -> Phone:
    return Phone(
        behaviour, m.number, m.sip_password, host=settings.asterisk_host, port=settings.sip_port,
        cwd=tmp_path, timeout=timeout,
    )  # fmt: skip


def member_in_zone(factory, settings):
    m = make_member(factory, settings, credit="5.00", allow_us_canada_ld=True)
    with transaction(factory) as s:
        s.execute(update(Account).where(Account.id == m.account_id).values(time_zone=ZONE))
    return m


def hours_around_now(inside: bool) -> dict:
    """Office hours every day that hold the account's "now" (two hours either side) or do not
    (they open two hours from now and close two hours later)."""
    now = dt.datetime.now(ZoneInfo(ZONE)).replace(second=0, microsecond=0)
    if inside:
        opens, closes = now - dt.timedelta(hours=2), now + dt.timedelta(hours=2)
    else:
        opens, closes = now + dt.timedelta(hours=2), now + dt.timedelta(hours=4)
    return dict(hours_enabled=True, hours_days=EVERY_DAY, hours_open=opens.time(), hours_close=closes.time())


async def refused_with(events: AmiRecorder, call: PstnCall, reason: str) -> None:
    """The test's carrier call heard refusal `reason` and was hung up."""
    refused = await events.wait_for(30, UserEvent="VoipRefused", Reason=reason, Channel=carrier_leg)
    channel = refused["Channel"] if isinstance(refused["Channel"], str) else refused["Channel"][0]
    await events.wait_for(30, Event="Hangup", Channel=channel)


async def missed_call_row(factory, vnum: str, timeout: float = 30) -> MemberCall:
    """The member_calls row of the number's one call (its CDRs are written at hangup)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with factory() as s:
            row = s.scalars(select(MemberCall).where(MemberCall.vnum == vnum).order_by(MemberCall.id)).first()
        if row is not None:
            return row
        await asyncio.sleep(0.3)
    raise AssertionError(f"no member_calls row for {vnum}")


# ----- office hours
@pytest.mark.parametrize("inside", [True, False], ids=["inside", "outside"])
async def test_office_hours_pick_the_plan_by_the_accounts_local_time(
    controller, factory, settings, tmp_path, events, stasis, inside
):
    m = member_in_zone(factory, settings)
    did = add_did(factory, m)
    office = pstn("0111")
    set_forwarding(
        factory, m, step1="ring_list", step1_mode="simultaneous", step1_seconds=20, step1_numbers=[office],
        after_hours_step1="voicemail", **hours_around_now(inside),
    )  # fmt: skip
    call = PstnCall(controller, tmp_path, did, hold=4)
    if inside:  # the office plan: its number rings and answers
        await events.wait_for(40, UserEvent="SimPstn", Number=office, State="answered")
        assert await call.answered()
        assert not stasis.events
    else:  # after hours: straight to voicemail, the office number never rings
        await stasis.wait_for_args(["voicemail", m.number], timeout=40)
        assert await call.answered()  # by voicemail
        assert not events.matching(UserEvent="SimPstn", Number=office)


# ----- do not disturb
async def test_dnd_goes_to_voicemail_without_ringing_the_phone(
    controller, factory, settings, tmp_path, events, stasis
):
    m = member_in_zone(factory, settings)
    did = add_did(factory, m)
    set_forwarding(factory, m, step1="none", device_seconds=15, dnd=True)
    p = phone(settings, tmp_path, m)
    try:
        call = PstnCall(controller, tmp_path, did, hold=3)
        await stasis.wait_for_args(["voicemail", m.number], timeout=40)
        assert await call.answered()  # by voicemail
        assert p.proc.poll() is None, "the phone rang although do not disturb is on"
    finally:
        p.stop()
    row = await missed_call_row(factory, m.number)
    assert row.inbound and not row.answered  # Missed Calls lists it (voicemail is no answer)


# ----- blocked and anonymous callers
async def test_a_blocked_caller_is_refused_and_the_phone_does_not_ring(
    controller, factory, settings, tmp_path, events, stasis
):
    m = member_in_zone(factory, settings)
    did = add_did(factory, m)
    set_forwarding(factory, m, step1="none", device_seconds=15)
    caller = unique_number("1312")
    with transaction(factory) as s:  # stored as the member typed it: without the leading 1
        s.add(CallBlock(virtual_number_id=m.vn_id, number=caller[1:]))
    p = phone(settings, tmp_path, m)
    try:
        call = PstnCall(controller, tmp_path, did, hold=3, caller=caller)
        await refused_with(events, call, cv.REFUSE_CALLER_BLOCKED)
        await call.result()
        assert p.proc.poll() is None, "the phone rang for a blocked caller"
    finally:
        p.stop()
    assert not stasis.events, "a blocked caller reached voicemail"
    row = await missed_call_row(factory, m.number)
    assert row.inbound and not row.answered  # Call History shows it, refused, as missed


@pytest.mark.parametrize("reject", [True, False], ids=["rejected", "allowed"])
async def test_an_anonymous_caller_is_refused_only_when_the_number_says_so(
    controller, factory, settings, tmp_path, events, stasis, reject
):
    m = member_in_zone(factory, settings)
    did = add_did(factory, m)
    set_forwarding(factory, m, step1="none", device_seconds=15, reject_anonymous=reject)
    p = phone(settings, tmp_path, m)
    try:
        # a withheld number as carriers send it: From "Anonymous" <sip:anonymous@...>
        call = PstnCall(controller, tmp_path, did, hold=2, caller="anonymous")
        if reject:
            await refused_with(events, call, cv.REFUSE_ANONYMOUS)
            await call.result()
            assert p.proc.poll() is None, "the phone rang for a refused anonymous caller"
        else:
            assert await asyncio.to_thread(p.wait, 40) == 0, "the phone did not ring and answer"
            assert await call.answered()
            assert not events.matching(UserEvent="VoipRefused", Channel=carrier_leg)
    finally:
        p.stop()
    assert not stasis.events


# ----- find-me confirmation
async def test_a_forwarded_leg_that_does_not_press_1_is_not_connected(
    controller, factory, settings, tmp_path, events, stasis
):
    m = member_in_zone(factory, settings)
    did = add_did(factory, m)
    cell = pstn("0111")  # answers (its own voicemail, say) and never presses a key
    set_forwarding(
        factory, m, step1="ring_list", step1_mode="simultaneous", step1_seconds=20, step1_numbers=[cell],
        confirm_forwarded=True,
    )  # fmt: skip
    # the carrier's SIPp waits `hold` s for each next message: longer than the prompt and the
    # ten seconds the leg has to press 1, during which the caller hears only ringing
    call = PstnCall(controller, tmp_path, did, hold=30)
    leg = lambda c: f"Local/{cell}@{cv.CTX_FWD_OUT}" in str(c)  # noqa: E731
    await events.wait_for(40, UserEvent="SimPstn", Number=cell, State="answered")
    await events.wait_for(20, UserEvent="VoipFwdConfirm", State="asked", Channel=leg)
    # about ten seconds after the prompt: declined, hung up, and the plan goes on
    await events.wait_for(60, UserEvent="VoipFwdConfirm", State="declined", Channel=leg)
    await stasis.wait_for_args(["voicemail", m.number], timeout=40)
    assert not events.matching(UserEvent="VoipFwdConfirm", State="accepted")
    assert await call.answered()  # by voicemail, not by the cell phone


async def test_a_forwarded_leg_that_presses_1_is_connected(
    controller, factory, settings, tmp_path, events, stasis
):
    m = member_in_zone(factory, settings)
    did = add_did(factory, m)
    cell = pstn("0491")  # answers and presses 1
    set_forwarding(
        factory, m, step1="ring_list", step1_mode="simultaneous", step1_seconds=20, step1_numbers=[cell],
        confirm_forwarded=True,
    )  # fmt: skip
    call = PstnCall(controller, tmp_path, did, hold=20)  # longer than the prompt until the key
    leg = lambda c: f"Local/{cell}@{cv.CTX_FWD_OUT}" in str(c)  # noqa: E731
    await events.wait_for(60, UserEvent="VoipFwdConfirm", State="accepted", Channel=leg)
    assert await call.answered()
    assert not stasis.events, "a confirmed call went to voicemail"
    assert not events.matching(UserEvent="VoipFwdConfirm", State="declined")


def fwd_out_leg(number: str):
    """Matches a UserEvent's Channel when it is `number`'s fwd-out Local channel."""
    return lambda c: f"Local/{number}@{cv.CTX_FWD_OUT}" in str(c)


async def test_a_simultaneous_list_rings_on_while_a_leg_that_answered_is_asked(
    controller, factory, settings, tmp_path, events, stasis
):
    """Two cells rung together with confirmation: A answers at once (its own voicemail, say) and
    never presses 1; B answers 4 s later and presses 1. A is asked on its own Local channel
    (CTX_FWD_LEG) while B still rings, so B takes the call; before, A's answer ended the step."""
    m = member_in_zone(factory, settings)
    did = add_did(factory, m)
    cell_a, cell_b = pstn("0111"), pstn("0492")
    set_forwarding(
        factory, m, step1="ring_list", step1_mode="simultaneous", step1_seconds=20,
        step1_numbers=[cell_a, cell_b], confirm_forwarded=True,
    )  # fmt: skip
    call = PstnCall(controller, tmp_path, did, hold=20)
    await events.wait_for(40, UserEvent="VoipFwdConfirm", State="asked", Channel=fwd_out_leg(cell_a))
    await events.wait_for(40, UserEvent="VoipFwdConfirm", State="accepted", Channel=fwd_out_leg(cell_b))
    assert await call.answered()
    assert not stasis.events, "a confirmed call went to voicemail"
    assert not events.matching(UserEvent="VoipFwdConfirm", State="accepted", Channel=fwd_out_leg(cell_a))
    # each leg shows the caller ID route outbound gives a forwarded leg (the member's DID), as
    # before; each leg was asked once, on its fwd-out leg
    answered = {e["Number"]: e for e in events.matching(UserEvent="SimPstn", State="answered")}
    assert answered[cell_a]["CallerID"] == answered[cell_b]["CallerID"] in (did, m.number)
    asked = [e for e in events.matching(UserEvent="VoipFwdConfirm", State="asked")]
    assert all(f"@{cv.CTX_FWD_OUT}-" in str(e["Channel"]) for e in asked), asked

    def cdrs():
        with factory() as s:
            rows = s.scalars(select(Cdr).where(Cdr.linkedid == call_linkedid(s, did))).all()
        done = [r for r in rows if r.vnum == m.number and r.dialed in (cell_a, cell_b) and r.call_class]
        return rows if len(done) == 2 else None

    rows = await until(cdrs, timeout=40, what="the CDRs of both forwarded legs")
    # the caller's Dial has a CDR for each leg (Asterisk's CDRs: one per party B); the one
    # answered is B's, through its fwd-leg Local channel
    caller_legs = [r for r in rows if r.dcontext == cv.CTX_INCOMING and r.vnum == m.number]
    answered_by = [r.dstchannel for r in caller_legs if r.disposition == "ANSWERED"]
    assert len(answered_by) == 1 and answered_by[0].startswith(f"Local/{cell_b}@{cv.CTX_FWD_LEG}-"), (
        answered_by
    )
    # each PSTN leg is its fwd-out Local channel's CDR as before: the member's, classed, answered
    # (A too: it answered and heard the prompt), and charged; the fwd-leg channels' own CDRs
    # carry nothing of the member's (no number, no class: neither billed nor in Call History)
    legs = {r.dialed: r for r in rows if r.vnum == m.number and r.call_class}
    assert legs[cell_b].disposition == "ANSWERED" and legs[cell_b].billsec > 0
    assert legs[cell_a].disposition == "ANSWERED"
    assert all(r.channel.startswith("Local/") and f"@{cv.CTX_FWD_OUT}-" in r.channel for r in legs.values())
    wrappers = [r for r in rows if f"@{cv.CTX_FWD_LEG}-" in (r.channel or "")]
    assert wrappers and all(not r.vnum and not r.call_class for r in wrappers)

    def charged():
        with factory() as s:
            return s.scalar(select(CdrCharge).where(CdrCharge.cdr_id == legs[cell_b].id))

    charge = await until(charged, timeout=20, what="B's charge")
    assert charge.account_id == m.account_id and charge.cost > 0
    row = await missed_call_row(factory, m.number)
    assert row.inbound and row.answered  # Call History: one received call, answered


async def test_a_simultaneous_list_where_no_leg_presses_1_goes_to_the_next_step(
    controller, factory, settings, tmp_path, events, stasis
):
    m = member_in_zone(factory, settings)
    did = add_did(factory, m)
    cell_a, cell_b = pstn("0111"), pstn("0111")  # both answer and never press a key
    set_forwarding(
        factory, m, step1="ring_list", step1_mode="simultaneous", step1_seconds=20,
        step1_numbers=[cell_a, cell_b], confirm_forwarded=True,
    )  # fmt: skip
    call = PstnCall(controller, tmp_path, did, hold=30)
    # both are asked (the first answer no longer drops the other), both decline, the plan goes on
    for cell in (cell_a, cell_b):
        await events.wait_for(40, UserEvent="VoipFwdConfirm", State="asked", Channel=fwd_out_leg(cell))
    for cell in (cell_a, cell_b):
        await events.wait_for(60, UserEvent="VoipFwdConfirm", State="declined", Channel=fwd_out_leg(cell))
    await stasis.wait_for_args(["voicemail", m.number], timeout=40)
    assert not events.matching(UserEvent="VoipFwdConfirm", State="accepted")
    # each declined leg's Local channel ended as no answer (cause 19): the subroutine's
    # Return(declined) reached it as GOSUB_RETVAL
    for cell in (cell_a, cell_b):
        ended = [
            e
            for e in events.matching(Event="Hangup")
            if f"Local/{cell}@{cv.CTX_FWD_LEG}-" in str(e["Channel"])
        ]
        assert ended and all(e["Cause"] == "19" for e in ended), ended
    assert await call.answered()  # by voicemail, not by a cell phone


async def test_a_simultaneous_list_leg_that_answers_late_still_has_its_time_to_press_1(
    controller, factory, settings, tmp_path, events, stasis
):
    """The list rings 5 s; B answers after 4 s and presses 1 about 2 s later, past the list's
    5 s: each leg rings the list's seconds, but the list's own Dial waits FWD_CONFIRM_GRACE longer
    for a leg that is being asked. The other leg rings out after its 5 s all the same."""
    m = member_in_zone(factory, settings)
    did = add_did(factory, m)
    cell_a, cell_b = pstn("0408"), pstn("0492")
    set_forwarding(
        factory, m, step1="ring_list", step1_mode="simultaneous", step1_seconds=5,
        step1_numbers=[cell_a, cell_b], confirm_forwarded=True,
    )  # fmt: skip
    call = PstnCall(controller, tmp_path, did, hold=20)
    await events.wait_for(40, UserEvent="VoipFwdConfirm", State="accepted", Channel=fwd_out_leg(cell_b))
    assert await call.answered()
    assert not stasis.events, "a confirmed call went to voicemail"


async def test_a_simultaneous_list_that_rings_out_goes_on_after_its_seconds(
    controller, factory, settings, tmp_path, events, stasis
):
    """Nobody answers: the step ends when the legs have rung the list's seconds, not after the
    longer wait the list's Dial keeps for a leg being asked."""
    m = member_in_zone(factory, settings)
    did = add_did(factory, m)
    cell_a, cell_b = pstn("0408"), pstn("0408")
    set_forwarding(
        factory, m, step1="ring_list", step1_mode="simultaneous", step1_seconds=5,
        step1_numbers=[cell_a, cell_b], confirm_forwarded=True,
    )  # fmt: skip
    call = PstnCall(controller, tmp_path, did, hold=30)
    await events.wait_for(40, UserEvent="SimPstn", Number=cell_a, State="ringing")
    rang = time.monotonic()
    await stasis.wait_for_args(["voicemail", m.number], timeout=40)
    waited = time.monotonic() - rang
    assert waited < 5 + cv.FWD_CONFIRM_GRACE / 2, f"voicemail {waited:.1f} s after the list began to ring"
    assert await call.answered()  # by voicemail
    assert not events.matching(UserEvent="VoipFwdConfirm")


def call_linkedid(session, did: str) -> str | None:
    """The linkedid of the test's one call to `did` (its caller's CDR in context incoming)."""
    return session.scalar(select(Cdr.linkedid).where(Cdr.dst == did, Cdr.dcontext == cv.CTX_INCOMING))


async def test_without_confirmation_the_answering_leg_is_connected_at_once(
    controller, factory, settings, tmp_path, events, stasis
):
    m = member_in_zone(factory, settings)
    did = add_did(factory, m)
    cell = pstn("0111")
    set_forwarding(
        factory, m, step1="ring_list", step1_mode="simultaneous", step1_seconds=20, step1_numbers=[cell]
    )
    call = PstnCall(controller, tmp_path, did, hold=4)
    await events.wait_for(40, UserEvent="SimPstn", Number=cell, State="answered")
    assert await call.answered()
    assert not events.matching(UserEvent="VoipFwdConfirm")
    assert not stasis.events


async def test_on_the_road_the_phone_and_the_cell_ring_together_and_the_phone_is_not_asked(
    controller, factory, settings, tmp_path, events, stasis
):
    """The "On the road" preset: a list of the number itself (its own phone) and the cell, rung
    together. With find-me confirmation on, the cell would be asked to press 1; the member's own
    phone answering is the member and is connected at once."""
    m = member_in_zone(factory, settings)
    did = add_did(factory, m)
    cell = pstn("0408")  # rings out
    set_forwarding(
        factory, m, step1="ring_list", step1_mode="simultaneous", step1_seconds=20,
        step1_numbers=[m.number, cell], confirm_forwarded=True,
    )  # fmt: skip
    p = phone(settings, tmp_path, m)  # answers
    try:
        call = PstnCall(controller, tmp_path, did, hold=4)
        await events.wait_for(40, UserEvent="VoipFwdConfirm", State="own")
        assert await call.answered()
    finally:
        p.stop()
    assert not stasis.events, "the phone answered, yet the call went to voicemail"
    assert not events.matching(UserEvent="VoipFwdConfirm", State="asked")


# ----- the simulator says what a call does
async def test_the_simulators_answer_is_what_a_real_call_then_does(
    controller, factory, settings, tmp_path, events, stasis
):
    m = member_in_zone(factory, settings)
    did = add_did(factory, m)
    office = pstn("0111")
    first, second = pstn("0408"), pstn("0408")
    set_forwarding(
        factory, m, step1="ring_list", step1_mode="simultaneous", step1_seconds=20, step1_numbers=[office],
        after_hours_step1="ring_list", after_hours_mode="sequential", after_hours_seconds=3,
        after_hours_numbers=[first, second], **hours_around_now(inside=False),
    )  # fmt: skip
    caller = unique_number("1312")
    with factory() as s:
        sim = simulate(s, m.vn_id, caller)
    assert sim.decision.refusal is None and sim.decision.why is Why.AFTER_HOURS
    walk = sim.walks[Outcome.NOANSWER]  # nothing answers: the ring-out numbers
    assert isinstance(walk[-1], Voicemail)
    expected = [t for step in walk if isinstance(step, Ring) for t in step.targets]
    assert expected == [first, second]

    # SIPp waits `hold` s for each next message: longer than the two numbers ring
    call = PstnCall(controller, tmp_path, did, hold=30, caller=caller)
    await stasis.wait_for_args(["voicemail", m.number], timeout=60)
    assert await call.answered()  # by voicemail, the simulation's last step
    rang = [
        e["Number"]
        for e in events.matching(UserEvent="SimPstn", State="ringing")
        if e.get("Number") in (office, first, second)
    ]
    assert rang == expected  # the same numbers, in the same order
    assert not events.matching(UserEvent="SimPstn", Number=office)
