"""Issue 13 items 1 and 3 through the carrier (SIP from the carrier's address, keys as RFC 4733
DTMF, each call showing the caller ID the guesser chose): guessing PINs from rotating caller
IDs gets nowhere. A calling card locks after its wrong PINs whoever called, and the right PIN
is then refused; the conference service closes PIN entry once its failure budget is spent,
and then even a right guest PIN is refused."""

from __future__ import annotations

import asyncio
import logging
from functools import partial

import pytest
from sqlalchemy import delete

from ari_apps.conference.entry import BUDGET_KEY
from db import lockouts
from db.models import Lockout
from tests.asterisk.test_callingcard import member_with_pin, reset_pin_budgets
from tests.conference.phones import AriRecorder, make_conference
from tests.support.events import AmiRecorder
from tests.support.realparts import unique_number
from tests.support.sipp import card_keys, carrier_call

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(autouse=True)
def _need_sipp(need_sipp):
    pass


@pytest.fixture(autouse=True)
def _fresh_budgets(factory):
    reset_pin_budgets(factory)
    yield
    reset_pin_budgets(factory)


@pytest.fixture()
def events(controller):
    rec = AmiRecorder(controller.ami, "UserEvent", "Hangup")
    yield rec
    rec.close()


def from_carrier(settings, tmp_path, dialed: str, dtmf: str):
    """A carrier's call showing a caller ID never seen before (the guesser's choice)."""
    call = partial(
        carrier_call,
        host=settings.asterisk_host,
        port=settings.sip_port,
        cwd=tmp_path,
        scenario="carrier_call_dtmf.xml",
        dtmf=dtmf,
    )
    return asyncio.create_task(asyncio.to_thread(call, dialed, unique_number("1415")))


async def test_wrong_card_pins_from_rotating_caller_ids_lock_the_card_and_the_right_pin_is_refused(
    controller, factory, settings, tmp_path, events, caplog
):
    caplog.set_level(logging.INFO, logger="agi.callingcard")
    m = member_with_pin(factory, settings, "470913")
    access = settings.callingcard_numbers.split(",")[0].strip()
    assert settings.card_pin_max_failures == 5
    # 3 wrong PINs, then 2 more from another caller ID: the card's 5th failure locks it
    first = from_carrier(settings, tmp_path, access, card_keys(m.number, "111111", "222222", "333333"))
    await events.wait_for(90, UserEvent="VoipRefused", Reason="forbidden")
    await first
    events.events.clear()
    second = from_carrier(settings, tmp_path, access, card_keys(m.number, "444444", "555555"))
    await events.wait_for(90, UserEvent="VoipRefused", Reason="pin_locked")
    await second
    events.events.clear()
    # a third caller ID keys the right PIN and a number: refused, nothing dialed
    caplog.clear()
    third = from_carrier(settings, tmp_path, access, card_keys(m.number, "470913", "12125550100"))
    await events.wait_for(90, UserEvent="VoipRefused", Reason="pin_locked")
    await third
    assert not events.matching(UserEvent="SimPstn")
    assert not [r for r in caplog.records if r.getMessage() == "calling card: balance announced"]
    wrong = [r for r in caplog.records if r.getMessage() == "calling card: wrong PIN"]
    assert wrong == []  # refused on the card number: the PIN was not even compared


async def test_wrong_conference_pins_from_rotating_caller_ids_close_pin_entry(
    controller, factory, settings, tmp_path
):
    """The conference budget counts every caller's wrong PINs: filled by earlier guessers to
    two short of its limit, two more wrong PINs from one more caller ID close PIN entry, and
    a guest calling next with the right PIN is refused before it is asked."""
    conference = controller.stasis.apps["conference"]
    conf = make_conference(factory, quiet=True)
    access = settings.conference_numbers.split(",")[0].strip()
    with factory() as s, s.begin():
        s.add(
            Lockout(
                kind=lockouts.KIND_CONF_BUDGET, key=BUDGET_KEY, failures=settings.conference_pin_budget - 2
            )
        )
    ari = AriRecorder(controller.ari, "StasisStart", "StasisEnd", "PlaybackStarted")

    def heard(channel_id: str) -> list[str]:
        return [
            e["playback"]["media_uri"]
            for e in ari.matching("PlaybackStarted")
            if e["playback"].get("target_uri") == f"channel:{channel_id}"
        ]

    async def caller(dtmf: str) -> list[str]:
        seen = {e["channel"]["id"] for e in ari.matching("StasisStart")}
        call = from_carrier(settings, tmp_path, access, dtmf)
        start = await ari.wait_for(
            "StasisStart",
            lambda e: e.get("args") == ["conference"] and e["channel"]["id"] not in seen,
            timeout=30,
            what="for the carrier's call in the conference app",
        )
        channel = start["channel"]["id"]
        await ari.wait_for("StasisEnd", lambda e: e["channel"]["id"] == channel, timeout=60, what="hang-up")
        await call
        return heard(channel)

    try:
        guesser = await caller("ww111999#ww222999#ww333999#")
        assert guesser.count("sound:conf-getpin") == 2, guesser  # the 2nd wrong PIN closed it
        assert guesser[-2:] == ["sound:confbridge-pin-bad", "sound:goodbye"], guesser
        guest = await caller(f"ww{conf.pins['normal']}#")
        assert "sound:conf-getpin" not in guest, guest
        assert guest[-2:] == ["sound:confbridge-pin-bad", "sound:goodbye"], guest
        assert conf.id not in conference.rooms
    finally:
        ari.close()
        with factory() as s, s.begin():
            s.execute(delete(Lockout).where(Lockout.kind == lockouts.KIND_CONF_BUDGET))
