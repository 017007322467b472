"""A real softphone in the test tier: baresip (Debian package `baresip`), run headless.

Each `Softphone` is one baresip process with a config directory of its own: an account with
the member's number and SIP password in our realm, registered through the test instance's SIP
port (its outbound proxy, as a phone configured with a domain and a server), codec G.711
u-law. No sound card: Debian's baresip 1.0.0 has no file player (`aufile` is a source only), so
the phone's microphone is a WAV file (`aufile`) and what it hears is the `sndfile` filter's dump
of the decoded audio (`<record_dir>/dump-...-dec.wav`; `-enc.wav` is what it sent). It is
driven over `ctrl_tcp` (JSON in netstrings): commands (dial, accept, hangup, quit) and the
events it reports (REGISTER_OK, CALL_INCOMING, CALL_ESTABLISHED, CALL_CLOSED...).

Also here: the tone a phone plays (`write_tone`) and how to tell which tone a recording holds
(`dominant_frequency`, `tone_power`), in pure Python.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import shutil
import socket
import struct
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MODULES = Path("/usr/lib/baresip/modules")
SAMPLE_RATE = 8000  # G.711's: aufile refuses a file whose rate is not the codec's
# baresip's own RTP ports: not the test instances' (VOIP_RTP_START.., 20000-28999, tests/conftest.py),
# not `make up`'s (10000-10999), not the kernel's ephemeral ports (SIPp's media, 32768-60999);
# baresip tries other ports of the range when one is taken (another run's phone)
RTP_PORTS = "11000-19999"
LIFETIME_SECONDS = 600


def baresip_binary() -> str | None:
    return shutil.which("baresip") if (MODULES / "ctrl_tcp.so").exists() else None


def _free_port() -> int:
    """A port free for both UDP and TCP: baresip's sip_listen binds both."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port: int = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port


def _free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Softphone:
    """A member's baresip phone. `async with` starts it and, on the way out, quits it (it
    unregisters) or kills it."""

    number: str
    sip_password: str
    realm: str
    host: str
    port: int
    workdir: Path
    microphone: Path  # a WAV file: 8 kHz, mono, 16-bit
    events: list[dict[str, Any]] = field(default_factory=list, init=False)
    _proc: asyncio.subprocess.Process | None = field(default=None, init=False)
    _writer: asyncio.StreamWriter | None = field(default=None, init=False)
    _reader_task: asyncio.Task[None] | None = field(default=None, init=False)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition, init=False)
    _tokens: int = field(default=0, init=False)

    @property
    def config_dir(self) -> Path:
        return self.workdir / f"baresip-{self.number}"

    @property
    def record_dir(self) -> Path:
        return self.config_dir / "recordings"

    @property
    def log_path(self) -> Path:
        return self.config_dir / "baresip.log"

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def _write_config(self, sip_port: int, ctrl_port: int) -> None:
        self.record_dir.mkdir(parents=True, exist_ok=True)
        config = f"""\
poll_method epoll
sip_listen 127.0.0.1:{sip_port}
net_interface 127.0.0.1
call_local_timeout 120
audio_source aufile,{self.microphone}
rtp_ports {RTP_PORTS}
jitter_buffer_delay 5-10
module_path {MODULES}
module g711.so
module aufile.so
module sndfile.so
snd_path {self.record_dir}
module_tmp account.so
module_app menu.so
module_app ctrl_tcp.so
ctrl_tcp_listen 127.0.0.1:{ctrl_port}
statmode_default off
"""
        # no account yet: it is added over ctrl_tcp once connected (`account_line`), so the
        # registration's events come after the connection, not before it
        (self.config_dir / "config").write_text(config)
        (self.config_dir / "accounts").write_text("")

    def account_line(self) -> str:
        """The member's account as a phone is configured: number, SIP password, our realm, the
        platform's SIP server as outbound proxy. mwi=no: the MWI subscription is other tests'
        business (tests of res_pjsip_mwi), not this phone's."""
        return (
            f"<sip:{self.number}@{self.realm};transport=udp>"
            f";auth_pass={self.sip_password}"
            f';outbound="sip:{self.host}:{self.port};transport=udp"'
            ";audio_codecs=pcmu;answermode=manual;mwi=no;regint=600"
        )

    async def start(self, timeout: float = 15) -> None:
        binary = baresip_binary()
        if binary is None:
            raise RuntimeError("baresip is not installed (Debian package baresip)")
        sip_port, ctrl_port = _free_port(), _free_tcp_port()
        self._write_config(sip_port, ctrl_port)
        with self.log_path.open("wb") as log:
            self._proc = await asyncio.create_subprocess_exec(
                binary,
                "-f",
                str(self.config_dir),
                # it quits by itself in the end, should the test run die without stopping it
                "-t",
                str(LIFETIME_SECONDS),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self._proc.returncode is not None:
                raise RuntimeError(f"baresip exited ({self._proc.returncode}): {self.log_tail()}")
            with contextlib.suppress(OSError):
                reader, self._writer = await asyncio.open_connection("127.0.0.1", ctrl_port)
                break
            if loop.time() > deadline:
                raise RuntimeError(f"baresip's ctrl_tcp did not listen: {self.log_tail()}")
            await asyncio.sleep(0.1)
        self._reader_task = asyncio.create_task(self._read(reader))
        await self.command("uanew", self.account_line())

    async def _read(self, reader: asyncio.StreamReader) -> None:
        """Netstrings (`<length>:<json>,`): events and command responses, kept in order."""
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError, ValueError):
            while True:
                length = int((await reader.readuntil(b":"))[:-1])
                message = json.loads((await reader.readexactly(length + 1))[:-1])
                async with self._changed:
                    self.events.append(message)
                    self._changed.notify_all()

    async def wait_for(
        self, match: Callable[[dict[str, Any]], bool], timeout: float, what: str
    ) -> dict[str, Any]:
        """The first message (event or response) `match` accepts, seen already or to come."""
        try:
            async with asyncio.timeout(timeout), self._changed:
                while True:
                    for message in self.events:
                        if match(message):
                            return message
                    if self._reader_task is not None and self._reader_task.done():
                        raise AssertionError(f"baresip {self.number} went away waiting for {what}")
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(
                f"baresip {self.number}: no {what} in {timeout} s; events: "
                f"{[m.get('type') or m.get('data') for m in self.events]}\n{self.log_tail()}"
            ) from None

    async def event(self, kind: str, timeout: float = 15) -> dict[str, Any]:
        return await self.wait_for(lambda m: m.get("type") == kind, timeout, f"{kind} event")

    async def command(self, name: str, params: str = "", timeout: float = 10) -> dict[str, Any]:
        """Run a baresip command (as typed at its console: dial, accept, hangup, quit...)."""
        assert self._writer is not None, "the phone is not started"
        self._tokens += 1
        token = f"t{self._tokens}"
        body = json.dumps({"command": name, "params": params, "token": token}).encode()
        self._writer.write(b"%d:%s," % (len(body), body))
        await self._writer.drain()
        response = await self.wait_for(lambda m: m.get("token") == token, timeout, f"{name} response")
        if not response.get("ok"):
            raise AssertionError(f"baresip {self.number}: {name} {params} failed: {response}")
        return response

    async def registered(self, timeout: float = 15) -> dict[str, Any]:
        """Its REGISTER was accepted (401 challenge answered with the SIP password, then 200)."""
        outcome = await self.wait_for(
            lambda m: m.get("type") in ("REGISTER_OK", "REGISTER_FAIL"), timeout, "registration"
        )
        if outcome["type"] != "REGISTER_OK":
            raise AssertionError(f"baresip {self.number} could not register: {outcome}\n{self.log_tail()}")
        return outcome

    async def dial(self, number: str) -> None:
        """Dial as a member does: the bare number (baresip adds our realm, the proxy routes it)."""
        await self.command("dial", number)

    async def accept(self) -> None:
        await self.command("accept")

    async def hangup(self) -> None:
        await self.command("hangup")

    def recording(self, kind: str = "dec") -> Path:
        """The call's audio as the phone decoded it (`dec`: what it heard) or as it encoded it
        (`enc`: what it sent). One call per phone: one file of each."""
        found = sorted(self.record_dir.glob(f"dump-*-{kind}.wav"))
        if len(found) != 1:
            raise AssertionError(f"baresip {self.number}: {kind} recordings {found}\n{self.log_tail()}")
        return found[0]

    def heard_seconds(self) -> float:
        """How much audio it has decoded so far (the file grows as the call goes)."""
        found = list(self.record_dir.glob("dump-*-dec.wav"))
        return max(0, found[0].stat().st_size - 44) / (2 * SAMPLE_RATE) if found else 0.0

    def rtp_source(self) -> tuple[str, int] | None:
        """Where the call's incoming RTP came from (its log says so once the stream is up)."""
        found = re.findall(
            r"incoming rtp for 'audio' established, receiving from ([\d.]+):(\d+)", self.log_tail(50000)
        )
        return (found[-1][0], int(found[-1][1])) if found else None

    async def stop(self, timeout: float = 10) -> None:
        """Quit (baresip unregisters and hangs up); killed if it does not exit in time. Its
        recordings are complete (their WAV headers written) once it has exited."""
        proc = self._proc
        if proc is None:
            return
        if proc.returncode is None and self._writer is not None:
            with contextlib.suppress(ConnectionError, AssertionError):
                await self.command("quit", timeout=timeout)
        try:
            await asyncio.wait_for(proc.wait(), timeout if self._writer is not None else 0)
        except TimeoutError:
            proc.kill()
            await proc.wait()
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError):
                await self._writer.wait_closed()
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader_task
        self._proc = None

    async def __aenter__(self) -> Softphone:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


# --- the phone's audio: a tone to play, and which tone a recording holds ---


def write_tone(path: Path, hz: float, seconds: float, amplitude: int = 8000) -> Path:
    """A sine tone as the phone's microphone: 8 kHz mono 16-bit WAV."""
    frames = int(SAMPLE_RATE * seconds)
    step = 2 * math.pi * hz / SAMPLE_RATE
    samples = (int(amplitude * math.sin(step * i)) for i in range(frames))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(b"".join(struct.pack("<h", s) for s in samples))
    return path


def read_samples(path: Path) -> tuple[int, list[int]]:
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (1, 2), f"{path}: not mono 16-bit"
        rate, raw = wav.getframerate(), wav.readframes(wav.getnframes())
    return rate, list(struct.unpack(f"<{len(raw) // 2}h", raw))


def _sounding_blocks(path: Path, floor: int) -> tuple[int, list[list[int]]]:
    """The recording's 50 ms blocks louder than `floor` (RMS): silence, and the quiet first
    packets of a stream, are left out."""
    rate, samples = read_samples(path)
    size = rate // 20
    blocks = [samples[i : i + size] for i in range(0, len(samples) - size + 1, size)]
    return rate, [b for b in blocks if math.sqrt(sum(s * s for s in b) / size) >= floor]


@dataclass(frozen=True)
class Tone:
    """What a recording holds: its frequency (the median of its sounding blocks') and for how
    long it sounds."""

    hz: float
    sounding_seconds: float


def _block_frequency(block: list[int], rate: int) -> float:
    """Zero crossings (a tone crosses zero twice a cycle), timed between the first and the last
    one, each placed between its two samples by linear interpolation."""
    at = [
        i + a / (a - b)
        for i, (a, b) in enumerate(zip(block, block[1:], strict=False))
        if (a < 0) != (b < 0) and a != b
    ]
    if len(at) < 2 or at[-1] == at[0]:
        return 0.0
    return (len(at) - 1) * rate / (2 * (at[-1] - at[0]))


def dominant_frequency(path: Path, floor: int = 300) -> Tone:
    rate, blocks = _sounding_blocks(path, floor)
    if not blocks:
        return Tone(0.0, 0.0)
    estimates = sorted(_block_frequency(block, rate) for block in blocks)
    return Tone(estimates[len(estimates) // 2], len(blocks) * len(blocks[0]) / rate)


def tone_power(path: Path, hz: float, floor: int = 300) -> float:
    """The share of the recording's power that is at `hz` (Goertzel, over each sounding block,
    averaged): near 1 for that pure tone, near 0 when that frequency is not in it."""
    rate, blocks = _sounding_blocks(path, floor)
    coeff = 2 * math.cos(2 * math.pi * hz / rate)
    shares = []
    for block in blocks:
        s1 = s2 = 0.0
        for x in block:
            s1, s2 = x + coeff * s1 - s2, s1
        n = len(block)
        at_hz = 2 * (s1 * s1 + s2 * s2 - coeff * s1 * s2) / (n * n)
        shares.append(at_hz / (sum(x * x for x in block) / n))
    return sum(shares) / len(shares) if shares else 0.0
