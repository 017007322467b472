"""The member's greeting on the real Asterisk: recorded in the panel (a real WebM/Opus upload,
converted by ffmpeg) or by phone (voicemail menu, 0 then 1), then played by the voicemail
Stasis app before the beep of the next deposit."""

from __future__ import annotations

import hashlib
import io
import re
import subprocess
from pathlib import Path

import pytest

from controller.rules import channel_vars as cv
from controller.services.voicemail import service
from tests.support.wait import until
from tests.voicemail.helpers import (
    KNOWN_SOUND,
    KNOWN_SOUND_SECONDS,
    VM_PASSWORD,
    counts,
    drop_greeting,
    leave_message,
    vm_member,
    wait_for_messages,
)
from webpanel import create_app

pytestmark = pytest.mark.asyncio(loop_scope="session")

PANEL_PASSWORD = "Panel-Pass-1234"  # tests.support.members.make_member's
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def _greeting(factory, member) -> bytes | None:
    with factory() as s:
        row = service.get_greeting(s, member.vn_id)
        return row[0] if row else None


def _media_uri(settings, vn_id: int, audio: bytes) -> str:
    """The file the deposit writes for this greeting (controller.services.voicemail.media.MediaDir.greeting)."""
    return f"sound:{settings.vm_media_dir}/greeting-{vn_id}-{hashlib.sha256(audio).hexdigest()[:16]}"


def _upload_in_the_panel(settings, engine, member, audio: bytes, filename: str) -> dict:
    """Log in as the member (the real login form) and post the recording as the page's script
    does (multipart, CSRF token, Accept: application/json)."""
    app = create_app({"TESTING": True, "VOIP_SETTINGS": settings, "VOIP_ENGINE": engine})
    client = app.test_client()
    token = CSRF_RE.search(client.get("/login").get_data(as_text=True)).group(1)
    response = client.post(
        "/login", data={"csrf_token": token, "login": member.number, "password": PANEL_PASSWORD}
    )
    assert response.status_code == 302, response.get_data(as_text=True)[-500:]
    token = CSRF_RE.search(client.get("/voicemail/").get_data(as_text=True)).group(1)
    response = client.post(
        f"/voicemail/{member.number}/greeting",
        headers={"Accept": "application/json"},
        data={"csrf_token": token, "greeting": (io.BytesIO(audio), filename)},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def _events_of(events, kind: str, predicate) -> list[int]:
    return [i for i, e in enumerate(events) if e.get("type") == kind and predicate(e)]


async def test_a_greeting_uploaded_in_the_panel_is_played_before_the_beep_of_the_next_message(
    controller, factory, settings, engine, ari_events, tmp_path
):
    m = vm_member(factory, settings, email=None)
    drop_greeting(factory, m)
    webm = tmp_path / "greeting.webm"  # what Chromium's MediaRecorder uploads: WebM/Opus at 48 kHz
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=700:duration=1.2:sample_rate=48000",
            "-c:a",
            "libopus",
            str(webm),
        ],
        check=True,
        timeout=60,
    )
    reply = _upload_in_the_panel(settings, engine, m, webm.read_bytes(), "greeting.webm")
    assert reply["ok"], reply
    stored = _greeting(factory, m)
    uri = _media_uri(settings, m.vn_id, stored)

    await leave_message(controller, m.number, wait=3, sound=KNOWN_SOUND)
    [msg] = await wait_for_messages(factory, m, 1)
    started = _events_of(ari_events, "PlaybackStarted", lambda e: e["playback"]["media_uri"] == uri)
    finished = _events_of(ari_events, "PlaybackFinished", lambda e: e["playback"]["media_uri"] == uri)
    recording = _events_of(
        ari_events, "RecordingStarted", lambda e: e["recording"]["name"].startswith(f"vm-{m.number}-")
    )
    assert started and finished and recording, [e.get("type") for e in ari_events][-30:]
    assert ari_events[finished[0]]["playback"]["state"] == "done"
    assert started[0] < finished[0] < recording[0]  # the member's greeting, then the beep and the message
    # nothing else was played as the greeting (no default "the person at extension ...")
    assert not _events_of(
        ari_events, "PlaybackStarted", lambda e: e["playback"]["media_uri"] == f"digits:{m.number}"
    )
    # the file Asterisk played is the panel's conversion, byte for byte
    local = Path(settings.vm_media_local_dir) / f"{uri.rsplit('/', 1)[1]}.wav"
    assert local.read_bytes() == stored
    assert msg.folder == "new" and msg.duration_seconds > 1


async def test_a_greeting_recorded_by_phone_from_the_voicemail_menu_replaces_the_old_one(
    controller, factory, settings, ari_events
):
    m = vm_member(factory, settings, email=None)
    old = _greeting(factory, m)
    access_number = settings.voicemail_numbers.split(",")[0].strip()
    # log in, 0 (mailbox options, typed during the counts), 1 (record the greeting); after the
    # prompt and the beep the caller speaks (a known 3.16 s sound), then # ends it and 1 accepts
    await controller.ami.originate(
        f"Local/{access_number}@{cv.CTX_FROM_PSTN}",
        context=cv.CTX_TEST,
        exten="vmgreet",
        caller_id="Member <14155550100>",
        timeout_ms=30000,
        wait=30,
        variables={
            cv.VAR_TEST_DTMF: f"{m.number}#{VM_PASSWORD}#01",
            cv.VAR_TEST_WAIT: "9",
            cv.VAR_TEST_SOUND: KNOWN_SOUND,
            "VOIP_TEST_DTMF_AFTER": "#1",
        },
    )
    new = await until(
        lambda: (g := _greeting(factory, m)) is not None and g != old and g,
        timeout=60,
        what="the greeting recorded by phone",
    )
    seconds = service.wav_seconds(new)
    assert KNOWN_SOUND_SECONDS - 0.3 <= seconds <= KNOWN_SOUND_SECONDS + 6, seconds

    # the app stores the greeting, then says so: the confirmation may still be on its way
    def played() -> list[str]:
        return [e["playback"]["media_uri"] for e in ari_events if e.get("type") == "PlaybackStarted"]

    await until(lambda: "sound:vm-msgsaved" in played(), timeout=20, what="the 'saved' prompt")
    assert "sound:vm-rec-unv" in played()
    # the stored recording was removed from Asterisk's spool
    await until(
        lambda: any(
            e.get("type") == "PlaybackFinished" and e["playback"]["media_uri"] == "sound:vm-goodbye"
            for e in ari_events
        ),
        timeout=30,
        what="the goodbye",
    )
    stored = await controller.ari.get("/recordings/stored")
    assert not [r for r in stored if r["name"].startswith(f"vmgreet-{m.number}-")]
    assert counts(factory, m) == (0, 0)
