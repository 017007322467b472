"""The greeting's service functions (shared by the phone menu and the panel) on the real
PostgreSQL, and the panel's upload conversion with the real ffmpeg."""

from __future__ import annotations

import subprocess

import pytest

from controller.services.voicemail import service
from tests.support.members import make_member
from tests.voicemail.helpers import wav
from webpanel.voicemail import audio


def test_set_greeting_replaces_the_previous_one_and_delete_goes_back_to_the_default(factory, settings):
    m, other = make_member(factory, settings), make_member(factory, settings)
    with factory() as s, s.begin():
        service.set_greeting(s, m.vn_id, audio=wav(1.0, 300))
        service.set_greeting(s, other.vn_id, audio=wav(1.0, 500))
    with factory() as s:
        first, fmt, first_at = service.get_greeting(s, m.vn_id)
    assert first == wav(1.0, 300) and fmt == "wav"
    with factory() as s, s.begin():
        service.set_greeting(s, m.vn_id, audio=wav(2.0, 400))
    with factory() as s:
        second, _fmt, second_at = service.get_greeting(s, m.vn_id)
    assert second == wav(2.0, 400) and second_at >= first_at
    with factory() as s, s.begin():
        assert service.delete_greeting(s, m.vn_id)
        assert not service.delete_greeting(s, m.vn_id)
    with factory() as s:
        assert service.get_greeting(s, m.vn_id) is None
        assert service.get_greeting(s, other.vn_id)[0] == wav(1.0, 500)  # another mailbox's stays


def _encode(source: str, fmt: str, *codec: str) -> bytes:
    return subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            source,
            *codec,
            "-f",
            fmt,
            "pipe:1",
        ],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout


@pytest.mark.parametrize(
    "fmt, codec",
    [("webm", ("-c:a", "libopus")), ("ogg", ("-c:a", "libopus")), ("wav", ("-ar", "44100", "-ac", "2"))],
)
def test_uploads_become_8khz_mono_pcm_wav_that_asterisk_plays(fmt, codec):
    upload = _encode("sine=frequency=500:duration=2", fmt, *codec)
    assert audio.sniff(upload) == fmt
    converted, seconds = audio.to_greeting_wav(upload)
    assert abs(seconds - 2.0) < 0.1
    assert converted[:4] == b"RIFF" and converted[36:40] == b"data"  # a plain 44-byte header
    from controller.services.voicemail.media import to_asterisk_wav

    assert to_asterisk_wav(converted) == converted  # nothing left to convert


def test_what_is_not_a_usable_recording_is_refused_with_a_stable_code():
    cases = {
        "empty": b"",
        "format": b"<html>not audio</html>",
        "undecodable": b"OggS" + b"\x00" * 200,
        "too_large": b"OggS" + bytes(audio.MAX_UPLOAD_BYTES),
        "silent": _encode("anullsrc=r=48000:cl=mono:d=2", "webm", "-c:a", "libopus"),
        "too_short": _encode("sine=frequency=500:duration=0.5", "ogg", "-c:a", "libopus"),
    }
    for code, upload in cases.items():
        with pytest.raises(audio.GreetingAudioError) as caught:
            audio.to_greeting_wav(upload)
        assert caught.value.code == code, (code, caught.value)
