"""Listening to messages by phone on the real Asterisk: the access number from any phone
(mailbox, then password), the feature code from the member's device; keys by DTMF (the caller
is SIPp from the test carrier's address, keying RFC 4733 events once answered, w = 0.5 s)."""

from __future__ import annotations

import asyncio

import pytest

from ari_apps.voicemail.retrieval import LOCKOUT_KIND
from db import lockouts
from db.models import Lockout
from tests.support.realparts import unique_number
from tests.support.sipp import SippResult, final_response, place_call
from tests.support.wait import until
from tests.voicemail.helpers import (
    VM_PASSWORD,
    MwiPhone,
    counts,
    dial_with_dtmf,
    messages,
    seed_messages,
    vm_member,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

CARRIER_CHANNEL = "PJSIP/voip-test-carrier-"  # the carrier's calls, as Asterisk names them


@pytest.fixture(autouse=True)
def _need_sipp(need_sipp):
    pass


async def _state(controller, channel: str) -> bool:
    return (await controller.ari.get(channel)).get("state") == "Up"


def access_number(settings) -> str:
    return settings.voicemail_numbers.split(",")[0].strip()


def access_leg(caller: str):
    """The carrier's call to the access number from `caller` ending."""
    return dict(Event="Hangup", Channel=lambda c: c.startswith(CARRIER_CHANNEL), CallerIDNum=caller)


async def ended_ok(call: asyncio.Task[SippResult]) -> None:
    """The caller's SIPp ran its whole scenario: answered, keyed, hung up by Asterisk."""
    result = await asyncio.wait_for(call, 30)
    assert result.ok and final_response(result) == 200, result.log()[-3000:]


async def test_wrong_password_three_times_is_refused_and_hung_up(
    controller, factory, settings, ami_events, ari_events, tmp_path
):
    m = vm_member(factory, settings, email=None)
    seed_messages(factory, m, 1.0)
    box, caller = m.number, unique_number("1415")
    call = dial_with_dtmf(
        access_number(settings),
        f"{box}#1111#{box}#2222#{box}#3333#",
        settings=settings,
        cwd=tmp_path,
        caller=caller,
    )
    hangup = await ami_events.wait_for(60, **access_leg(caller))
    assert hangup.get("Cause") == "21"
    await ended_ok(call)
    # never logged in: no count announced, no message played
    assert not [
        e
        for e in ari_events
        if e.get("type") == "PlaybackStarted" and e["playback"]["media_uri"] == "sound:vm-youhave"
    ]
    with factory() as s:
        row = s.get(Lockout, (LOCKOUT_KIND, lockouts.key_for(box)))
        assert row is not None and row.failures == 3
    assert counts(factory, m) == (1, 0)


async def test_saving_then_deleting_by_dtmf_moves_the_counts_and_sends_matching_notifies(
    controller, factory, settings, ami_events, tmp_path, need_sipp
):
    m = vm_member(factory, settings, email=None)
    phone = MwiPhone(
        m.number,
        m.sip_password,
        host=settings.asterisk_host,
        port=settings.sip_port,
        cwd=tmp_path,
        notifies=3,
    )
    try:
        first, second = seed_messages(factory, m, 1.5, 1.5)
        assert await phone.wait_for(1) == [("yes", 2, 0)]
        # log in, 2 (save) during the first message, ~2.4 s later 7 (delete) during the second;
        # keys typed ahead skip the prompts
        caller = unique_number("1415")
        call = dial_with_dtmf(
            access_number(settings),
            f"{m.number}#{VM_PASSWORD}#2wwww7",
            settings=settings,
            cwd=tmp_path,
            caller=caller,
        )
        await ami_events.wait_for(60, **access_leg(caller))
        await ended_ok(call)
        assert await phone.wait_for(3) == [("yes", 2, 0), ("yes", 1, 1), ("no", 0, 1)]
        assert phone.finished_ok()
    finally:
        phone.stop()
    rows = messages(factory, m)
    assert [(r.id, r.folder) for r in rows] == [(first, "saved")]
    assert counts(factory, m) == (0, 1)


async def test_feature_code_from_the_members_phone_opens_its_own_mailbox(
    controller, factory, settings, stasis, tmp_path, need_sipp
):
    m = vm_member(factory, settings, email=None)
    call = asyncio.create_task(
        asyncio.to_thread(
            place_call,
            m.number,
            m.sip_password,
            settings.vm_feature_code,
            host=settings.asterisk_host,
            port=settings.sip_port,
            cwd=tmp_path,
            timeout=30,
        )
    )
    try:
        event = await stasis.wait_for_args(["voicemail-main", m.number], timeout=20)
        channel = f"/channels/{event['channel']['id']}"
        # the app answers (the phone gets its 200 OK), then we hang up instead of keying a password
        await until(lambda: _state(controller, channel), timeout=10, what="the call to be answered")
        await controller.ari.delete(channel)
        result = await asyncio.wait_for(call, 30)
        assert result.ok, result.stdout[-1500:]
    finally:
        if not call.done():
            call.cancel()
