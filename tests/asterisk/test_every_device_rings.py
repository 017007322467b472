"""Every registered device of a number rings (issue 11, item 3), tried as phones do it.

A number allows three contacts; a desk phone and a softphone registered on it must both ring,
the first to answer takes the call and the other stops ringing (Asterisk CANCELs it). Each
device is a SIPp phone registered with the number's own SIP credentials from the port it
listens on; the caller is another member's SIPp phone calling through the real dialplan
(context members), or a PSTN caller on a DID. One phone picks up after a second of ringing
(uas_answer_after_ring.xml: a CANCEL fails it), the other never picks up (uas_noanswer.xml:
passes only when CANCELled). Ring times are long (15 s), so a CANCEL that comes within a few
seconds was the other phone's answer, not the ring time running out."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.events import StasisRecorder
from tests.support.members import Member, add_did, make_member, set_forwarding
from tests.support.sipp import Phone, place_call

pytestmark = pytest.mark.asyncio(loop_scope="session")

RING_SECONDS = 15
# the loser's CANCEL must come well before RING_SECONDS: the winner answered ~1 s after the INVITE
CANCELLED_WITHIN = 10.0

# simulated PSTN: ...0408 rings out, anything else answers
PSTN_A = "13125550111"
PSTN_RINGOUT = "13125550408"


@pytest.fixture(autouse=True)
def _need_sipp(need_sipp):
    pass


@contextmanager
def two_devices(
    settings, member: Member, cwd: Path, winner_first: bool = True
) -> Iterator[tuple[Phone, Phone]]:
    """(winner, loser): the phone that picks up and the one that only rings, both registered
    on `member`'s number; `winner_first`: which one registers first (the first contact)."""
    behaviours = ["answer_after_ring", "noanswer"] if winner_first else ["noanswer", "answer_after_ring"]
    phones: list[Phone] = []
    try:
        for behaviour in behaviours:
            phones.append(
                Phone(
                    behaviour,
                    member.number,
                    member.sip_password,
                    host=settings.asterisk_host,
                    port=settings.sip_port,
                    cwd=cwd,
                    timeout=40,
                )
            )
        winner, loser = phones if winner_first else reversed(phones)
        yield winner, loser
    finally:
        for phone in phones:
            phone.stop()


def output(phone: Phone) -> str:
    if phone.proc.poll() is None or phone.proc.stdout is None:
        return "(still running)"
    return phone.proc.stdout.read()[-1500:] + (phone.proc.stderr.read()[-800:] if phone.proc.stderr else "")


async def assert_first_answer_wins(winner: Phone, loser: Phone, started: float) -> None:
    """Both phones got the INVITE; the winner's scenario ran to its BYE (it took the call and
    was bridged: the caller's hang-up reached it); the loser was CANCELled soon after."""

    async def finished(phone: Phone) -> tuple[int, float]:
        code = await asyncio.to_thread(phone.wait, 40)
        return code, time.monotonic() - started

    (win_code, _), (lose_code, lose_at) = await asyncio.gather(finished(winner), finished(loser))
    assert (win_code, lose_code) == (0, 0), (
        f"answering device: exit {win_code} (0: INVITE, 200, ACK, BYE) {output(winner)}\n"
        f"ringing device: exit {lose_code} (0: INVITE, then CANCEL) {output(loser)}"
    )
    assert lose_at < CANCELLED_WITHIN, f"the second device rang {lose_at:.1f} s: not stopped by the answer"


async def member_phone_calls(settings, caller: Member, dialed: str, cwd: Path):
    """`caller`'s SIPp phone calls `dialed` through context members; it hangs up 2 s after the
    answer (the BYE must reach whichever device answered)."""
    return await asyncio.to_thread(
        place_call,
        caller.number,
        caller.sip_password,
        dialed,
        host=settings.asterisk_host,
        port=settings.sip_port,
        cwd=cwd,
        timeout=40,
        scenario="uac_call_bye.xml",
    )


@pytest.mark.parametrize("winner_first", [True, False], ids=["answering-phone-registered-first", "second"])
async def test_member_to_member_call_rings_both_devices_and_the_first_answer_takes_it(
    controller, factory, settings, tmp_path, winner_first
):
    caller = make_member(factory, settings)
    callee = make_member(factory, settings)
    set_forwarding(factory, callee, step1="none", device_seconds=RING_SECONDS)
    with two_devices(settings, callee, tmp_path, winner_first) as (winner, loser):
        started = time.monotonic()
        call = asyncio.create_task(member_phone_calls(settings, caller, callee.number, tmp_path))
        await assert_first_answer_wins(winner, loser, started)
        result = await call
        assert result.ok, f"the caller's call was not answered: {result.stdout[-1500:]}"


async def test_pstn_call_to_a_did_rings_both_devices(controller, factory, settings, tmp_path):
    member = make_member(factory, settings)
    did = add_did(factory, member)
    set_forwarding(factory, member, step1="none", device_seconds=RING_SECONDS)
    with two_devices(settings, member, tmp_path) as (winner, loser):
        started = time.monotonic()
        await controller.ami.originate(
            f"Local/{did}@from-pstn",
            application="Wait",
            data="3",
            caller_id="PSTN Caller <13125550000>",
            timeout_ms=60000,
            wait=30,
        )
        await assert_first_answer_wins(winner, loser, started)


@pytest.mark.parametrize(
    "forwarding",
    [
        pytest.param(
            dict(step1="ring_list", step1_mode="simultaneous", step1_numbers=["<member>", PSTN_RINGOUT]),
            id="step1-simultaneous-with-a-pstn-number",
        ),
        pytest.param(
            dict(step1="ring_list", step1_mode="sequential", step1_numbers=["<member>", PSTN_A]),
            id="step1-sequential-first",
        ),
        pytest.param(
            dict(
                step1="none",
                device_seconds=2,
                no_answer_enabled=True,
                no_answer_mode="simultaneous",
                no_answer_numbers=["<member>"],
            ),
            id="step2-no-answer-list-of-an-unregistered-forwarder",
        ),
    ],
)
async def test_a_virtual_number_in_a_forwarding_list_rings_all_its_devices(
    controller, factory, settings, tmp_path, ami_events, forwarding
):
    caller = make_member(factory, settings)
    forwarder = make_member(factory, settings, credit="5.00", allow_us_canada_ld=True)
    target = make_member(factory, settings)
    fields = {
        k: [target.number if n == "<member>" else n for n in v] if k.endswith("_numbers") else v
        for k, v in forwarding.items()
    }
    fields.update(step1_seconds=RING_SECONDS, no_answer_seconds=RING_SECONDS)
    set_forwarding(factory, forwarder, **fields)
    set_forwarding(factory, target, step1="none", device_seconds=RING_SECONDS)
    with two_devices(settings, target, tmp_path) as (winner, loser):
        started = time.monotonic()
        call = asyncio.create_task(member_phone_calls(settings, caller, forwarder.number, tmp_path))
        await assert_first_answer_wins(winner, loser, started)
        result = await call
        assert result.ok, f"the caller's call was not answered: {result.stdout[-1500:]}"
    # a sequential list stopped at the answer: its next (PSTN) number never rang
    assert not ami_events.matching(UserEvent="SimPstn", Number=PSTN_A)


async def test_an_unregistered_virtual_number_in_a_forwarding_list_is_passed_over_at_once(
    controller, factory, settings
):
    """No contact: the list's Dial finds the number unavailable at once (as before the change),
    and the plan goes on to voicemail without ringing out the list's 15 s."""
    forwarder = make_member(factory, settings)
    did = add_did(factory, forwarder)
    target = make_member(factory, settings)  # no phone registered
    set_forwarding(
        factory,
        forwarder,
        step1="ring_list",
        step1_mode="simultaneous",
        step1_seconds=RING_SECONDS,
        step1_numbers=[target.number],
    )
    stasis = StasisRecorder(controller.ari)
    try:
        started = time.monotonic()
        await controller.ami.originate(
            f"Local/{did}@from-pstn",
            application="Wait",
            data="3",
            caller_id="PSTN <13125550000>",
            timeout_ms=60000,
        )
        await stasis.wait_for_args(["voicemail", forwarder.number], timeout=CANCELLED_WITHIN)
        assert time.monotonic() - started < CANCELLED_WITHIN
    finally:
        stasis.close()
