"""Run SIPp (Debian's sip-tester) against the sandbox Asterisk."""

from __future__ import annotations

import re
import shutil
import socket
import struct
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

SCENARIOS = Path(__file__).resolve().parent.parent / "sipp"


def free_udp_port(ip: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


@dataclass
class SippResult:
    returncode: int
    stdout: str
    stderr: str
    workdir: Path | None = None  # where SIPp ran, when it kept its logs there

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def log(self, name: str = "messages.log") -> str:
        """A log SIPp left in its working directory ("" without one)."""
        found = sorted(self.workdir.glob(name)) if self.workdir else []
        return "\n".join(f.read_text(errors="replace") for f in found)


def sipp_binary() -> str | None:
    return shutil.which("sipp")


def run_scenario(
    scenario: str,
    host: str,
    port: int,
    *,
    service: str,
    auth_user: str | None = None,
    auth_password: str | None = None,
    cwd: Path,
    timeout: int = 15,
    local_port: int | None = None,
    local_ip: str = "127.0.0.1",
    extra: list[str] | None = None,
) -> SippResult:
    binary = sipp_binary()
    if binary is None:
        raise RuntimeError("sipp is not installed (Debian package sip-tester)")
    cmd = [
        binary,
        f"{host}:{port}",
        "-sf",
        str(SCENARIOS / scenario),
        "-s",
        service,
        "-i",
        local_ip,
        "-p",
        str(local_port or free_udp_port(local_ip)),
        "-m",
        "1",
        "-nostdin",
        "-timeout",
        f"{timeout}s",
        "-timeout_error",
        "-recv_timeout",
        "5000",
    ]
    if auth_user:
        cmd += ["-au", auth_user, "-ap", auth_password or ""]
    cmd += extra or []
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout + 10)
    return SippResult(proc.returncode, proc.stdout, proc.stderr)


class Phone:
    """A registered SIP phone: SIPp REGISTERs the virtual number from port P, then a SIPp UAS
    listens on that same port P and answers, is busy (486) or does not answer. (Endpoints have
    rewrite_contact=yes, so the contact is wherever the REGISTER came from: the UAS's port.)"""

    def __init__(
        self,
        behaviour: str,
        number: str,
        password: str,
        *,
        host: str,
        port: int,
        cwd: Path,
        timeout: int = 60,
        local_ip: str = "127.0.0.1",
    ):
        self.behaviour, self.number = behaviour, number
        self.local_ip = local_ip
        self.sip_port = free_udp_port(local_ip)
        self.media_port = free_udp_port(local_ip)
        binary = sipp_binary()
        if binary is None:
            raise RuntimeError("sipp is not installed (Debian package sip-tester)")
        reg = run_scenario(
            "register.xml",
            host,
            port,
            service=number,
            auth_user=number,
            auth_password=password,
            cwd=cwd,
            local_port=self.sip_port,
            local_ip=local_ip,
        )
        if not reg.ok:
            raise RuntimeError(f"phone {number} could not register: {reg.stdout[-1500:]}")
        self.proc = subprocess.Popen(
            [
                binary,
                "-sf",
                str(SCENARIOS / f"uas_{behaviour}.xml"),
                "-i",
                local_ip,
                "-p",
                str(self.sip_port),
                "-mp",
                str(self.media_port),
                "-m",
                "1",
                "-nostdin",
                "-timeout",
                f"{timeout}s",
                "-timeout_error",
            ],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._wait_listening()

    def _wait_listening(self, timeout: float = 20) -> None:
        """Return once the UAS listens on its SIP port: the phone is registered from that port,
        so a call may come at once. A UAS that SIPp had not started yet (a loaded machine) got
        the INVITE only from Asterisk's retransmissions (0.5, 1.5, 3.5, 7.5 s after the first),
        and answered or was CANCELled seconds late."""
        # the address:port as /proc/net/udp writes it (127.0.0.1 is 0100007F)
        packed = "".join(f"{int(b):02X}" for b in reversed(self.local_ip.split(".")))
        wanted = f"{packed}:{self.sip_port:04X}"
        deadline = time.monotonic() + timeout
        while True:
            with open("/proc/net/udp") as table:
                if any(line.split()[1] == wanted for line in table.readlines()[1:]):
                    return
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"phone {self.number}: SIPp exited {self.proc.returncode} before listening: "
                    f"{(self.proc.stderr.read() if self.proc.stderr else '')[-1500:]}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"phone {self.number}: SIPp not listening on {self.sip_port} after {timeout} s"
                )
            time.sleep(0.02)

    def wait(self, timeout: float = 30) -> int:
        """The UAS's exit status: 0 when its whole scenario ran (answered / busy / rang out)."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
        return self.proc.returncode

    def finished_ok(self, timeout: float = 30) -> bool:
        return self.wait(timeout) == 0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


def place_call(
    member_number: str,
    password: str,
    dialed: str,
    *,
    host: str,
    port: int,
    cwd: Path,
    timeout: int = 70,
    scenario: str = "uac_call.xml",
    local_ip: str = "127.0.0.1",
) -> SippResult:
    """A member's phone calls `dialed`; returns when done. With uac_call.xml it stays until
    Asterisk hangs up; with uac_call_bye.xml it hangs up itself 2 s after the answer."""
    # a file per call: one member may place several calls at once
    inf = cwd / f"caller-{member_number}-{uuid.uuid4().hex[:8]}.csv"
    inf.write_text(f"SEQUENTIAL\n{member_number};\n")
    for _ in range(3):
        result = run_scenario(
            scenario,
            host,
            port,
            service=dialed,
            auth_user=member_number,
            auth_password=password,
            cwd=cwd,
            timeout=timeout,
            local_ip=local_ip,
            extra=["-inf", str(inf), "-mp", str(free_udp_port(local_ip))],
        )
        # the media port free_udp_port saw free was taken meanwhile (many phones starting at
        # once): SIPp stops before it sends anything, so the call is simply placed again
        if "Unable to bind" not in result.stderr:
            return result
    return result


# --- the PSTN side: calls as the test instance's carrier delivers them
# The carrier is whatever sends SIP from CARRIER_IP (asterisk_conf/templates/test/pjsip_test.conf.j2
# identifies it by source address); members' phones send from 127.0.0.1, and UNKNOWN_IP is an
# address no identify matches. All of 127/8 is loopback on Linux: SIPp binds these as they are.
CARRIER_IP = "127.0.0.2"
UNKNOWN_IP = "127.0.0.3"
# RFC 4733 captures of each key, shipped by sip-tester
DTMF_CAPTURES = Path("/usr/share/sip-tester")
_KEY_FILES = {**{d: d for d in "0123456789"}, "*": "star", "#": "pound"}


def _capture(key: str) -> tuple[bytes, list[tuple[float, bytes]]]:
    """One key's capture: the pcap file header and its packets with their capture times."""
    data = (DTMF_CAPTURES / f"dtmf_2833_{_KEY_FILES[key]}.pcap").read_bytes()
    header, offset, packets = data[:24], 24, []
    while offset < len(data):
        sec, usec, size, _ = struct.unpack("<IIII", data[offset : offset + 16])
        packets.append((sec + usec / 1e6, data[offset + 16 : offset + 16 + size]))
        offset += 16 + size
    return header, packets


# Asterisk hands a caller's keys to the calling card service only while one of its GET DATA
# commands runs: between two AGI commands (the PIN checked in the database) and during the
# "vm-incorrect" heard after a wrong PIN (1.5 s, a STREAM FILE no key interrupts) they are
# dropped. The keys are played at fixed times, so each group comes CARD_PAUSE after the one before:
# longer than the service takes to ask again (a PIN check took 3 s on a loaded machine, plus
# vm-incorrect), shorter than a prompt waits for its first key (8 s once it has played).
# With 2 s a PIN checked slowly lost its first keys. (The card number's 2 s went unplayed until
# write_dtmf_pcap began its stream with silence: its first key came with the answer, before the
# card prompt, and the card's failures counted on a number one digit short: no lock.)
CARD_PAUSE = "w" * 12  # 6 s


def card_keys(card: str, *groups: str) -> str:
    """The keys of a card login: the card number, then each PIN (or number), CARD_PAUSE before each."""
    return "".join(f"{CARD_PAUSE}{group}#" for group in (card, *groups))


def write_dtmf_pcap(keys: str, path: Path, *, key_gap: float = 0.4) -> Path:
    """The keys a caller presses (w waits 0.5 s, as Dial's D() option) as one RTP stream for
    SIPp's play_pcap_audio, made of the shipped one-key captures. Each capture has its own RTP
    sequence numbers and event timestamp: played one after another as they are, Asterisk kept
    only the keys numbered above the one before (of 5588# then 2349#, it got 5, 8, #). So the
    stream is renumbered: sequence numbers follow each other, and each key's event timestamp
    is its time in the stream."""
    out, header, at, seq = [], b"", 0.0, 1000
    for key in keys:
        if key == "w":
            at += 0.5
            continue
        header, packets = _capture(key)
        first = packets[0][0]
        for when, frame in packets:
            rtp = 14 + (frame[14] & 0x0F) * 4 + 8  # Ethernet, IPv4 (its header length), UDP
            stamp = 8000 + int(at * 8000)  # 8 kHz clock
            frame = frame[: rtp + 2] + struct.pack(">HI", seq & 0xFFFF, stamp) + frame[rtp + 8 :]
            out.append((at + when - first, frame))
            seq += 1
        at += key_gap
    if not out:
        raise ValueError(f"no keys in {keys!r}")
    if out[0][0] > 0:
        # SIPp plays a capture from its first packet on, whatever that packet's time: the keys'
        # leading pause (the w's before the first key) counts only after a packet at time 0. So
        # the stream opens with 20 ms of silence (u-law, the first key's SSRC, the sequence
        # number before the first key's, the stream's first timestamp): without it the first
        # key went out with the ACK, before the service's first prompt could read it.
        template = out[0][1]
        rtp = 14 + (template[14] & 0x0F) * 4 + 8
        ssrc = template[rtp + 8 : rtp + 12]
        out.insert(0, (0.0, _ulaw_frame(template, b"\xff" * 160, 999, 8000, ssrc, marker=True)))
    body = b"".join(
        struct.pack("<IIII", 1_700_000_000 + int(t), round((t % 1) * 1e6) % 1_000_000, len(f), len(f)) + f
        for t, f in out
    )
    path.write_bytes(header + body)
    return path


def _ulaw_frame(
    template: bytes, payload: bytes, seq: int, stamp: int, ssrc: bytes, marker: bool = False
) -> bytes:
    """One G.711 u-law RTP packet (payload type 0) in the Ethernet/IPv4/UDP frame of a shipped
    capture's packet `template`, the IP and UDP lengths set to the new payload."""
    rtp = 14 + (template[14] & 0x0F) * 4 + 8
    ip = bytearray(template[14:rtp])
    struct.pack_into(">H", ip, 2, len(ip) + 12 + len(payload))  # IPv4 total length
    struct.pack_into(">HH", ip, len(ip) - 4, 8 + 12 + len(payload), 0)  # UDP length, no checksum
    head = struct.pack(">BBHI", 0x80, 0x80 if marker else 0x00, seq & 0xFFFF, stamp) + ssrc
    return template[:14] + bytes(ip) + head + payload


def carrier_call(
    dialed: str,
    caller: str,
    *,
    host: str,
    port: int,
    cwd: Path,
    scenario: str = "carrier_call_bye.xml",
    dtmf: str = "",
    talk_ms: int = 2000,
    source_ip: str = CARRIER_IP,
    timeout: int = 90,
    caller_name: str = "",
    stay_ms: int | None = None,
    audio: tuple[float, bytes] | None = None,
) -> SippResult:
    """A call from the PSTN to `dialed` showing `caller`, sent by SIPp from the carrier's
    address (or `source_ip`) with no authentication, as a carrier sends it. Scenarios:
    carrier_call_bye.xml (answered, talks `talk_ms`, hangs up), carrier_call_dtmf.xml
    (answered, keys `dtmf`, stays until Asterisk hangs up), carrier_refused.xml (passes only
    if refused), carrier_call_hold.xml (answered or refused, whichever happens: once answered
    the caller stays `stay_ms` unless Asterisk hangs up first, playing `audio`, G.711 u-law
    starting that many seconds after the answer; `final_response` says how it went). Runs
    in its own directory under `cwd`, where SIPp leaves messages.log (every SIP message) and
    its error log."""
    work = cwd / f"carrier-{dialed}-{free_udp_port()}"
    work.mkdir(parents=True)
    if dtmf:
        write_dtmf_pcap(dtmf, work / "dtmf.pcap")
    write_audio_pcap(*(audio or (0.0, b"\xff" * 160)), work / "audio.pcap")  # silence by default
    (work / "caller.csv").write_text(f"SEQUENTIAL\n{caller};{caller_name};\n")
    result = run_scenario(
        scenario,
        host,
        port,
        service=dialed,
        cwd=work,
        timeout=timeout,
        local_ip=source_ip,
        extra=[
            "-inf",
            str(work / "caller.csv"),
            "-mp",
            str(free_udp_port(source_ip)),
            "-d",
            str(talk_ms),
            "-trace_msg",
            "-message_file",
            str(work / "messages.log"),
            "-trace_err",
            # a carrier's call waits on Asterisk as long as the call lasts, not run_scenario's 5 s
            "-recv_timeout",
            str(stay_ms if stay_ms is not None else timeout * 1000),
        ],
    )
    result.workdir = work
    return result


def write_audio_pcap(start_at: float, ulaw: bytes, path: Path) -> Path:
    """G.711 u-law audio as one RTP stream for SIPp's play_pcap_audio, its first packet
    `start_at` s into the stream: 20 ms packets in the frame of a shipped capture (payload
    type 0, lengths set to the new payload)."""
    header, [(_, template), *_] = _capture("0")
    out = []
    ssrc = struct.pack(">I", 0x5EED)
    for n in range(0, len(ulaw), 160):
        seq = n // 160
        frame = _ulaw_frame(template, ulaw[n : n + 160], seq, n, ssrc, marker=seq == 0)
        out.append((start_at + seq * 0.02, frame))
    path.write_bytes(
        header
        + b"".join(
            struct.pack("<IIII", 1_700_000_000 + int(t), round((t % 1) * 1e6) % 1_000_000, len(f), len(f)) + f
            for t, f in out
        )
    )
    return path


def final_response(result: SippResult) -> int | None:
    """The final response Asterisk gave the INVITE in a carrier_call (200 when answered)."""
    for block in re.split(r"^-{20,}", result.log(), flags=re.M):  # one block per message
        if "message received" in block and "CSeq: 1 INVITE" in block:
            status = re.search(r"^SIP/2\.0 (\d{3}) ", block, re.M)
            if status and int(status[1]) >= 200:
                return int(status[1])
    return None
