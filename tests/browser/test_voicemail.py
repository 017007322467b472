"""The voicemail player in the browser: play a message (the <audio> really decodes and plays the
WAV the panel serves), save it, delete messages, and watch the New/Saved counts follow; then
record a greeting with the browser's (fake) microphone and hear it back."""

from __future__ import annotations

import pytest

from controller.services.voicemail import service
from tests.browser.conftest import login, shot
from tests.voicemail.helpers import seed_messages

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def counts(page) -> tuple[int, int]:
    return int(await page.inner_text("#vm-count-new")), int(await page.inner_text("#vm-count-saved"))


async def click_and_load(page, selector: str) -> None:
    async with page.expect_navigation():
        await page.click(selector)


def stored_counts(factory, member) -> tuple[int, int]:
    with factory() as s:
        return service.counts(s, member.virtual_number_id)


async def test_play_save_and_delete_messages_and_see_the_counts_change(page, make_member, factory):
    member = make_member()
    box = member
    seed_messages(factory, box, 3.0, 2.0)  # two New messages, 3 s and 2 s of tone
    await login(page, member)
    await page.click('#sidenav a:text-is("Voicemail")')
    assert await counts(page) == (2, 0)
    assert (await page.inner_text("#vm-position")).startswith("New 1")
    await shot(page, "journey-voicemail-1-two-new")

    # Play: the browser fetches the WAV and plays it; the elapsed time moves on
    await page.click("#vm-play")
    await page.wait_for_function(
        "() => { const a = document.getElementById('vm-audio'); return !a.paused && a.currentTime > 0.5; }"
    )
    assert await page.get_attribute("#vm-play", "aria-pressed") == "true"
    await page.wait_for_function("() => document.getElementById('vm-elapsed').textContent !== '00:00'")
    assert await page.evaluate("() => document.getElementById('vm-audio').duration") == pytest.approx(
        3.0, abs=0.1
    )
    await shot(page, "journey-voicemail-2-playing")
    await page.click("#vm-stop")
    assert await page.evaluate("() => document.getElementById('vm-audio').paused")

    # Save: New 1 moves to Saved; the player goes on to the next message
    await click_and_load(page, "#vm-save")
    assert await page.inner_text(".flash-success") == "The message was saved."
    assert await counts(page) == (1, 1)
    assert stored_counts(factory, member) == (1, 1)
    await shot(page, "journey-voicemail-3-saved")

    # Delete the message now shown (the other New one)
    assert (await page.inner_text("#vm-position")).startswith("New")
    await click_and_load(page, "#vm-delete")
    assert await page.inner_text(".flash-success") == "The message was deleted."
    assert await counts(page) == (0, 1)

    # ...and the saved one: the mailbox is empty
    assert (await page.inner_text("#vm-position")).startswith("Saved")
    await click_and_load(page, "#vm-delete")
    assert await counts(page) == (0, 0)
    assert await page.is_visible("#vm-empty")
    assert stored_counts(factory, member) == (0, 0)
    await shot(page, "journey-voicemail-4-empty")
    assert not page.console_errors, page.console_errors


async def test_recording_a_greeting_with_the_microphone_replaces_the_default_one(page, make_member, factory):
    """Chromium's fake microphone (--use-fake-device-for-media-stream) plays a beep; the page
    records it with MediaRecorder (WebM/Opus), uploads it, and the panel stores what Asterisk
    plays: 8 kHz mono PCM WAV."""
    member = make_member()
    await page.context.grant_permissions(["microphone"])
    await login(page, member)
    await page.click('#sidenav a:text-is("Voicemail")')
    assert "default greeting" in await page.inner_text("#vm-greeting-status")
    # nothing to go back to: "Use the default greeting" is not offered (its form is [hidden],
    # which panel.css keeps hidden although .inline-form is display: inline-flex)
    assert await page.get_attribute("#vm-greeting-default-form", "hidden") is not None
    assert not await page.is_visible("#vm-greeting-default")

    await page.click("#vm-record")
    await page.wait_for_function(
        "() => document.getElementById('vm-record').getAttribute('aria-pressed') === 'true'"
    )
    await page.wait_for_timeout(2500)
    await shot(page, "journey-voicemail-5-recording-greeting")
    await page.click("#vm-record")  # Stop and save
    status = page.locator("#vm-greeting-status")
    await page.wait_for_function(
        "() => !document.getElementById('vm-greeting-status').classList.contains('vm-busy')", timeout=30_000
    )
    message = await status.inner_text()
    assert message.startswith("Your new greeting") and "is saved" in message, message
    assert await page.is_visible("#vm-greeting-audio")
    assert await page.is_visible("#vm-greeting-default")  # now there is an own greeting to leave
    await shot(page, "journey-voicemail-6-greeting-saved")

    with factory() as s:
        audio, _format, _updated = service.get_greeting(s, member.virtual_number_id)
    assert audio[:4] == b"RIFF" and audio[8:12] == b"WAVE"
    assert 1.5 <= service.wav_seconds(audio) <= 8  # ~2.5 s recorded, plus the stop's delay

    # the page plays back what was saved
    await page.evaluate("() => document.getElementById('vm-greeting-audio').play()")
    await page.wait_for_function("() => document.getElementById('vm-greeting-audio').currentTime > 0.3")

    # and after a reload the page says so
    await page.reload()
    assert "own greeting" in await page.inner_text("#vm-greeting-status")
    assert await page.is_visible("#vm-greeting-default")

    # back to the default greeting: the button goes away again
    await click_and_load(page, "#vm-greeting-default")
    assert "default greeting" in await page.inner_text("#vm-greeting-status")
    assert not await page.is_visible("#vm-greeting-default")
    assert not page.console_errors, page.console_errors


async def test_the_player_and_the_list_show_the_same_length(page, make_member, factory):
    """Issue 16: a 2.5 s message read 00:03 in the player (the browser's Math.round of the audio's
    duration) and 00:02 in the list (Python's round). Both now show the server's one rule."""
    member = make_member()
    (message_id,) = seed_messages(factory, member, 2.5)
    await login(page, member)
    await page.goto(f"/voicemail/?m={message_id}")
    await page.wait_for_function("() => document.getElementById('vm-audio').readyState >= 1")
    assert await page.evaluate("() => document.getElementById('vm-audio').duration") == pytest.approx(
        2.5, abs=0.05
    )
    listed = await page.locator('td[data-label="Total"]').all_inner_texts()
    assert listed == ["00:03"]
    assert await page.inner_text("#vm-total") == "00:03"
    assert not page.console_errors, page.console_errors
