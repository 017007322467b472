"""Pure parts of voicemail: the MWI body and AMI action, prompts, WAV conversion."""

from __future__ import annotations

import io
import wave

import pytest

from ari_apps.voicemail.deposit import default_greeting, recording_name
from ari_apps.voicemail.retrieval import count_prompt, message_intro
from controller.services.voicemail.media import to_asterisk_wav
from controller.services.voicemail.mwi import message_summary, pjsip_notify_action
from controller.services.voicemail.service import wav_seconds
from tests.voicemail.helpers import wav


@pytest.mark.parametrize(
    "new, saved, body",
    [
        (0, 0, ["Messages-Waiting: no", "Voice-Message: 0/0 (0/0)"]),
        (1, 0, ["Messages-Waiting: yes", "Voice-Message: 1/0 (0/0)"]),
        (0, 3, ["Messages-Waiting: no", "Voice-Message: 0/3 (0/0)"]),
        (2, 5, ["Messages-Waiting: yes", "Voice-Message: 2/5 (0/0)"]),
    ],
)
def test_message_summary_body_waits_only_for_new_messages(new, saved, body):
    assert message_summary(new, saved) == body


def test_pjsip_notify_action_carries_event_content_type_and_body_lines_in_order():
    action = pjsip_notify_action("17005550001", 1, 2)
    assert action["Action"] == "PJSIPNotify" and action["Endpoint"] == "17005550001"
    assert action["Variable"] == [
        "Event=message-summary",
        "Content-Type=application/simple-message-summary",
        "Content=Messages-Waiting: yes",
        "Content=Voice-Message: 1/2 (0/0)",
    ]


def test_default_greeting_says_the_number_digit_by_digit():
    assert default_greeting("17005550001") == (
        "sound:vm-theperson",
        "digits:17005550001",
        "sound:vm-isunavail",
        "sound:vm-intro",
    )


def test_recording_name_is_safe_for_a_file_name():
    assert recording_name("17005550001", "1795659625.12") == "vm-17005550001-1795659625-12"


@pytest.mark.parametrize(
    "new, saved, expected",
    [
        (
            0,
            0,
            (
                "sound:vm-youhave",
                "sound:vm-no",
                "sound:vm-INBOX",
                "sound:vm-messages",
                "sound:vm-and",
                "sound:vm-no",
                "sound:vm-saved",
                "sound:vm-messages",
            ),
        ),
        (
            1,
            2,
            (
                "sound:vm-youhave",
                "number:1",
                "sound:vm-INBOX",
                "sound:vm-message",
                "sound:vm-and",
                "number:2",
                "sound:vm-saved",
                "sound:vm-messages",
            ),
        ),
    ],
)
def test_count_prompt(new, saved, expected):
    assert count_prompt(new, saved) == expected


def test_message_intro_first_middle_last():
    assert message_intro(0, 3) == ("sound:vm-first", "sound:vm-message")
    assert message_intro(1, 3) == ("sound:vm-message", "number:2")
    assert message_intro(2, 3) == ("sound:vm-last", "sound:vm-message")


def test_asterisk_wav_is_kept_as_is():
    audio = wav(0.5, 440)
    assert to_asterisk_wav(audio) is audio


@pytest.mark.parametrize("rate, channels, width", [(44100, 2, 2), (16000, 1, 2), (8000, 2, 1), (22050, 1, 3)])
def test_other_pcm_wavs_become_8khz_16bit_mono_of_the_same_length(rate, channels, width):
    converted = to_asterisk_wav(wav(1.0, 440, rate=rate, channels=channels, width=width))
    with wave.open(io.BytesIO(converted)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
    assert abs(wav_seconds(converted) - 1.0) < 0.01


def test_not_a_wav_is_refused():
    assert to_asterisk_wav(b"ID3\x03 an mp3, not a wav") is None
    assert wav_seconds(b"garbage") == 0.0


# ----- Line: keys stop prompts and are typed ahead (a fake ARI that finishes what it is told)
import asyncio  # noqa: E402

from ari_apps.line import CallerGone, Line  # noqa: E402


class FakeARI:
    def __init__(self):
        self.requests: list[tuple[str, str, dict]] = []
        self.line: Line | None = None

    async def request(self, method, path, **params):
        self.requests.append((method, path, params))
        if method == "DELETE" and path.startswith("/playbacks/"):
            self.line.feed({"type": "PlaybackFinished", "playback": {"id": path.rsplit("/", 1)[1]}})

    async def delete(self, path, **params):
        return await self.request("DELETE", path, **params)

    def played(self) -> list[str]:
        return [p["media"] for m, path, p in self.requests if m == "POST" and "/play/" in path]


def fake_line() -> tuple[FakeARI, Line]:
    ari = FakeARI()
    ari.line = Line(ari, {"id": "1.1", "caller": {"name": "A", "number": "1312"}})
    return ari, ari.line


async def test_a_key_stops_the_prompt_stays_buffered_and_skips_the_rest():
    ari, line = fake_line()
    task = asyncio.create_task(line.play("sound:a", "sound:b"))
    await asyncio.sleep(0.01)
    line.feed({"type": "ChannelDtmfReceived", "digit": "7", "channel": {"id": "1.1"}})
    assert await asyncio.wait_for(task, 1) is True
    assert ari.played() == ["sound:a"]
    assert any(m == "DELETE" and p.startswith("/playbacks/") for m, p, _ in ari.requests)
    assert await line.play("sound:c") is True  # typed ahead: not even started
    assert await line.read_key(0.1) == "7"
    assert await line.read_key(0.05) is None


async def test_read_digits_stops_at_the_terminator_and_a_hangup_ends_the_line():
    ari, line = fake_line()
    for d in "2468#9":
        line.feed({"type": "ChannelDtmfReceived", "digit": d, "channel": {"id": "1.1"}})
    assert await line.read_digits(("sound:vm-password",), max_digits=10, timeout=0.1) == "2468"
    assert await line.read_key(0.1) == "9"
    line.feed({"type": "StasisEnd", "channel": {"id": "1.1"}})
    with pytest.raises(CallerGone):
        await line.read_key(1)
