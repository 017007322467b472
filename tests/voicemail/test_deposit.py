"""Leaving a message on the real Asterisk: a PSTN caller (SIPp from the test carrier's address)
reaches voicemail, hears the greeting, and sends a known core sound as its RTP audio into the
recording."""

from __future__ import annotations

import pytest

from controller.services.voicemail.service import wav_seconds
from tests.support.members import make_member, set_forwarding
from tests.support.sipp import final_response
from tests.support.wait import until
from tests.voicemail.helpers import (
    CALLER,
    KNOWN_SOUND_SECONDS,
    MwiPhone,
    drop_greeting,
    leave_message,
    messages,
    settle,
    vm_member,
    wait_for_messages,
    wav,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")

CARRIER_CHANNEL = "PJSIP/voip-test-carrier-"  # the carrier's calls, as Asterisk names them


@pytest.fixture(autouse=True)
def _need_sipp(need_sipp):
    pass


async def test_message_is_stored_with_about_the_sound_length_and_emailed_with_the_wav(
    controller, factory, settings, smtp_server
):
    m = vm_member(factory, settings, email="alice.member@example.test")
    await leave_message(controller, m.number, wait=1)
    [msg] = await wait_for_messages(factory, m, 1)
    # the caller waits 1 s (0.3 s greeting + beep), plays 3.16 s of speech, hangs up
    assert msg.folder == "new"
    assert KNOWN_SOUND_SECONDS - 0.4 <= msg.duration_seconds <= KNOWN_SOUND_SECONDS + 1.2, (
        msg.duration_seconds
    )
    assert abs(wav_seconds(msg.audio) - msg.duration_seconds) < 0.05
    assert (msg.caller_name, msg.caller_number) == CALLER

    [mail] = await smtp_server.wait_for(1)
    assert mail.rcpt_tos == ["alice.member@example.test"]
    assert m.number in mail.message["Subject"] and CALLER[1] in mail.message["Subject"]
    [(filename, content, mime)] = mail.attachments()
    assert filename.endswith(".wav") and mime == "audio/wav"
    assert content == msg.audio
    await until(lambda: messages(factory, m)[0].emailed_at is not None, what="emailed_at to be set")


async def test_registered_phone_gets_an_mwi_notify_with_one_new_message_and_smtp_down_keeps_it(
    controller, factory, settings, tmp_path, need_sipp
):
    # no smtp_server fixture here: the SMTP port is closed, the email fails after its retries
    m = vm_member(factory, settings, email="bob.member@example.test")
    phone = MwiPhone(
        m.number,
        m.sip_password,
        host=settings.asterisk_host,
        port=settings.sip_port,
        cwd=tmp_path,
        notifies=1,
    )
    try:
        await leave_message(controller, m.number, wait=1)
        await wait_for_messages(factory, m, 1)
        assert await phone.wait_for(1) == [("yes", 1, 0)]
        assert phone.finished_ok(), "the phone's SIPp scenario failed (NOTIFY not a message-summary?)"
    finally:
        phone.stop()
    emails = controller.stasis.apps["voicemail"].service.ctx.tasks
    await until(lambda: not emails, timeout=20, what="the email attempt to give up")
    [msg] = messages(factory, m)
    assert msg.emailed_at is None and msg.folder == "new"


async def test_message_shorter_than_the_minimum_is_discarded(controller, factory, settings, ari_events):
    m = vm_member(factory, settings, email=None)
    # recording starts ~0.75 s after the answer (greeting + beep); the caller is gone at ~1.4 s
    await leave_message(controller, m.number, wait=1, sound="beep")
    await until(
        lambda: any(
            e.get("type") == "RecordingFinished" and f"vm-{m.number}-" in e["recording"]["name"]
            for e in ari_events
        ),
        timeout=20,
        what="the recording to finish",
    )
    await settle(1.0)
    assert messages(factory, m) == []


async def test_without_a_greeting_the_default_one_names_the_number(controller, factory, settings, ari_events):
    m = vm_member(factory, settings, email=None)
    drop_greeting(factory, m)
    await leave_message(controller, m.number, wait=2, sound="beep")
    await until(
        lambda: any(
            e.get("type") == "PlaybackStarted" and e["playback"]["media_uri"] == f"digits:{m.number}"
            for e in ari_events
        ),
        timeout=15,
        what="the default greeting saying the number",
    )


async def test_greeting_uploaded_as_44khz_stereo_is_converted_and_played_before_the_beep(
    controller, factory, settings, ari_events
):
    m = vm_member(factory, settings, email=None, greeting=wav(0.5, 440, rate=44100, channels=2))
    await leave_message(controller, m.number, wait=2, sound="beep")
    media_dir = f"sound:{settings.vm_media_dir}/greeting-{m.vn_id}-"

    def greeting_done():
        return [
            e
            for e in ari_events
            if e.get("type") == "PlaybackFinished" and e["playback"]["media_uri"].startswith(media_dir)
        ]

    [done] = await until(greeting_done, timeout=15, what="the greeting to be played")
    assert done["playback"]["state"] == "done"
    await until(
        lambda: any(
            e.get("type") == "RecordingStarted" and f"vm-{m.number}-" in e["recording"]["name"]
            for e in ari_events
        ),
        timeout=10,
        what="the recording after the greeting",
    )


async def test_voicemail_off_hangs_up_without_entering_the_voicemail_app(
    controller, factory, settings, stasis, ami_events, tmp_path
):
    m = make_member(factory, settings, voicemail_enabled=False)
    set_forwarding(factory, m, step1="voicemail")
    result = await leave_message(controller, m.number, wait=1, cwd=tmp_path)
    hangup = await ami_events.wait_for(
        20, Event="Hangup", Channel=lambda c: c.startswith(CARRIER_CHANNEL), CallerIDNum=CALLER[1]
    )
    assert hangup.get("Cause") == "19"
    assert final_response(result) == 480  # the carrier is told: no answer (cause 19)
    assert not [e for e in stasis.events if (e.get("args") or [""])[0] == "voicemail"]
    assert messages(factory, m) == []
