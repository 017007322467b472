"""A greeting uploaded from the browser, made playable by Asterisk.

The browser's MediaRecorder gives WebM/Opus (Chromium, Firefox: Ogg/Opus), Safari MP4/AAC; the
file input may bring a WAV. ffmpeg (Debian's package, installed by scripts/bootstrap and the
app image) decodes each and writes what Asterisk's format_wav plays: 8 kHz 16-bit mono PCM WAV,
the same as the deposit's own recordings. Only these containers are accepted, recognised by
their first bytes, and the demuxer is forced to the one recognised (no playlists, no other
files or protocols are ever opened). Codes of `GreetingAudioError` are stable; the panel turns
them into messages.
"""

from __future__ import annotations

import array
import io
import logging
import shutil
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

from controller.services.voicemail import service

log = logging.getLogger("webpanel.voicemail.audio")

MAX_UPLOAD_BYTES = 5 * 1024 * 1024  # 60 s of WAV at 44.1 kHz mono is 5.3 MB
CONVERT_TIMEOUT_S = 30
SILENT_PEAK = 64  # of 32767: a muted or denied microphone

# container -> ffmpeg demuxer
DEMUXERS = {"webm": "matroska", "ogg": "ogg", "wav": "wav", "mp4": "mov"}


class GreetingAudioError(Exception):
    def __init__(self, code: str, detail: str = ""):
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code


def sniff(data: bytes) -> str | None:
    """The container of an upload from its first bytes, or None."""
    if data[:4] == b"\x1a\x45\xdf\xa3":
        return "webm"
    if data[:4] == b"OggS":
        return "ogg"
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data[4:8] == b"ftyp":
        return "mp4"
    return None


def ffmpeg_binary() -> str | None:
    return shutil.which("ffmpeg")


def to_greeting_wav(data: bytes) -> tuple[bytes, float]:
    """(8 kHz mono 16-bit PCM WAV, seconds) from an uploaded recording, or GreetingAudioError
    with code empty, too_large, format, converter_missing, undecodable, too_short, too_long or
    silent."""
    if not data:
        raise GreetingAudioError("empty")
    if len(data) > MAX_UPLOAD_BYTES:
        raise GreetingAudioError("too_large")
    kind = sniff(data)
    if kind is None:
        raise GreetingAudioError("format")
    binary = ffmpeg_binary()
    if binary is None:
        log.error("ffmpeg is not installed: greetings cannot be converted")
        raise GreetingAudioError("converter_missing")
    with tempfile.TemporaryDirectory(prefix="vm-greeting-") as tmp:
        src, dst = Path(tmp) / f"upload.{kind}", Path(tmp) / "greeting.wav"
        src.write_bytes(data)
        cmd = [
            binary,
            "-nostdin",
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-protocol_whitelist",
            "file",
            "-f",
            DEMUXERS[kind],
            "-i",
            str(src),
            "-t",
            str(service.GREETING_MAX_SECONDS + 1),
            "-vn",
            "-sn",
            "-map_metadata",
            "-1",
            "-ac",
            "1",
            "-ar",
            "8000",
            "-c:a",
            "pcm_s16le",
            "-fflags",
            "+bitexact",
            "-flags:a",
            "+bitexact",
            "-f",
            "wav",
            str(dst),
        ]
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=CONVERT_TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            raise GreetingAudioError("undecodable", "conversion timed out") from exc
        if proc.returncode != 0 or not dst.exists():
            detail = proc.stderr.decode(errors="replace")[-300:]
            log.info("greeting upload not decodable", extra={"kind": kind, "error": detail})
            raise GreetingAudioError("undecodable", detail)
        wav = dst.read_bytes()
    seconds = service.wav_seconds(wav)
    if seconds <= 0:
        raise GreetingAudioError("undecodable", "no audio")
    if seconds < service.GREETING_MIN_SECONDS:
        raise GreetingAudioError("too_short")
    if seconds > service.GREETING_MAX_SECONDS + 0.5:
        raise GreetingAudioError("too_long")
    if peak(wav) < SILENT_PEAK:
        raise GreetingAudioError("silent")
    return wav, seconds


def peak(wav: bytes) -> int:
    """The loudest sample of a 16-bit PCM WAV (0 for anything else)."""
    try:
        with wave.open(io.BytesIO(wav)) as w:
            if w.getsampwidth() != 2:
                return 0
            frames = w.readframes(w.getnframes())
    except (wave.Error, EOFError, ValueError):
        return 0
    samples = array.array("h", frames[: len(frames) - len(frames) % 2])
    if sys.byteorder != "little":
        samples.byteswap()
    return max((abs(v) for v in samples), default=0)


def playable_in_browser(audio: bytes, audio_format: str) -> bytes | None:
    """WAV bytes a browser's <audio> plays: stored messages are PCM WAV already (the deposit
    records wav); another format is converted with ffmpeg (None when it cannot be)."""
    if audio_format.lower() == "wav" and sniff(audio) == "wav":
        return audio
    binary = ffmpeg_binary()
    if binary is None:
        return None
    with tempfile.TemporaryDirectory(prefix="vm-play-") as tmp:
        src, dst = Path(tmp) / "message.bin", Path(tmp) / "message.wav"
        src.write_bytes(audio)
        forced = ["-f", audio_format.lower()] if audio_format.lower() in ("gsm", "wav") else []
        proc = subprocess.run(
            [
                binary,
                "-nostdin",
                "-hide_banner",
                "-loglevel",
                "error",
                "-y",
                "-protocol_whitelist",
                "file",
                *forced,
                "-i",
                str(src),
                "-vn",
                "-c:a",
                "pcm_s16le",
                "-f",
                "wav",
                str(dst),
            ],
            capture_output=True,
            timeout=CONVERT_TIMEOUT_S,
        )
        if proc.returncode != 0 or not dst.exists():
            return None
        return dst.read_bytes()
