"""Test callers for the conference app, and the audio measurements that prove the roles.

A test phone is an AMI-originated Local channel: its `;2` half runs `confcall@voip-test`, which
dials the conference access number and keys the PIN with Dial's D() option; its `;1` half sits
in our ARI app as Stasis(<app>,testphone,<tag>), so the test can play a sound into the
conference through it ("talk") and snoop what arrives on it ("hear").

Direction on the phone's `;1` channel: what the conference sends it is *read* from `;1` (so
snoop spy=in), what we play on it is *written* to `;1` and travels to the conference.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import itertools
import math
import os
import struct
import time
import uuid
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from controller.services.ari import ARIError
from db.models import Account, Conference, ConferenceGuest
from tests.support.realparts import unique_number

_pins = itertools.count(1)


def unique_pin() -> str:
    """6 digits, unique in this run (admin and guest PINs share the counter)."""
    return f"{os.getpid() % 90 + 10:02d}{next(_pins):04d}"


class AriRecorder:
    def __init__(self, ari, *types: str):
        self._ari = ari
        self.events: list[dict[str, Any]] = []
        self._types = types
        for t in types:
            ari.on(t, self._record)

    async def _record(self, event: dict) -> None:
        event = dict(event)
        event["_at"] = time.monotonic()
        event["_wall"] = dt.datetime.now(dt.UTC)
        self.events.append(event)

    def matching(self, type_: str, pred: Callable[[dict], bool] = lambda e: True) -> list[dict]:
        return [e for e in self.events if e.get("type") == type_ and pred(e)]

    async def wait_for(
        self, type_: str, pred: Callable[[dict], bool] = lambda e: True, timeout: float = 20, what: str = ""
    ) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.matching(type_, pred)
            if found:
                return found[0]
            await asyncio.sleep(0.05)
        seen = [
            (e.get("type"), (e.get("playback") or {}).get("media_uri"), e.get("args")) for e in self.events
        ][-20:]
        raise AssertionError(f"no {type_} {what} within {timeout} s; last events: {seen}")

    def bridge_playbacks(self, bridge_id: str) -> list[str]:
        return [
            e["playback"]["media_uri"]
            for e in self.matching("PlaybackStarted")
            if e["playback"].get("target_uri") == f"bridge:{bridge_id}"
        ]

    def channel_playbacks(self, since: float = 0.0) -> list[str]:
        return [
            e["playback"]["media_uri"]
            for e in self.matching("PlaybackStarted")
            if e["playback"].get("target_uri", "").startswith("channel:") and e["_at"] >= since
        ]

    def close(self) -> None:
        for t in self._types:
            self._ari.off(t, self._record)


@dataclass
class TestConference:
    id: int
    admin_pin: str
    pins: dict[str, str] = field(default_factory=dict)  # role -> guest PIN
    guest_ids: dict[str, int] = field(default_factory=dict)


def make_conference(
    factory,
    *,
    starts_at: dt.datetime | None = None,
    duration: int = 60,
    quiet: bool = False,
    video: bool = False,
    allow_800: bool = False,
    status: str = "created",
    roles: tuple[str, ...] = ("normal", "listen_only", "talk_only"),
    emails: dict[str, str] | None = None,
    admin_name: str = "Olive Organiser",
) -> TestConference:
    starts_at = starts_at or dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    emails = emails or {}
    with factory() as s, s.begin():
        account = Account(
            first_name="Olive", last_name="Organiser", email="olive@example.com", time_zone="America/New_York"
        )
        s.add(account)
        s.flush()
        conf = Conference(
            account_id=account.id,
            admin_pin=unique_pin(),
            admin_name=admin_name,
            admin_phone=unique_number(),
            video=video,
            quiet_mode=quiet,
            allow_800=allow_800,
            starts_at=starts_at,
            duration_minutes=duration,
            status=status,
        )
        for role in roles:
            conf.guests.append(
                ConferenceGuest(
                    name=f"Guest {role}",
                    pin=unique_pin(),
                    role=role,
                    email=emails.get(role, ""),
                    send_invite=role in emails,
                    virtual_number=unique_number(),
                )
            )
        s.add(conf)
        s.flush()
        return TestConference(
            conf.id, conf.admin_pin, {g.role: g.pin for g in conf.guests}, {g.role: g.id for g in conf.guests}
        )


@dataclass
class Phone:
    tag: str
    channel_id: str  # the phone's own channel (in Stasis as `testphone`)
    conf_channel_id: str  # the call as the conference app sees it (in Stasis as `conference`)
    caller: str


class Phones:
    """Places test calls into the conference and keeps track of them."""

    def __init__(self, controller, events: AriRecorder):
        self.controller = controller
        self.ari = controller.ari
        self.settings = controller.settings
        self.events = events
        self.phones: list[Phone] = []

    def access_number(self, tollfree: bool = False) -> str:
        raw = self.settings.conference_tollfree_numbers if tollfree else self.settings.conference_numbers
        return raw.split(",")[0].strip()

    async def call(
        self,
        pin: str | None = None,
        *,
        dtmf: str | None = None,
        tollfree: bool = False,
        caller: str | None = None,
    ) -> Phone:
        tag = uuid.uuid4().hex[:10]
        caller = caller or unique_number("1415")
        await self.controller.ami.originate(
            "Local/confcall@voip-test",
            application="Stasis",
            data=f"{self.settings.ari_app},testphone,{tag}",
            variables={"TEST_TARGET": self.access_number(tollfree), "TEST_DTMF": dtmf or f"ww{pin}#"},
            caller_id=f"Conf Guest <{caller}>",
            timeout_ms=30000,
            wait=30,
        )
        event = await self.events.wait_for(
            "StasisStart", lambda e: e.get("args") == ["testphone", tag], what=f"for test phone {tag}"
        )
        conf_leg = await self.events.wait_for(
            "StasisStart",
            lambda e: (
                (e.get("args") or [""])[0] == "conference" and e["channel"]["caller"]["number"] == caller
            ),
            what=f"for the conference leg of {caller}",
        )
        phone = Phone(tag, event["channel"]["id"], conf_leg["channel"]["id"], caller)
        self.phones.append(phone)
        return phone

    async def hung_up(self, phone: Phone, timeout: float = 30) -> None:
        await self.events.wait_for(
            "StasisEnd",
            lambda e: e["channel"]["id"] == phone.channel_id,
            timeout=timeout,
            what=f"(test phone {phone.tag} hung up)",
        )

    def is_up(self, phone: Phone) -> bool:
        return not self.events.matching("StasisEnd", lambda e: e["channel"]["id"] == phone.channel_id)

    async def hang_up_all(self) -> None:
        for phone in self.phones:
            try:
                await self.ari.delete(f"/channels/{phone.channel_id}")
            except ARIError:
                pass

    async def keys(self, phone: Phone, digits: str) -> None:
        """The participant keys DTMF (it reaches the conference app on its own leg)."""
        await self.ari.post(f"/channels/{phone.channel_id}/dtmf", dtmf=digits, between=200, duration=120)

    def playbacks_on(self, phone: Phone) -> list[str]:
        """Prompts the conference app played to this caller, in order."""
        return [
            e["playback"]["media_uri"]
            for e in self.events.matching("PlaybackStarted")
            if e["playback"].get("target_uri") == f"channel:{phone.conf_channel_id}"
        ]

    # --- sound
    async def talk(self, phone: Phone, sound: str = "tt-monkeys") -> str:
        playback_id = uuid.uuid4().hex
        await self.ari.post(
            f"/channels/{phone.channel_id}/play", media=f"sound:{sound}", playbackId=playback_id
        )
        return playback_id

    async def stop_talking(self, playback_id: str) -> None:
        try:
            await self.ari.delete(f"/playbacks/{playback_id}")
        except ARIError:
            pass

    async def start_recording_bridge(self, bridge_id: str, seconds: int) -> str:
        name = f"conftest-{uuid.uuid4().hex[:12]}"
        await self.ari.post(
            f"/bridges/{bridge_id}/record",
            name=name,
            format="wav",
            maxDurationSeconds=seconds,
            ifExists="overwrite",
        )
        return name

    async def start_recording_heard(self, phone: Phone, seconds: int) -> str:
        """Record what reaches the phone from the conference (a snoop on its channel)."""
        snoop_id = f"snoop-{uuid.uuid4().hex[:12]}"
        await self.ari.post(
            f"/channels/{phone.channel_id}/snoop",
            spy="in",
            app=self.settings.ari_app,
            appArgs="testsnoop",
            snoopId=snoop_id,
        )
        await self.events.wait_for(
            "StasisStart", lambda e: e["channel"]["id"] == snoop_id, what="for the snoop channel"
        )
        name = f"conftest-{uuid.uuid4().hex[:12]}"
        await self.ari.post(
            f"/channels/{snoop_id}/record",
            name=name,
            format="wav",
            maxDurationSeconds=seconds,
            ifExists="overwrite",
        )
        return name

    async def recording(self, name: str, timeout: float = 30) -> bytes:
        await self.events.wait_for(
            "RecordingFinished",
            lambda e: e["recording"]["name"] == name,
            timeout=timeout,
            what=f"for recording {name}",
        )
        data = await self.ari.get(f"/recordings/stored/{name}/file")
        try:
            await self.ari.delete(f"/recordings/stored/{name}")
        except ARIError:
            pass
        return data


def pcm_samples(wav_bytes: bytes) -> list[int]:
    with wave.open(io.BytesIO(wav_bytes)) as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1, (w.getsampwidth(), w.getnchannels())
        frames = w.readframes(w.getnframes())
    return list(struct.unpack(f"<{len(frames) // 2}h", frames))


def rms(wav_bytes: bytes, skip_seconds: float = 0.0, rate: int = 8000) -> float:
    samples = pcm_samples(wav_bytes)[int(skip_seconds * rate) :]
    if not samples:
        return 0.0
    return math.sqrt(sum(s * s for s in samples) / len(samples))


def duration(wav_bytes: bytes) -> float:
    with wave.open(io.BytesIO(wav_bytes)) as w:
        return w.getnframes() / w.getframerate()
