"""Calls from the PSTN side as a carrier delivers them, over SIP: no AMI originate.

SIPp sends each INVITE from the test instance's carrier address (CARRIER_IP), unauthenticated:
asterisk_conf/templates/test/pjsip_test.conf.j2 knows the carrier by its source address (a
`type=identify` with `match`), and its endpoint is configured like production's PSTN trunk
(the same macro), so the call takes a carrier's path: from-pstn, then the DID's route, the
calling card's or the conference's. Keys are RFC 4733 telephone-events in the call's RTP, as
a carrier passes a caller's DTMF on (the captures sip-tester ships, tests/support/sipp.py).
Anything else that sends SIP unauthenticated is refused before it reaches a context.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial

import pytest
from sqlalchemy import select

from controller.rules import channel_vars as cv
from db import accounts
from db.models import Cdr, VirtualNumber
from tests.conference.phones import AriRecorder, make_conference
from tests.support.events import AmiRecorder
from tests.support.members import add_did, make_member, set_forwarding
from tests.support.realparts import unique_number
from tests.support.sipp import UNKNOWN_IP, Phone, SippResult, card_keys, carrier_call
from tests.support.wait import until

pytestmark = pytest.mark.asyncio(loop_scope="session")

CARRIER_CHANNEL = "PJSIP/voip-test-carrier-"  # the carrier's calls, as Asterisk names them
PSTN_DESTINATION = "12125550100"  # the simulated PSTN answers it


@pytest.fixture(autouse=True)
def _need_sipp(need_sipp):
    pass


@pytest.fixture()
def events(controller):
    rec = AmiRecorder(controller.ami, "UserEvent", "Hangup")
    yield rec
    rec.close()


def from_carrier(settings, tmp_path, dialed: str, caller: str, **kw) -> asyncio.Task[SippResult]:
    """The carrier's call, running in SIPp while the test watches events."""
    call = partial(carrier_call, host=settings.asterisk_host, port=settings.sip_port, cwd=tmp_path, **kw)
    return asyncio.create_task(asyncio.to_thread(call, dialed, caller))


def explain(result: SippResult) -> str:
    return f"SIPp exit {result.returncode}:\n{result.log('*errors.log')[-2000:]}\n{result.log()[-3000:]}"


def on_carrier(channel: str) -> bool:
    return channel.startswith(CARRIER_CHANNEL)


# ----- a DID: the carrier's call rings the member's registered phone
@pytest.mark.parametrize("caller_is", ["a PSTN number", "a member's number"])
async def test_a_did_called_from_the_carrier_rings_the_members_registered_phone(
    controller, factory, settings, tmp_path, events, caller_is
):
    m = make_member(factory, settings)
    did = add_did(factory, m)
    set_forwarding(factory, m, step1="none", device_seconds=15)
    # a caller ID that is a member's number (a call forwarded back to us through the PSTN)
    # is still the carrier's call: the source address says who sends it, not the From user
    caller = unique_number("1415") if caller_is == "a PSTN number" else make_member(factory, settings).number
    phone = Phone(
        "answer", m.number, m.sip_password, host=settings.asterisk_host, port=settings.sip_port, cwd=tmp_path
    )
    try:
        result = await from_carrier(settings, tmp_path, did, caller, talk_ms=2000)
        assert result.ok, explain(result)
        assert await asyncio.to_thread(phone.wait, 20) == 0, "the member's phone did not answer and hang up"
    finally:
        phone.stop()
    await events.wait_for(10, Event="Hangup", Channel=on_carrier)
    assert not events.matching(UserEvent="VoipRefused")

    def answered_cdr() -> Cdr | None:
        with factory() as s:
            return s.scalar(select(Cdr).where(Cdr.dst == did, Cdr.disposition == "ANSWERED"))

    cdr = await until(answered_cdr, timeout=20, what="the DID call's CDR")
    assert cdr is not None
    assert on_carrier(cdr.channel or ""), cdr.channel
    assert (cdr.dstchannel or "").startswith(f"PJSIP/{m.number}-"), cdr.dstchannel
    assert cdr.src == caller and cdr.dcontext in (cv.CTX_FROM_PSTN, cv.CTX_INCOMING), (cdr.src, cdr.dcontext)


# ----- anything else is refused before our dialplan
@pytest.mark.parametrize("caller_is", ["a PSTN number", "a member's number"])
async def test_a_call_from_an_unknown_address_is_refused_before_any_context(
    controller, factory, settings, tmp_path, events, caller_is
):
    m = make_member(factory, settings)
    did = add_did(factory, m)
    caller = unique_number("1415") if caller_is == "a PSTN number" else m.number
    handled = controller.agi.handled
    result = await from_carrier(
        settings, tmp_path, did, caller, scenario="carrier_refused.xml", source_ip=UNKNOWN_IP, timeout=20
    )
    assert result.ok, explain(result)
    # a challenge it cannot answer (no credentials: it is nobody's phone), or a refusal
    final = [ln for ln in result.log().splitlines() if ln.startswith("SIP/2.0 ")]
    assert final and final[-1].split()[1] in ("401", "403"), final
    # nothing reached a context: no channel was made (each one ends with a Hangup event), no
    # route ran. An absence: give a channel the time to have shown itself
    await asyncio.sleep(2)
    assert not events.matching(Event="Hangup", Exten=did), events.events
    assert not events.matching(Event="Hangup", CallerIDNum=caller), events.events
    assert controller.agi.handled == handled


# ----- the calling card's access number, the PIN keyed as RFC 4733 DTMF
def member_with_pin(factory, settings, pin: str, credit: str):
    m = make_member(factory, settings, credit=credit, allow_us_canada_ld=True)
    with factory() as s, s.begin():
        vn = s.scalar(select(VirtualNumber).where(VirtualNumber.id == m.vn_id))
        accounts.set_pin(s, vn, pin, key=settings.pin_hmac_key)
    return m


async def test_the_calling_card_from_the_carrier_takes_the_pin_and_the_number_as_dtmf(
    controller, factory, settings, tmp_path, events
):
    m = member_with_pin(factory, settings, "660247", credit="0.05")  # 5 s at $0.60/min (the test deck)
    access = settings.callingcard_numbers.split(",")[0].strip()
    caller = unique_number("1415")
    # the card number and the PIN while the prompts play, the balance announcement, then the
    # number: the same timing as tests/asterisk/test_callingcard.py's Local-channel caller
    call = from_carrier(
        settings, tmp_path, access, caller, scenario="carrier_call_dtmf.xml",
        dtmf=f"wwww{m.number}#wwww660247#" + "w" * 14 + PSTN_DESTINATION + "#",
    )  # fmt: skip
    await events.wait_for(45, UserEvent="SimPstn", Number=PSTN_DESTINATION, State="answered")
    # the card's limit ends the call: Asterisk hangs the carrier's leg up
    result = await call
    assert result.ok, explain(result)
    assert not events.matching(UserEvent="VoipRefused")
    await events.wait_for(10, Event="Hangup", Channel=on_carrier)

    def billed() -> Cdr | None:
        with factory() as s:
            return s.scalar(select(Cdr).where(Cdr.vnum == m.number, Cdr.call_class == "D"))

    row = await until(billed, timeout=40, what="the calling card call's CDR")
    assert row is not None
    assert row.disposition == "ANSWERED" and 4 <= (row.billsec or 0) <= 6, (row.disposition, row.billsec)
    assert row.dialed == PSTN_DESTINATION, row.dialed

    # the caller's leg is the carrier's call, put through to the billed leg (its CDR is written
    # when the carrier's leg ends, which may be after the billed leg's)
    def carrier_leg() -> Cdr | None:
        with factory() as s:
            legs = s.scalars(select(Cdr).where(Cdr.linkedid == row.linkedid)).all()
        found = [c for c in legs if on_carrier(c.channel or "")]
        assert len(found) <= 1, [c.channel for c in found]
        return found[0] if found else None

    card_leg = await until(carrier_leg, timeout=20, what="the carrier leg's CDR")
    assert (card_leg.dstchannel or "").startswith(f"Local/{PSTN_DESTINATION}@billed-out"), card_leg.dstchannel


async def test_a_wrong_calling_card_pin_from_the_carrier_is_refused(
    controller, factory, settings, tmp_path, events, caplog
):
    caplog.set_level(logging.INFO, logger="agi.callingcard")
    m = member_with_pin(factory, settings, "660248", credit="1.00")
    access = settings.callingcard_numbers.split(",")[0].strip()
    call = from_carrier(
        settings, tmp_path, access, unique_number("1415"), scenario="carrier_call_dtmf.xml",
        dtmf=card_keys(m.number, "11111", "22222", "33333"),
    )  # fmt: skip
    await events.wait_for(90, UserEvent="VoipRefused", Reason="forbidden")
    result = await call
    assert result.ok, explain(result)
    assert not events.matching(UserEvent="SimPstn")
    # three PINs were keyed and heard as wrong (silence ends the same way, unheard)
    wrong = [r for r in caplog.records if r.getMessage() == "calling card: wrong PIN"]
    assert [r.attempt for r in wrong] == [1, 2, 3]


# ----- the conference's access number, a guest PIN keyed as RFC 4733 DTMF
async def test_a_guest_calling_the_conference_from_the_carrier_joins_its_bridge_with_the_pin(
    controller, factory, settings, tmp_path
):
    conference = controller.stasis.apps["conference"]
    conf = make_conference(factory, quiet=True)
    access = settings.conference_numbers.split(",")[0].strip()
    caller = unique_number("1415")
    ari = AriRecorder(controller.ari, "StasisStart", "ChannelEnteredBridge", "StasisEnd")
    try:
        call = from_carrier(
            settings, tmp_path, access, caller, scenario="carrier_call_dtmf.xml",
            dtmf=f"ww{conf.pins['normal']}#",
        )  # fmt: skip
        start = await ari.wait_for(
            "StasisStart",
            lambda e: e.get("args") == ["conference"] and e["channel"]["caller"]["number"] == caller,
            timeout=30,
            what="for the carrier's call in the conference app",
        )
        channel = start["channel"]
        assert on_carrier(channel["name"]), channel["name"]
        room = await until(lambda: conference.rooms.get(conf.id), timeout=30, what="the conference to start")
        entered = await ari.wait_for(
            "ChannelEnteredBridge",
            lambda e: e["channel"]["id"] == channel["id"] and e["bridge"]["id"] == room.bridge_id,
            timeout=15,
            what="for the guest in the conference's bridge",
        )
        assert channel["id"] in room.participants, entered
        # the guest hangs up at the carrier: Asterisk ends the SIP call (BYE)
        await controller.ari.delete(f"/channels/{channel['id']}")
        result = await call
        assert result.ok, explain(result)
        await ari.wait_for(
            "StasisEnd", lambda e: e["channel"]["id"] == channel["id"], what="for the guest gone"
        )
    finally:
        ari.close()
