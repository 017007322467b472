"""The greeting recorded in the browser, end to end: Chromium's fake microphone plays a known
WAV (--use-file-for-fake-audio-capture), the page records it with MediaRecorder and uploads it,
the panel converts it with ffmpeg, and the next caller who reaches voicemail on the real
Asterisk hears that greeting (the voicemail Stasis app plays the member's file) before the beep."""

from __future__ import annotations

import array
import hashlib
import io
import subprocess
import wave

import pytest
import pytest_asyncio

from controller.services.voicemail import service
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, login, shot
from tests.support import members as callers
from tests.support.wait import until
from tests.voicemail.helpers import KNOWN_SOUND, leave_message, wait_for_messages

pytestmark = pytest.mark.asyncio(loop_scope="session")

TONE_HZ = 800


def dominant_hz(wav_bytes: bytes) -> float:
    """The frequency of a pure tone, from its zero crossings."""
    with wave.open(io.BytesIO(wav_bytes)) as w:
        rate = w.getframerate()
        samples = array.array("h", w.readframes(w.getnframes()))
    loud = [s for s in samples if abs(s) > 200]
    assert len(loud) > rate // 2, "the greeting is (nearly) silent"
    crossings = sum(1 for a, b in zip(samples, samples[1:], strict=False) if (a < 0) != (b < 0))
    return crossings / 2 / (len(samples) / rate)


@pytest_asyncio.fixture(loop_scope="session")
async def microphone_page(browser, live_panel, tmp_path):
    """A Chromium whose fake microphone plays an 800 Hz tone (48 kHz WAV made with ffmpeg)."""
    tone = tmp_path / "microphone.wav"
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
            f"sine=frequency={TONE_HZ}:duration=10:sample_rate=48000",
            "-ac",
            "1",
            str(tone),
        ],
        check=True,
        timeout=60,
    )
    chromium = await browser.browser_type.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[*CHROMIUM_ARGS, f"--use-file-for-fake-audio-capture={tone}"],
    )
    context = await chromium.new_context(
        base_url=live_panel.url, viewport={"width": 1280, "height": 900}, locale="en-US", timezone_id="UTC"
    )
    context.set_default_timeout(TIMEOUT_MS)
    await context.grant_permissions(["microphone"])
    page = await context.new_page()
    page.console_errors = []
    page.on("console", lambda m: page.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.console_errors.append(str(e)))
    seen = len(live_panel.errors)
    yield page
    await context.close()
    await chromium.close()
    assert not live_panel.errors[seen:], f"the panel raised: {live_panel.errors[seen:]!r}"


async def test_a_greeting_recorded_with_the_microphone_is_what_the_next_caller_hears_before_the_beep(
    microphone_page, make_member, factory, settings, controller
):
    page = microphone_page
    member = make_member()
    box = member
    callers.set_forwarding(factory, box, step1="voicemail")

    await login(page, member)
    await page.click('#sidenav a:text-is("Voicemail")')
    assert "default greeting" in await page.inner_text("#vm-greeting-status")
    assert await page.is_hidden("#vm-greeting-default-form")

    await page.click("#vm-record")
    await page.wait_for_function(
        "() => document.getElementById('vm-record').getAttribute('aria-pressed') === 'true'"
    )
    await page.wait_for_function(
        "() => /00:02/.test(document.getElementById('vm-greeting-status').textContent)"
    )
    await shot(page, "greeting-record-1-recording")
    await page.click("#vm-record")  # Stop and save
    await page.wait_for_function(
        "() => !document.getElementById('vm-greeting-status').classList.contains('vm-busy')", timeout=30_000
    )
    status = await page.inner_text("#vm-greeting-status")
    assert status.startswith("Your new greeting") and "is saved" in status, status
    assert await page.is_visible("#vm-greeting-audio") and await page.is_visible("#vm-greeting-default")
    await shot(page, "greeting-record-2-saved")

    with factory() as s:
        greeting, _format, _updated = service.get_greeting(s, member.virtual_number_id)
    with wave.open(io.BytesIO(greeting)) as w:  # what Asterisk's format_wav plays
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
    assert 1.5 <= service.wav_seconds(greeting) <= 8
    assert dominant_hz(greeting) == pytest.approx(TONE_HZ, rel=0.05)  # the microphone's tone

    # the page plays back what was saved (the same bytes)
    src = await page.get_attribute("#vm-greeting-audio", "src")
    response = await page.request.get(src)
    assert response.ok and await response.body() == greeting
    await page.evaluate("() => document.getElementById('vm-greeting-audio').play()")
    await page.wait_for_function("() => document.getElementById('vm-greeting-audio').currentTime > 0.3")

    # a caller reaches voicemail: the Stasis app plays this very file, then records the message
    uri = f"sound:{settings.vm_media_dir}/greeting-{member.virtual_number_id}-{hashlib.sha256(greeting).hexdigest()[:16]}"
    events: list[dict] = []

    async def record(event):
        events.append(event)

    controller.ari.on("*", record)
    try:
        await leave_message(
            controller, member.number, wait=service.wav_seconds(greeting) + 1.5, sound=KNOWN_SOUND
        )
        await wait_for_messages(factory, box, 1)
        kinds = await until(
            lambda: (
                [
                    (e["type"], (e.get("playback") or e.get("recording") or {}))
                    for e in events
                    if e.get("type") in ("PlaybackFinished", "RecordingStarted")
                ]
                or None
            ),
            timeout=10,
            what="the greeting and the recording",
        )
    finally:
        controller.ari.off("*", record)
    greeting_done = [
        i for i, (kind, obj) in enumerate(kinds) if kind == "PlaybackFinished" and obj.get("media_uri") == uri
    ]
    recording = [
        i
        for i, (kind, obj) in enumerate(kinds)
        if kind == "RecordingStarted" and obj.get("name", "").startswith(f"vm-{member.number}-")
    ]
    assert greeting_done and recording, kinds
    assert kinds[greeting_done[0]][1]["state"] == "done"  # played to the end, not cut short
    assert greeting_done[0] < recording[0]
    assert not page.console_errors, page.console_errors
