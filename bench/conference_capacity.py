"""Conference capacity: how many participants in one conference, and how many concurrent
conferences, before the mixed audio breaks up on this machine.

Everything is real: its own Asterisk sandbox instance, a scratch database (created, migrated,
dropped at the end), the controller with the conference app. Each participant is a Local
channel originated through ARI into the conference access number, keying its PIN by DTMF; the
phone half of the Local channel sits in our ARI app so the bench can make it talk (a
continuous `tone:` playback) and snoop what it hears.

For every step the conferences run for --seconds with `--talkers` participants each playing
a tone; the bench records each conference's bridge (what the conference hears) and one
listener's received audio (a snoop), and reads Asterisk's CPU time from /proc. Audio "breaks
up" when a recording is shorter than the wall-clock time it covered (the mixer fell behind)
or has gaps (20 ms frames far quieter than the tone). The ramp stops at the first broken step.

    .venv/bin/python -m bench.conference_capacity [--seconds 10] [--talkers 2]
        [--sizes 10,25,50,75,100,125,150,200] [--conferences 5,10,20,30,40,50,60,80]
        [--conference-size 6] [--format ulaw]

BENCH_DUMP=<dir> keeps every step's recordings there; BENCH_DEBUG=1 prints the first bridge's
`bridge show` and a participant's `core show channel` (formats) for each step.

Note: a Local-channel participant is two channels inside Asterisk and no RTP; a SIP phone is one
channel plus RTP (and transcoding when its codec differs): read the figures as the mixer's
capacity with the channel cost of a Local pair.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import io
import math
import os
import platform
import socket
import statistics
import struct
import subprocess
import sys
import time
import uuid
import wave
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = f"bench{os.getpid()}"
FRAME = 160  # 20 ms at 8 kHz
BREAK_DROPOUTS = 0.01  # more than 1 % of 20 ms frames missing
BREAK_SHORT = 0.97  # recorded less than 97 % of the wall-clock time


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _environment() -> dict[str, str]:
    rtp = 30000 + (os.getpid() % 50) * 100
    return {
        "VOIP_DB_NAME": f"voip_bench_conf_{os.getpid()}",
        "VOIP_SIP_PORT": str(_free_port(socket.SOCK_DGRAM)),
        "VOIP_AMI_PORT": str(_free_port(socket.SOCK_STREAM)),
        "VOIP_ARI_PORT": str(_free_port(socket.SOCK_STREAM)),
        "VOIP_AGI_PORT": str(_free_port(socket.SOCK_STREAM)),
        "VOIP_HEALTH_PORT": str(_free_port(socket.SOCK_STREAM)),
        "VOIP_RTP_START": str(rtp),
        "VOIP_RTP_END": str(rtp + 99),
        "VOIP_ASTERISK_INSTANCE_DIR": f"/instances/{INSTANCE}",
        "VOIP_LOG_LEVEL": "WARNING",
    }


def sandbox(*args: str, check: bool = True) -> str:
    env = dict(os.environ, VOIP_PYTHON=sys.executable)
    proc = subprocess.run(
        [str(ROOT / "scripts" / "asterisk-sandbox"), *args], env=env, capture_output=True, text=True
    )
    if check and proc.returncode != 0:
        raise SystemExit(f"asterisk-sandbox {' '.join(args)} failed: {proc.stderr[-1500:]}")
    return proc.stdout


def asterisk_cpu_seconds() -> float:
    root = sandbox("root").strip()
    pid = Path(root, "instances", INSTANCE, "run", "asterisk.pid").read_text().strip()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclasses.dataclass
class Quality:
    seconds: float  # audio in the recording
    dropouts: float  # fraction of 20 ms frames far below the tone's level


def _timestamp(event: dict) -> dt.datetime:
    return dt.datetime.strptime(event["timestamp"], "%Y-%m-%dT%H:%M:%S.%f%z")


def quality(wav_bytes: bytes, skip: float = 0.3) -> Quality:
    with wave.open(io.BytesIO(wav_bytes)) as w:
        rate = w.getframerate()
        raw = w.readframes(w.getnframes())
    samples = struct.unpack(f"<{len(raw) // 2}h", raw)
    seconds = len(samples) / rate
    body = samples[int(skip * rate) : len(samples) - int(skip * rate)]  # start/stop edges
    levels = [
        math.sqrt(sum(s * s for s in body[i : i + FRAME]) / FRAME)
        for i in range(0, len(body) - FRAME + 1, FRAME)
    ]
    if not levels:
        return Quality(seconds, 1.0)
    reference = statistics.median(levels)
    if reference < 50:
        return Quality(seconds, 1.0)  # no tone at all
    gaps = sum(1 for lv in levels if lv < 0.25 * reference)
    return Quality(seconds, gaps / len(levels))


class Bench:
    def __init__(self, ctl, factory, args):
        self.ctl, self.ari, self.settings = ctl, ctl.ari, ctl.settings
        self.app = ctl.stasis.apps["conference"]
        self.factory = factory
        self.args = args
        self.started: dict[str, asyncio.Future] = {}
        self.recorded: dict[str, asyncio.Future] = {}
        self.recording_started: dict[str, dt.datetime] = {}
        self.ari.on("StasisStart", self._on_start)
        self.ari.on("RecordingFinished", self._on_recording)
        self.ari.on("RecordingFailed", self._on_recording)
        self.ari.on("RecordingStarted", self._on_recording_started)

    async def _on_start(self, event):
        fut = self.started.get(event["channel"]["id"])
        if fut and not fut.done():
            fut.set_result(event)

    async def _on_recording_started(self, event):
        self.recording_started[event["recording"]["name"]] = _timestamp(event)

    async def _on_recording(self, event):
        fut = self.recorded.get(event["recording"]["name"])
        if fut and not fut.done():
            fut.set_result(event)

    def conference(self) -> tuple[int, str]:
        from db.models import Account, Conference, ConferenceGuest

        pin = f"{uuid.uuid4().int % 10**8:08d}"
        with self.factory() as s, s.begin():
            account = Account(first_name="Bench")
            s.add(account)
            s.flush()
            conf = Conference(
                account_id=account.id,
                admin_pin=f"{uuid.uuid4().int % 10**9:09d}",
                quiet_mode=True,
                starts_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1),
                duration_minutes=120,
            )
            conf.guests.append(ConferenceGuest(pin=pin, role="normal"))
            s.add(conf)
            s.flush()
            return conf.id, pin

    async def join(self, pin: str, gate: asyncio.Semaphore) -> str:
        channel_id = f"bench-{uuid.uuid4().hex[:16]}"
        access = self.settings.conference_numbers.split(",")[0].strip()
        async with gate:
            fut = self.started[channel_id] = asyncio.get_running_loop().create_future()
            await self.ari.post(
                "/channels",
                endpoint=f"Local/{access}@from-pstn",
                app=self.settings.ari_app,
                appArgs="benchphone",
                channelId=channel_id,
                callerId=f"Bench <1999{uuid.uuid4().int % 10**7:07d}>",
                timeout=30,
                formats=self.args.format,
            )
            await asyncio.wait_for(fut, 30)
            await self.ari.post(f"/channels/{channel_id}/dtmf", dtmf=f"{pin}#", between=60, duration=80)
        return channel_id

    async def record(self, path: str, seconds: int) -> str:
        name = f"bench-{uuid.uuid4().hex[:12]}"
        self.recorded[name] = asyncio.get_running_loop().create_future()
        await self.ari.post(path, name=name, format="wav", maxDurationSeconds=seconds, ifExists="overwrite")
        return name

    async def fetch(self, name: str, timeout: float) -> tuple[bytes, float]:
        """The recording and the wall-clock seconds it covered (Asterisk's event timestamps)."""
        finished = await asyncio.wait_for(self.recorded[name], timeout)
        covered = (_timestamp(finished) - self.recording_started[name]).total_seconds()
        data = await self.ari.get(f"/recordings/stored/{name}/file")
        await self.ari.delete(f"/recordings/stored/{name}")
        return data, covered

    async def step(self, conferences: int, size: int) -> dict:
        talkers = min(self.args.talkers, size - 1)
        gate = asyncio.Semaphore(12)
        confs = [self.conference() for _ in range(conferences)]
        t_join = time.monotonic()
        phones: dict[int, list[str]] = {}
        try:
            joined = await asyncio.gather(
                *[self.join(pin, gate) for cid, pin in confs for _ in range(size)], return_exceptions=True
            )
            failed = [j for j in joined if isinstance(j, BaseException)]
            ok = iter(j for j in joined if not isinstance(j, BaseException))
            for cid, _ in confs:
                phones[cid] = [c for c in (next(ok, None) for _ in range(size)) if c]
            deadline = time.monotonic() + 30 + size * conferences * 0.2
            while time.monotonic() < deadline:
                counts = [len(r.participants) if (r := self.app.rooms.get(cid)) else 0 for cid, _ in confs]
                if sum(counts) >= conferences * size - len(failed):
                    break
                await asyncio.sleep(0.2)
            in_rooms = sum(len(r.participants) if (r := self.app.rooms.get(cid)) else 0 for cid, _ in confs)
            join_s = time.monotonic() - t_join
            if in_rooms < conferences * size:
                return {
                    "broken": True,
                    "why": f"only {in_rooms}/{conferences * size} joined",
                    "join_s": join_s,
                }

            # talk: `talkers` phones per conference play a continuous tone each
            for chans in phones.values():
                for i, ch in enumerate(chans[:talkers]):
                    await self.ari.post(
                        f"/channels/{ch}/play", media=f"tone:{600 + 200 * i}", playbackId=f"talk-{ch}"
                    )
            await asyncio.sleep(0.5)
            if os.environ.get("BENCH_DEBUG"):
                room = self.app.rooms[confs[0][0]]
                print(await self.ctl.ami.command(f"bridge show {room.bridge_id}"))
                for ch in list(room.participants)[:1] + phones[confs[0][0]][:1]:
                    print(await self.ctl.ami.command(f"core show channel {ch}"))
            seconds = self.args.seconds
            cpu0, wall0, own0 = asterisk_cpu_seconds(), time.monotonic(), time.process_time()
            names = []
            for cid, chans in phones.items():
                room = self.app.rooms[cid]
                bridge_rec = await self.record(f"/bridges/{room.bridge_id}/record", seconds)
                snoop = f"snoop-{uuid.uuid4().hex[:12]}"
                fut = self.started[snoop] = asyncio.get_running_loop().create_future()
                await self.ari.post(
                    f"/channels/{chans[-1]}/snoop",
                    spy="in",
                    app=self.settings.ari_app,
                    appArgs="benchsnoop",
                    snoopId=snoop,
                )
                await asyncio.wait_for(fut, 10)
                names.append((bridge_rec, await self.record(f"/channels/{snoop}/record", seconds)))
            recordings = [
                (await self.fetch(b, seconds + 30), await self.fetch(s, seconds + 30)) for b, s in names
            ]
            wall = time.monotonic() - wall0
            cpu = (asterisk_cpu_seconds() - cpu0) / wall
            own = (time.process_time() - own0) / wall
            if os.environ.get("BENCH_DUMP"):
                for i, ((b, _), (sn, _)) in enumerate(recordings):
                    Path(os.environ["BENCH_DUMP"], f"c{conferences}-{size}-{i}-bridge.wav").write_bytes(b)
                    Path(os.environ["BENCH_DUMP"], f"c{conferences}-{size}-{i}-heard.wav").write_bytes(sn)
            measured = [(quality(data), covered) for pair in recordings for data, covered in pair]
            shortest = min(q.seconds / covered for q, covered in measured)
            dropouts = max(q.dropouts for q, _ in measured)
            return {
                "broken": dropouts > BREAK_DROPOUTS or shortest < BREAK_SHORT,
                "cpu": cpu,
                "controller_cpu": own,
                "shortest": shortest,
                "dropouts": dropouts,
                "join_s": join_s,
                "channels": len((await self.ari.get("/channels")) or []),
            }
        finally:
            for chans in phones.values():
                for ch in chans:
                    try:
                        await self.ari.delete(f"/channels/{ch}")
                    except Exception:
                        pass
            for cid, _ in confs:
                deadline = time.monotonic() + 20
                while (r := self.app.rooms.get(cid)) and r.participants and time.monotonic() < deadline:
                    await asyncio.sleep(0.1)
                await self.app.end(cid, "bench")


def _line(label: str, r: dict) -> str:
    if "cpu" not in r:
        return f"  {label}: BROKEN ({r['why']}, {r['join_s']:.1f} s to join)"
    verdict = "BREAKS UP" if r["broken"] else "ok"
    return (
        f"  {label}: Asterisk CPU {r['cpu'] * 100:5.1f}% of one core, controller {r['controller_cpu'] * 100:4.1f}%,"
        f" {r['channels']} channels, audio {r['shortest'] * 100:5.1f}% of wall time (worst),"
        f" gaps {r['dropouts'] * 100:4.1f}% (worst), joined in {r['join_s']:.1f} s -> {verdict}"
    )


async def run(args) -> None:
    from controller.app import Controller
    from controller.settings import load
    from db import migrate
    from db.session import make_engine, session_factory

    settings = load()
    migrate.create_database(settings, drop_first=True)
    engine = make_engine(settings)
    ctl = None
    try:
        migrate.upgrade(settings)
        sandbox("start", INSTANCE)
        ctl = Controller(settings)
        await ctl.start()
        await asyncio.wait_for(ctl.ari.connected.wait(), 30)
        bench = Bench(ctl, session_factory(engine), args)
        info = await ctl.ari.get("/asterisk/info")
        print(
            f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') // 2**30} GiB; "
            f"Asterisk {info['system']['version']}; {args.seconds} s per step, "
            f"{args.talkers} talkers per conference (continuous tones), participants in {args.format}"
        )
        cpu0, t0 = asterisk_cpu_seconds(), time.monotonic()
        await asyncio.sleep(3)
        print(
            f"idle Asterisk: {(asterisk_cpu_seconds() - cpu0) / (time.monotonic() - t0) * 100:.1f}% of one core"
        )

        print("one conference, N participants:")
        best = 0
        for n in [int(x) for x in args.sizes.split(",")]:
            r = await bench.step(1, n)
            print(_line(f"N={n:4d}", r), flush=True)
            if r["broken"]:
                break
            best = n
        print(
            f"=> participants per conference without break-up: {best}"
            f"{' (largest step tried)' if best == int(args.sizes.split(',')[-1]) else ''}"
        )

        size = args.conference_size
        print(f"concurrent conferences of {size} participants:")
        best = 0
        for c in [int(x) for x in args.conferences.split(",")]:
            r = await bench.step(c, size)
            print(_line(f"C={c:4d} ({c * size} participants)", r), flush=True)
            if r["broken"]:
                break
            best = c
        print(
            f"=> concurrent conferences of {size} without break-up: {best}"
            f"{' (largest step tried)' if best == int(args.conferences.split(',')[-1]) else ''}"
        )
    finally:
        if ctl is not None:
            await ctl.stop()
        sandbox("stop", INSTANCE, check=False)
        sandbox("remove", INSTANCE, check=False)
        engine.dispose()
        migrate.drop_database(settings)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--talkers", type=int, default=2)
    ap.add_argument("--sizes", default="10,25,50,75,100,125,150,200")
    ap.add_argument("--conferences", default="5,10,20,30,40,50,60,80")
    ap.add_argument("--conference-size", type=int, default=6)
    # an ARI-originated Local channel left to itself is slin192 and the mixer then runs at
    # 192 kHz; phones and trunks speak ulaw/alaw (8 kHz), g722 (16 kHz) or opus (48 kHz)
    ap.add_argument("--format", default="ulaw", help="the participants' codec (ulaw, slin16, slin48...)")
    args = ap.parse_args()
    os.environ.update(_environment())
    import logging

    logging.basicConfig(level=logging.WARNING)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
