"""Voicemail test helpers: members with a mailbox, callers that leave messages or key DTMF,
a SIPp phone that collects MWI NOTIFYs, and generated WAV audio."""

from __future__ import annotations

import asyncio
import io
import math
import re
import subprocess
import wave
from pathlib import Path

from sqlalchemy import select, update

from controller.rules import channel_vars as cv
from controller.services.voicemail import mwi, service
from db import accounts
from db.models import Account, VirtualNumber, VoicemailGreeting, VoicemailMessage
from tests.support.members import make_member, set_forwarding
from tests.support.sipp import SCENARIOS, free_udp_port, run_scenario, sipp_binary
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


async def leave_message(
    controller, number: str, *, wait: float = 1, sound: str = KNOWN_SOUND, caller: tuple[str, str] = CALLER
) -> None:
    """A PSTN caller of `number`: once voicemail answers, waits `wait` s (the greeting), plays
    `sound` into the recording and hangs up."""
    await controller.ami.originate(
        f"Local/{number}@{cv.CTX_FROM_PSTN}",
        context=cv.CTX_TEST,
        exten="vmcaller",
        caller_id=f"{caller[0]} <{caller[1]}>",
        variables={cv.VAR_TEST_WAIT: str(wait), cv.VAR_TEST_SOUND: sound},
        timeout_ms=30000,
        wait=30,
    )


async def dial_with_dtmf(
    controller, target: str, dtmf: str, *, caller_id: str = "Keypad Caller <14155550100>"
) -> None:
    """A PSTN caller of `target` that keys `dtmf` once answered (60 ms tones 40 ms apart,
    w = 0.5 s pause), then stays on the line until hung up (at most 60 s)."""
    await controller.ami.originate(
        f"Local/{target}@{cv.CTX_FROM_PSTN}",
        context=cv.CTX_TEST,
        exten="vmkeys",
        variables={cv.VAR_TEST_DTMF: dtmf},
        caller_id=caller_id,
        timeout_ms=30000,
        wait=30,
    )


async def wait_for_messages(factory, member, count: int, timeout: float = 30) -> list[VoicemailMessage]:
    return await until(
        lambda: (rows := messages(factory, member)) and len(rows) >= count and rows,
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
