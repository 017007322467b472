"""Every forwarding branch on the real Asterisk: a PSTN call to a DID, sent over SIP by the
test instance's carrier (SIPp from CARRIER_IP, as tests/asterisk/test_carrier_calls.py), runs
the member's Advanced Forwarding Option; the member's device is a SIPp phone that answers, is
busy (486) or does not answer; list targets are simulated PSTN numbers; voicemail is the Stasis
hand-off."""

from __future__ import annotations

import asyncio
from functools import partial

import pytest

from tests.support.events import StasisRecorder
from tests.support.members import add_did, make_member, set_forwarding
from tests.support.realparts import unique_number
from tests.support.sipp import Phone, SippResult, carrier_call, final_response

pytestmark = pytest.mark.asyncio(loop_scope="session")

# simulated PSTN: ...0486 busy, ...0408 rings out, anything else answers
PSTN_A = "13125550111"
PSTN_B = "13125550122"
PSTN_BUSY = "13125550486"
PSTN_RINGOUT = "13125550408"
PSTN_RINGOUT_2 = "12125550408"
CARRIER_CHANNEL = "PJSIP/voip-test-carrier-"  # the carrier's calls, as Asterisk names them
# the final response a carrier gets for each hangup cause (chan_pjsip's mapping)
SIP_FOR_CAUSE = {"17": 486, "19": 480}


@pytest.fixture(autouse=True)
def _need_sipp(need_sipp):
    pass


@pytest.fixture()
def stasis(controller):
    rec = StasisRecorder(controller.ari, leave=controller.stasis.apps)  # voicemail runs for real
    yield rec
    rec.close()


class PstnCall:
    """A PSTN caller of a DID, from the carrier: SIPp runs the call while the test watches
    Asterisk; once answered it stays `hold` seconds and hangs up. Its caller number is its
    own, so its channel's events are told from any other call's."""

    def __init__(self, controller, tmp_path, did: str, hold: int):
        self.did, self.caller = did, unique_number("1312")
        s = controller.settings
        call = partial(
            carrier_call, host=s.asterisk_host, port=s.sip_port, cwd=tmp_path, scenario="carrier_call_hold.xml",
            caller_name="PSTN Caller", stay_ms=hold * 1000, timeout=90,
        )  # fmt: skip
        self.task: asyncio.Task[SippResult] = asyncio.create_task(asyncio.to_thread(call, did, self.caller))

    async def result(self) -> SippResult:
        result = await self.task
        assert result.returncode == 0, f"SIPp exit {result.returncode}:\n{result.log()[-3000:]}"
        return result

    async def answered(self) -> bool:
        return final_response(await self.result()) == 200

    def leg_hangup(self) -> dict:
        return dict(Event="Hangup", Channel=lambda c: c.startswith(CARRIER_CHANNEL), CallerIDNum=self.caller)


async def call_did(controller, tmp_path, did: str, hold: int = 6) -> PstnCall:
    """A PSTN caller from the carrier that stays `hold` seconds once answered."""
    return PstnCall(controller, tmp_path, did, hold)


async def expect_hangup_cause(ami_events, call: PstnCall, cause: str, timeout: float = 30) -> None:
    """The carrier's leg ends with `cause`, unanswered, and the carrier is told so in SIP."""
    e = await ami_events.wait_for(timeout, **call.leg_hangup())
    assert e.get("Cause") == cause, e
    assert final_response(await call.result()) == SIP_FOR_CAUSE[cause]


# ----- step 1
async def test_step1_voicemail_sends_the_call_to_the_voicemail_app_without_ringing(
    controller, factory, settings, stasis, tmp_path
):
    m = make_member(factory, settings)
    did = add_did(factory, m)
    set_forwarding(factory, m, step1="voicemail")
    phone = Phone(
        "answer",
        m.number,
        m.sip_password,
        host=settings.asterisk_host,
        port=settings.sip_port,
        cwd=tmp_path,
        timeout=15,
    )
    try:
        call = await call_did(controller, tmp_path, did)
        await stasis.wait_for_args(["voicemail", m.number])
        assert phone.proc.poll() is None, "the phone rang although step 1 is voicemail"
        assert await call.answered()  # by voicemail
    finally:
        phone.stop()


async def test_step1_simultaneous_rings_every_listed_number_at_once(
    controller, factory, settings, tmp_path, ami_events, stasis
):
    m = make_member(factory, settings, credit="5.00", allow_us_canada_ld=True)
    did = add_did(factory, m)
    set_forwarding(
        factory,
        m,
        step1="ring_list",
        step1_mode="simultaneous",
        step1_seconds=4,
        step1_numbers=[PSTN_RINGOUT, PSTN_RINGOUT_2],
    )
    call = await call_did(controller, tmp_path, did)
    first = await ami_events.wait_for(20, UserEvent="SimPstn", Number=PSTN_RINGOUT, State="ringing")
    second = await ami_events.wait_for(20, UserEvent="SimPstn", Number=PSTN_RINGOUT_2, State="ringing")
    assert abs(float(first["Timestamp"]) - float(second["Timestamp"])) < 2.0 if "Timestamp" in first else True
    await stasis.wait_for_args(["voicemail", m.number], timeout=20)  # nobody answered: step 3
    assert await call.answered()  # by voicemail


async def test_step1_sequential_rings_the_next_number_after_the_first_rang_out(
    controller, factory, settings, tmp_path, ami_events
):
    m = make_member(factory, settings, credit="5.00", allow_us_canada_ld=True)
    did = add_did(factory, m)
    set_forwarding(
        factory,
        m,
        step1="ring_list",
        step1_mode="sequential",
        step1_seconds=3,
        step1_numbers=[PSTN_RINGOUT, PSTN_A],
    )
    call = await call_did(controller, tmp_path, did)
    ringing = await ami_events.wait_for(20, UserEvent="SimPstn", Number=PSTN_RINGOUT, State="ringing")
    answered = await ami_events.wait_for(20, UserEvent="SimPstn", Number=PSTN_A, State="answered")
    assert ami_events.events.index(ringing) < ami_events.events.index(answered)
    assert await call.answered()  # by the second number


async def test_step1_ring_list_unanswered_goes_to_voicemail(
    controller, factory, settings, tmp_path, ami_events, stasis
):
    m = make_member(factory, settings, credit="5.00", allow_us_canada_ld=True)
    did = add_did(factory, m)
    set_forwarding(
        factory,
        m,
        step1="ring_list",
        step1_mode="simultaneous",
        step1_seconds=2,
        step1_numbers=[PSTN_RINGOUT],
    )
    call = await call_did(controller, tmp_path, did)
    await stasis.wait_for_args(["voicemail", m.number], timeout=20)
    assert await call.answered()  # by voicemail


# ----- step 1 "no special forwarding" with the member's own phone
async def test_no_forwarding_rings_the_registered_phone_which_answers(
    controller, factory, settings, tmp_path, stasis
):
    m = make_member(factory, settings)
    did = add_did(factory, m)
    set_forwarding(factory, m, step1="none", device_seconds=5)
    phone = Phone(
        "answer", m.number, m.sip_password, host=settings.asterisk_host, port=settings.sip_port, cwd=tmp_path
    )
    call = await call_did(controller, tmp_path, did, hold=2)
    try:
        # waited in a thread: the controller answers the call in this event loop
        finished = await asyncio.to_thread(phone.wait, 20) == 0
        assert finished, phone.proc.stdout.read()[-1500:] if phone.proc.stdout else ""
    finally:
        phone.stop()
    assert await call.answered()
    assert not stasis.events, "an answered call went to voicemail"


@pytest.mark.parametrize(
    "device, step2, expect",
    [
        ("busy", "busy_list", "busy_list"),
        ("busy", "no_answer_list", "voicemail"),  # busy is not "no answer": list A is not used
        ("noanswer", "no_answer_list", "no_answer_list"),
        ("noanswer", "busy_list", "voicemail"),
        ("busy", "none", "voicemail"),
        ("noanswer", "none", "voicemail"),
    ],
)
async def test_step2_branches_follow_the_phones_answer(
    controller, factory, settings, tmp_path, ami_events, stasis, device, step2, expect
):
    m = make_member(factory, settings, credit="5.00", allow_us_canada_ld=True)
    did = add_did(factory, m)
    set_forwarding(
        factory,
        m,
        step1="none",
        device_seconds=3,
        no_answer_enabled=step2 == "no_answer_list",
        no_answer_mode="simultaneous",
        no_answer_seconds=5,
        no_answer_numbers=[PSTN_A],
        busy_enabled=step2 == "busy_list",
        busy_mode="sequential",
        busy_seconds=5,
        busy_numbers=[PSTN_B],
    )
    phone = Phone(
        device, m.number, m.sip_password, host=settings.asterisk_host, port=settings.sip_port, cwd=tmp_path
    )
    try:
        call = await call_did(controller, tmp_path, did)
        if expect == "voicemail":
            # a busy member's voicemail is told so (the busy greeting)
            busy = ["busy"] if device == "busy" else []
            await stasis.wait_for_args(["voicemail", m.number, *busy], timeout=25)
        else:
            target = PSTN_B if expect == "busy_list" else PSTN_A
            await ami_events.wait_for(
                25, Event="UserEvent", UserEvent="SimPstn", Number=target, State="answered"
            )
        assert await asyncio.to_thread(phone.wait, 20) == 0, f"the phone did not play its {device} part"
        assert await call.answered()  # by voicemail or the list's number
    finally:
        phone.stop()


# ----- step 3
@pytest.mark.parametrize("device, cause", [("busy", "17"), ("noanswer", "19")])
async def test_step3_without_voicemail_hangs_up_with_the_right_cause(
    controller, factory, settings, tmp_path, ami_events, stasis, device, cause
):
    m = make_member(factory, settings, voicemail_enabled=False)
    did = add_did(factory, m)
    set_forwarding(factory, m, step1="none", device_seconds=3)
    phone = Phone(
        device, m.number, m.sip_password, host=settings.asterisk_host, port=settings.sip_port, cwd=tmp_path
    )
    try:
        call = await call_did(controller, tmp_path, did)
        await expect_hangup_cause(ami_events, call, cause)
        assert not stasis.events
    finally:
        phone.stop()


async def test_unregistered_member_with_voicemail_off_is_not_answered(
    controller, factory, settings, tmp_path, ami_events
):
    m = make_member(factory, settings, voicemail_enabled=False)
    did = add_did(factory, m)
    set_forwarding(factory, m, step1="none", device_seconds=2)
    call = await call_did(controller, tmp_path, did)
    await expect_hangup_cause(ami_events, call, "19")


async def test_toll_free_did_rings_only_when_incoming_800_is_allowed(
    controller, factory, settings, tmp_path, ami_events, stasis
):
    m = make_member(factory, settings, allow_incoming_800=False)
    tf = add_did(factory, m, number="18005550" + m.number[-3:])
    set_forwarding(factory, m, step1="voicemail")
    call = await call_did(controller, tmp_path, tf)
    await ami_events.wait_for(15, Event="UserEvent", UserEvent="VoipRefused", Reason="incoming_800_blocked")
    await ami_events.wait_for(30, **call.leg_hangup())
    assert not [e for e in stasis.events if (e.get("args") or [""])[0] == "voicemail"]
    await call.result()

    from tests.support.members import set_options

    set_options(factory, m, allow_incoming_800=True)
    call = await call_did(controller, tmp_path, tf)
    await stasis.wait_for_args(["voicemail", m.number])
    assert await call.answered()  # by voicemail


async def test_unknown_did_is_refused_as_not_in_service(controller, tmp_path, ami_events):
    call = await call_did(controller, tmp_path, "13125559999")
    await ami_events.wait_for(15, Event="UserEvent", UserEvent="VoipRefused", Reason="not_in_service")
    await ami_events.wait_for(30, **call.leg_hangup())
    await call.result()


async def test_forwarding_to_the_pstn_is_charged_to_the_forwarding_member_and_both_legs_are_in_the_cdrs(
    controller, factory, settings, tmp_path, ami_events
):
    from sqlalchemy import select

    from db.models import Cdr, CdrCharge
    from tests.support.wait import until

    m = make_member(factory, settings, credit="5.00", allow_us_canada_ld=True)
    did = add_did(factory, m)
    set_forwarding(
        factory, m, step1="ring_list", step1_mode="simultaneous", step1_seconds=10, step1_numbers=[PSTN_A]
    )
    call = await call_did(controller, tmp_path, did, hold=3)
    await ami_events.wait_for(20, Event="UserEvent", UserEvent="SimPstn", Number=PSTN_A, State="answered")
    assert await call.answered()

    def legs():
        with factory() as s:
            inbound = s.scalars(select(Cdr).where(Cdr.dst == did, Cdr.dcontext == "incoming")).all()
            forwarded = s.scalars(
                select(Cdr).where(Cdr.vnum == m.number, Cdr.call_class == "R", Cdr.dialed == PSTN_A)
            ).all()
            return (inbound, forwarded) if inbound and forwarded else None

    inbound, forwarded = await until(legs, timeout=30, what="both CDR legs")
    assert inbound[0].vnum == m.number and inbound[0].call_class is None  # the inbound leg: not billed
    assert forwarded[0].billsec > 0

    def charged():
        with factory() as s:
            return s.scalar(select(CdrCharge).where(CdrCharge.cdr_id == forwarded[0].id))

    charge = await until(charged, timeout=20, what="the forwarded leg's charge")
    assert charge.account_id == m.account_id and charge.cost > 0
