"""The calling card on the real Asterisk: card number and PIN, lockout per card whatever the
caller ID, the access number's failure budget, balance announced, call with limit.
The caller is a Local channel that dials the access number and keys DTMF once answered
(Dial's D() option; each w waits 0.5 s): the card number (the member's virtual number) and
#, then the PIN and # (tests/asterisk/test_pin_guessing.py: the same through the carrier)."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import delete, select

from agi.callingcard import access_key
from db import accounts, lockouts
from db.models import Account, Cdr, Lockout, VirtualNumber
from tests.support.events import AmiRecorder
from tests.support.members import make_member
from tests.support.realparts import unique_number
from tests.support.smtp import smtp_server  # noqa: F401  (function-scoped aiosmtpd on loopback)
from tests.support.wait import until

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture()
def events(controller):
    rec = AmiRecorder(controller.ami, "UserEvent", "Hangup")
    yield rec
    rec.close()


def reset_pin_budgets(factory) -> None:
    """Forget the access numbers' failure budgets (one test's wrong PINs must not close PIN
    entry for the next test of the run)."""
    with factory() as s, s.begin():
        s.execute(
            delete(Lockout).where(Lockout.kind.in_([lockouts.KIND_CARD_BUDGET, lockouts.KIND_CONF_BUDGET]))
        )


@pytest.fixture(autouse=True)
def _fresh_budgets(factory):
    reset_pin_budgets(factory)
    yield
    reset_pin_budgets(factory)


def card(number: str, *pins: str) -> str:
    """The keys of a card login: the card number, then each PIN try."""
    return f"wwww{number}#" + "".join(f"wwww{pin}#" for pin in pins)


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
    # card and PIN while the prompts play, then wait out the balance announcement, then the number
    await dial_card(
        controller, settings, card(m.number, "73914") + "w" * 14 + "12125550100#", unique_number("1415")
    )
    await events.wait_for(40, UserEvent="SimPstn", Number="12125550100", State="answered")

    def cdr():
        with factory() as s:
            return s.scalar(select(Cdr).where(Cdr.vnum == m.number, Cdr.call_class == "D"))

    row = await until(cdr, timeout=40, what="the calling card call's CDR")
    assert row.disposition == "ANSWERED" and 4 <= row.billsec <= 6


async def test_wrong_pin_three_times_hangs_up(controller, factory, settings, events):
    m = member_with_pin(factory, settings, "40417")
    await dial_card(controller, settings, card(m.number, "11111", "22222", "33333"), unique_number("1415"))
    await events.wait_for(60, UserEvent="VoipRefused", Reason="forbidden")
    assert not events.matching(UserEvent="SimPstn")


async def test_silent_caller_is_hung_up_on(controller, settings, events):
    await dial_card(controller, settings, "w", unique_number("1415"), hold=60)
    await events.wait_for(60, **card_leg_hangup(settings))


async def test_wrong_pins_from_rotating_caller_ids_lock_the_card_even_for_the_right_pin(
    controller, factory, settings, events, caplog, smtp_server
):
    """Issue 13 item 1: the lockout is the card's, whatever caller ID the guesser shows; its
    owner is emailed when it locks, and unlocks it by setting a new PIN."""
    caplog.set_level(logging.INFO, logger="agi.callingcard")
    m = member_with_pin(factory, settings, "55123")
    with factory() as s, s.begin():
        s.get(Account, m.account_id).email = "card.owner@example.com"
    assert settings.card_pin_max_failures == 5
    # 3 wrong PINs from one caller ID, 2 from another: the 5th failure locks the card
    await dial_card(controller, settings, card(m.number, "11111", "22222", "33333"), unique_number("1415"))
    await events.wait_for(60, UserEvent="VoipRefused", Reason="forbidden")
    events.events.clear()
    await dial_card(controller, settings, card(m.number, "44444", "66666"), unique_number("1415"))
    await events.wait_for(60, UserEvent="VoipRefused", Reason="pin_locked")
    events.events.clear()
    # the right PIN, from a third caller ID: refused, the PIN not even asked
    caplog.clear()
    await dial_card(
        controller, settings, card(m.number, "55123") + "w" * 14 + "12125550100#", unique_number("1415")
    )
    await events.wait_for(30, UserEvent="VoipRefused", Reason="pin_locked")
    assert not events.matching(UserEvent="SimPstn")
    assert not [r for r in caplog.records if r.getMessage() == "calling card: balance announced"]
    events.events.clear()
    (mail,) = await until(lambda: smtp_server.messages, timeout=15, what="the card owner's lock mail")
    assert mail.rcpt_tos == ["card.owner@example.com"], mail.rcpt_tos
    assert f"Calling card {m.number} locked" in mail.message["Subject"]
    # another card is not locked by it (the lock is this card's, not the access number's)
    other = member_with_pin(factory, settings, "55124")
    caplog.clear()
    await dial_card(controller, settings, card(other.number, "55124"), unique_number("1415"), hold=14)
    await until(
        lambda: [r for r in caplog.records if r.getMessage() == "calling card: balance announced"],
        timeout=30,
        what="the other card's login",
    )
    assert not events.matching(UserEvent="VoipRefused")
    # the member unlocks the card by setting a new PIN (the panel's way: accounts.set_pin)
    with factory() as s, s.begin():
        vn = s.get(VirtualNumber, m.vn_id)
        accounts.set_pin(s, vn, "55125", key=settings.pin_hmac_key)
    caplog.clear()
    await dial_card(controller, settings, card(m.number, "55125"), unique_number("1415"), hold=14)
    await until(
        lambda: [r for r in caplog.records if r.getMessage() == "calling card: balance announced"],
        timeout=30,
        what="the unlocked card's login",
    )
    assert not events.matching(UserEvent="VoipRefused")


async def test_the_access_numbers_failure_budget_closes_pin_entry_for_every_card(
    controller, factory, settings, events, caplog
):
    """Issue 13: spraying many cards (one or two guesses each, from many caller IDs) is bounded
    by the access number's budget. The budget is filled to one short of its limit by earlier
    failures (rows as check_pin leaves them); the next wrong PIN, on a card that has no other
    failure, closes PIN entry on the number, and then a right PIN on a third card is refused."""
    caplog.set_level(logging.INFO, logger="agi.callingcard")
    access = settings.callingcard_numbers.split(",")[0].strip()
    sprayed, victim = member_with_pin(factory, settings, "81818"), member_with_pin(factory, settings, "82828")
    with factory() as s, s.begin():
        s.add(
            Lockout(kind=lockouts.KIND_CARD_BUDGET, key=access_key(access), failures=settings.pin_budget - 1)
        )
    await dial_card(controller, settings, card(sprayed.number, "11111"), unique_number("1415"))
    await events.wait_for(60, UserEvent="VoipRefused", Reason="pin_locked")
    events.events.clear()
    caplog.clear()
    await dial_card(controller, settings, card(victim.number, "82828"), unique_number("1415"))
    await events.wait_for(30, UserEvent="VoipRefused", Reason="pin_locked")
    assert not [r for r in caplog.records if r.getMessage() == "calling card: balance announced"]
    # refused on answer: neither the card number nor the PIN was asked
    with factory() as s:
        row = s.get(Lockout, (lockouts.KIND_CARD_BUDGET, access_key(access)))
        assert row is not None and row.locked_until is not None
        assert s.get(Lockout, (lockouts.KIND_CARD_PIN, lockouts.key_for(victim.number))) is None
        assert s.get(Lockout, (lockouts.KIND_CARD_PIN, lockouts.key_for(sprayed.number))).failures == 1
