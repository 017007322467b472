"""Voicemail test helpers: members with a mailbox, PSTN callers from the test carrier over SIP
that leave messages (a core sound as u-law RTP) or key DTMF (RFC 4733), a SIPp phone that
collects MWI NOTIFYs, and generated WAV audio."""

from __future__ import annotations

import asyncio
import functools
import io
import math
import os
import re
import subprocess
import tempfile
import wave
from pathlib import Path

from sqlalchemy import select, update

from controller.services.voicemail import mwi, service
from db import accounts
from db.models import Account, VirtualNumber, VoicemailGreeting, VoicemailMessage
from tests.support.members import make_member, set_forwarding
from tests.support.sipp import SCENARIOS, SippResult, carrier_call, free_udp_port, run_scenario, sipp_binary
from tests.support.wait import until

VM_PASSWORD = "2468"
# A known sound the caller plays into the recording (Asterisk core sound, 3.16 s)
KNOWN_SOUND, KNOWN_SOUND_SECONDS = "conf-onlyperson", 3.16
CALLER = ("Alice Caller", "13125550123")


def wav(
    seconds: float,
    freq: float = 0.0,
    rate: int = 8000,
    channels: int = 1,
    width: int = 2,
    amplitude: int = 8000,
) -> bytes:
    """A PCM WAV: a sine at `freq` Hz, or silence when freq is 0."""
    frames = bytearray()
    for i in range(int(seconds * rate)):
        value = int(amplitude * math.sin(2 * math.pi * freq * i / rate)) if freq else 0
        sample = (value >> 8) + 128 if width == 1 else value
        frames += sample.to_bytes(width, "little", signed=width != 1) * channels
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(bytes(frames))
    return out.getvalue()


def vm_member(
    factory,
    settings,
    *,
    email: str | None = "member@example.test",
    step1: str = "voicemail",
    greeting: bytes | None = None,
    **options,
):
    """A member whose calls go to voicemail at once, with VM password VM_PASSWORD, an email
    address and (by default) a short silent greeting, so a deposit starts recording at once."""
    m = make_member(factory, settings, **options)
    with factory() as s, s.begin():
        vn = s.get(VirtualNumber, m.vn_id)
        accounts.set_vm_password(s, vn, VM_PASSWORD)
        if email is not None:
            s.execute(update(Account).where(Account.id == m.account_id).values(email=email))
        s.add(
            VoicemailGreeting(virtual_number_id=m.vn_id, audio=greeting if greeting is not None else wav(0.3))
        )
    set_forwarding(factory, m, step1=step1)
    return m


def drop_greeting(factory, member) -> None:
    with factory() as s, s.begin():
        s.query(VoicemailGreeting).filter_by(virtual_number_id=member.vn_id).delete()


def seed_messages(factory, member, *seconds: float) -> list[int]:
    """New messages stored through the service (so MWI is queued like any change)."""
    ids = []
    with factory() as s, s.begin():
        for n, length in enumerate(seconds):
            ids.append(
                service.store_message(
                    s,
                    member.vn_id,
                    audio=wav(length, 440 + 100 * n),
                    duration_seconds=length,
                    caller_name="Seeded",
                    caller_number=f"1312555{n:04d}",
                    notify=mwi.queue_mwi,
                )
            )
    return ids


def messages(factory, member) -> list[VoicemailMessage]:
    with factory() as s:
        return list(
            s.scalars(
                select(VoicemailMessage)
                .where(VoicemailMessage.virtual_number_id == member.vn_id)
                .order_by(VoicemailMessage.id)
            )
        )


def counts(factory, member) -> tuple[int, int]:
    with factory() as s:
        return service.counts(s, member.vn_id)


def _sound_dir() -> Path:
    """The English sound set of the sandbox Asterisk (its chroot, where `en` is an alternatives
    link resolved inside the chroot), or the host's when there is no sandbox."""
    root = Path(os.environ.get("VOIP_SANDBOX_DIR", "/var/cache/voip-sandbox/sid"))
    path = root / "usr/share/asterisk/sounds/en"
    for _ in range(10):
        if not path.is_symlink():
            break
        target = Path(os.readlink(path))
        path = root / target.relative_to("/") if target.is_absolute() else path.parent / target
    return path if path.is_dir() else Path("/usr/share/asterisk/sounds/en")


@functools.cache
def sound_ulaw(sound: str) -> bytes:
    """An Asterisk core sound as the caller's phone sends it: 8 kHz G.711 u-law."""
    return subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-i",
            str(_sound_dir() / f"{sound}.gsm"),
            "-f",
            "mulaw",
            "-ar",
            "8000",
            "-ac",
            "1",
            "-",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    ).stdout


async def leave_message(
    controller,
    number: str,
    *,
    wait: float = 1,
    sound: str = KNOWN_SOUND,
    caller: tuple[str, str] = CALLER,
    cwd: Path | None = None,
) -> SippResult:
    """A PSTN caller of `number`, from the carrier over SIP: once voicemail answers, waits
    `wait` s (the greeting), sends `sound` as its RTP audio (the message) and hangs up; or is
    refused. Returns when the call is over; SIPp's logs stay in `cwd` when one is given (for
    `final_response`: 200 or the refusal), else they go with a temporary directory."""
    # silence while the greeting plays, then the message: SIPp plays a capture from its first
    # packet at once (an offset before it is not kept), so the wait is in the stream itself
    ulaw = b"\xff" * int(wait * 8000) + sound_ulaw(sound)
    # the caller hangs up as its audio ends (a phone's BYE a moment after the last packet)
    stay = len(ulaw) / 8000 + 0.1
    s = controller.settings
    with tempfile.TemporaryDirectory(prefix="vm-caller-") as scratch:
        result = await asyncio.to_thread(
            carrier_call,
            number,
            caller[1],
            host=s.asterisk_host,
            port=s.sip_port,
            cwd=cwd or Path(scratch),
            scenario="carrier_call_hold.xml",
            caller_name=caller[0],
            audio=(0.0, ulaw),
            stay_ms=int(stay * 1000),
            timeout=60,
        )
        assert result.returncode == 0, f"SIPp exit {result.returncode}:\n{result.log()[-3000:]}"
    return result


def dial_with_dtmf(target: str, dtmf: str, *, settings, cwd: Path, caller: str) -> asyncio.Task[SippResult]:
    """A PSTN caller `caller` of `target`, from the carrier over SIP, that keys `dtmf` as RFC
    4733 events once answered (a key every 0.4 s, w = 0.5 s pause), then stays on the line
    until Asterisk hangs up. The call runs in the returned task."""
    call = functools.partial(
        carrier_call,
        target,
        caller,
        host=settings.asterisk_host,
        port=settings.sip_port,
        cwd=cwd,
        scenario="carrier_call_dtmf.xml",
        dtmf=dtmf,
        timeout=90,
    )
    return asyncio.create_task(asyncio.to_thread(call))


async def wait_for_messages(factory, member, count: int, timeout: float = 30) -> list[VoicemailMessage]:
    def stored() -> list[VoicemailMessage]:
        rows = messages(factory, member)
        return rows if len(rows) >= count else []

    return await until(
        stored,
        timeout=timeout,
        what=f"{count} stored voicemail message(s) for {member.number}",
    )


class MwiPhone:
    """A registered SIP phone that only takes MWI: SIPp REGISTERs the number from port P, then
    a SIPp UAS (tests/sipp/uas_mwi.xml) on P answers each message-summary NOTIFY and logs its
    counts; `summaries()` reads them back in arrival order as (waiting, new, old)."""

    LINE = re.compile(r"MWI waiting=(yes|no) new=(\d+) old=(\d+)")

    def __init__(
        self,
        number: str,
        password: str,
        *,
        host: str,
        port: int,
        cwd: Path,
        notifies: int = 1,
        timeout: int = 60,
    ):
        binary = sipp_binary()
        if binary is None:
            raise RuntimeError("sipp is not installed (Debian package sip-tester)")
        self.number, self.sip_port = number, free_udp_port()
        self.log = cwd / f"mwi-{number}.log"
        reg = run_scenario(
            "register.xml",
            host,
            port,
            service=number,
            auth_user=number,
            auth_password=password,
            cwd=cwd,
            local_port=self.sip_port,
        )
        if not reg.ok:
            raise RuntimeError(f"phone {number} could not register: {reg.stdout[-1500:]}")
        self.proc = subprocess.Popen(
            [
                binary,
                "-sf",
                str(SCENARIOS / "uas_mwi.xml"),
                "-i",
                "127.0.0.1",
                "-p",
                str(self.sip_port),
                "-m",
                str(notifies),
                "-nostdin",
                "-timeout",
                f"{timeout}s",
                "-timeout_error",
                "-trace_logs",
                "-log_file",
                str(self.log),
            ],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def summaries(self) -> list[tuple[str, int, int]]:
        if not self.log.exists():
            return []
        return [(m[1], int(m[2]), int(m[3])) for m in self.LINE.finditer(self.log.read_text())]

    async def wait_for(self, count: int, timeout: float = 30) -> list[tuple[str, int, int]]:
        await until(
            lambda: len(self.summaries()) >= count,
            timeout=timeout,
            what=f"{count} MWI NOTIFY(s) at the phone of {self.number} (got {self.summaries()})",
        )
        return self.summaries()

    def finished_ok(self, timeout: float = 10) -> bool:
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
        return self.proc.returncode == 0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


async def settle(seconds: float) -> None:
    """Only to prove something did NOT happen within a window."""
    await asyncio.sleep(seconds)
