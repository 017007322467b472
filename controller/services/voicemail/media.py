"""Audio we keep in PostgreSQL (greetings, messages), put where Asterisk can play it.

ARI cannot upload media, so the controller writes a WAV into a directory Asterisk reads
(settings.vm_media_dir as Asterisk sees it, settings.vm_media_local_dir as we see it: one shared
volume, or the sandbox chroot's copy) and plays `sound:<dir>/<name>` (no extension: Asterisk
picks the format by the file's). Greetings are cached by content hash; message files live only
for one retrieval call. Asterisk's format_wav plays 8 kHz 16-bit mono PCM: anything else
(a greeting uploaded in the panel) is converted first, without extra packages.
"""

from __future__ import annotations

import array
import hashlib
import io
import logging
import os
import sys
import time
import uuid
import wave
from pathlib import Path, PurePosixPath

log = logging.getLogger("controller.services.voicemail.media")

RATE = 8000


class MediaDir:
    def __init__(self, asterisk_dir: str, local_dir: str):
        self.asterisk_dir = PurePosixPath(asterisk_dir)
        self.local_dir = Path(local_dir)

    def _write(self, name: str, audio: bytes) -> str:
        self.local_dir.mkdir(parents=True, exist_ok=True)
        path = self.local_dir / f"{name}.wav"
        tmp = self.local_dir / f".{name}.{uuid.uuid4().hex}.tmp"
        tmp.write_bytes(audio)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)  # Asterisk never sees a half-written file
        return f"sound:{self.asterisk_dir / name}"

    def greeting(self, vn_id: int, audio: bytes) -> str | None:
        """The media URI of a member's greeting (written once per content), or None when the
        audio is unusable."""
        playable = to_asterisk_wav(audio)
        if playable is None:
            return None
        name = f"greeting-{int(vn_id)}-{hashlib.sha256(playable).hexdigest()[:16]}"
        if (self.local_dir / f"{name}.wav").exists():
            return f"sound:{self.asterisk_dir / name}"
        for old in self.local_dir.glob(f"greeting-{int(vn_id)}-*.wav"):
            _unlink(old)  # the previous greeting of this number
        return self._write(name, playable)

    def message(self, message_id: int, audio: bytes) -> tuple[str, Path] | None:
        """(media URI, local path) of a message for one playback; remove the path when done."""
        playable = to_asterisk_wav(audio)
        if playable is None:
            return None
        name = f"msg-{int(message_id)}-{uuid.uuid4().hex[:12]}"
        uri = self._write(name, playable)
        return uri, self.local_dir / f"{name}.wav"

    @staticmethod
    def remove(path: Path) -> None:
        _unlink(path)

    def sweep(self, max_age_seconds: float = 3600) -> int:
        """Remove message files a crashed retrieval call left behind; returns how many."""
        if not self.local_dir.is_dir():
            return 0
        limit = time.time() - max_age_seconds
        removed = 0
        for path in self.local_dir.glob("msg-*.wav"):
            try:
                if path.stat().st_mtime < limit:
                    _unlink(path)
                    removed += 1
            except FileNotFoundError:
                pass
        return removed


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("could not remove media file", extra={"path": str(path), "error": str(exc)})


def to_asterisk_wav(audio: bytes) -> bytes | None:
    """8 kHz 16-bit mono PCM WAV bytes from any PCM WAV (8/16/24/32-bit, any rate, mono or
    multi-channel); None when it is not a PCM WAV."""
    try:
        with wave.open(io.BytesIO(audio)) as w:
            channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            frames = w.readframes(w.getnframes())
    except (wave.Error, EOFError, ValueError):
        return None
    if (channels, width, rate) == (1, 2, RATE):
        return audio
    if not rate or width not in (1, 2, 3, 4) or channels < 1:
        return None
    samples = _to_int16(frames, width)
    if channels > 1:
        samples = array.array(
            "h",
            (
                sum(samples[i : i + channels]) // channels
                for i in range(0, len(samples) - channels + 1, channels)
            ),
        )
    if rate != RATE:
        samples = _resample(samples, rate, RATE)
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(samples.tobytes() if sys.byteorder == "little" else _swapped(samples))
    return out.getvalue()


def _to_int16(frames: bytes, width: int) -> array.array[int]:
    if width == 1:  # unsigned 8-bit
        return array.array("h", ((b - 128) << 8 for b in frames))
    if width == 2:
        a = array.array("h", frames[: len(frames) - len(frames) % 2])
        if sys.byteorder != "little":
            a.byteswap()
        return a
    # 24/32-bit little-endian signed: keep the top 16 bits
    return array.array(
        "h",
        (
            int.from_bytes(frames[i + width - 2 : i + width], "little", signed=True)
            for i in range(0, len(frames) - width + 1, width)
        ),
    )


def _resample(samples: array.array[int], src: int, dst: int) -> array.array[int]:
    """Linear interpolation (plain, but greetings are speech and played at 8 kHz anyway);
    downsampling averages the source samples each output sample covers."""
    n = len(samples)
    if n == 0:
        return samples
    out_len = max(1, int(n * dst / src))
    step = src / dst
    out = array.array("h", bytes(2 * out_len))
    for j in range(out_len):
        pos = j * step
        if step > 1:
            lo, hi = int(pos), min(n, int(pos + step))
            chunk = samples[lo:hi] or samples[lo : lo + 1]
            out[j] = int(sum(chunk) / len(chunk))
        else:
            i = int(pos)
            frac = pos - i
            a = samples[i]
            b = samples[i + 1] if i + 1 < n else a
            out[j] = int(a + (b - a) * frac)
    return out


def _swapped(samples: array.array[int]) -> bytes:
    copy = array.array("h", samples)
    copy.byteswap()
    return copy.tobytes()
