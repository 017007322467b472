"""The calling card on the real Asterisk: PIN tries, lockout, balance announced, call with limit.
The caller is a Local channel that dials the access number and keys DTMF once answered
(Dial's D() option; each w waits 0.5 s)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from db import accounts
from db.models import Cdr, VirtualNumber
from tests.support.events import AmiRecorder
from tests.support.members import make_member
from tests.support.realparts import unique_number
from tests.support.wait import until

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture()
def events(controller):
    rec = AmiRecorder(controller.ami, "UserEvent", "Hangup")
    yield rec
    rec.close()


def member_with_pin(factory, settings, pin: str, credit: str = "1.00"):
    m = make_member(factory, settings, credit=credit, allow_us_canada_ld=True)
    with factory() as s, s.begin():
        vn = s.scalar(select(VirtualNumber).where(VirtualNumber.id == m.vn_id))
        accounts.set_pin(s, vn, pin, key=settings.pin_hmac_key)
    return m


async def dial_card(controller, settings, dtmf: str, caller_id: str, hold: int = 40):
    access = settings.callingcard_numbers.split(",")[0]
    await controller.ami.originate(
        "Local/dtmfcall@voip-test",
        application="Wait",
        data=str(hold),
        variables={"TEST_TARGET": access, "TEST_DTMF": dtmf},
        caller_id=f"Card User <{caller_id}>",
        timeout_ms=30000,
        wait=90,
    )


def card_leg_hangup(settings):
    access = settings.callingcard_numbers.split(",")[0]
    return dict(
        Event="Hangup", Channel=lambda c: c.startswith(f"Local/{access}@from-pstn") and c.endswith(";2")
    )


async def test_good_pin_announces_balance_and_connects_the_call_with_its_limit(
    controller, factory, settings, events
):
    m = member_with_pin(factory, settings, "73914", credit="0.05")  # 5 s at the test deck's $0.60/min
    # PIN while the prompt plays, then wait out the balance announcement, then the number
    await dial_card(controller, settings, "wwww73914#" + "w" * 14 + "12125550100#", unique_number("1415"))
    await events.wait_for(40, UserEvent="SimPstn", Number="12125550100", State="answered")

    def cdr():
        with factory() as s:
            return s.scalar(select(Cdr).where(Cdr.vnum == m.number, Cdr.call_class == "D"))

    row = await until(cdr, timeout=40, what="the calling card call's CDR")
    assert row.disposition == "ANSWERED" and 4 <= row.billsec <= 6


async def test_wrong_pin_three_times_hangs_up(controller, settings, events):
    await dial_card(controller, settings, "wwww11111#wwww22222#wwww33333#", unique_number("1415"))
    await events.wait_for(60, UserEvent="VoipRefused", Reason="forbidden")
    assert not events.matching(UserEvent="SimPstn")


async def test_silent_caller_is_hung_up_on(controller, settings, events):
    await dial_card(controller, settings, "w", unique_number("1415"), hold=60)
    await events.wait_for(60, **card_leg_hangup(settings))


async def test_repeated_failures_lock_the_caller_id_even_for_a_good_pin(
    controller, factory, settings, events
):
    member_with_pin(factory, settings, "55123")
    caller = unique_number("1415")
    # 5 failures (the configured maximum) across two calls lock this caller ID
    await dial_card(controller, settings, "wwww11111#wwww22222#wwww33333#", caller)
    await events.wait_for(60, UserEvent="VoipRefused", Reason="forbidden")
    events.events.clear()
    # the 5th failure locks it: refused with the lockout's own announcement
    await dial_card(controller, settings, "wwww11111#wwww22222#wwww55123#", caller)
    await events.wait_for(60, UserEvent="VoipRefused", Reason="pin_locked")
    events.events.clear()
    # the right PIN from the locked caller ID is refused before it is even asked
    await dial_card(controller, settings, "wwww55123#" + "w" * 14 + "12125550100#", caller)
    await events.wait_for(30, UserEvent="VoipRefused", Reason="pin_locked")
    assert not events.matching(UserEvent="SimPstn")
