"""Simulated carriers (issue 14): SIPp UAS processes standing in for the operator's SIP trunks.

Each `SimCarrier` is one long-lived SIPp UAS on its own loopback address (127.0.0.4, .5, .6:
127.0.0.2 is the test instance's inbound carrier, 127.0.0.3 the fraud tests' stranger) and a
free port, running one of tests/sipp/carrier_*.xml: `answer` (rings and answers), `503`,
`busy` (486) or `silent` (no response at all); `by_number` is the demo's (the number's last
four digits choose). Every scenario answers Asterisk's qualify OPTIONS. SIPp writes every
message it sends and receives to its message log, which tells a test which carrier saw an
INVITE (`invites()`: the Call-IDs of the INVITEs it received; retransmissions count once).

`add_carrier` publishes a carrier row (and its one-prefix buy deck) through the test
factory's sessions, whose commit expires what Asterisk cached (controller/services/
realtime_cache.py); the controller's routing table then needs `refresh_routing`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from db.models import Carrier, CarrierRate
from db.session import transaction
from tests.support.sipp import SCENARIOS, free_udp_port

CARRIER_IPS = ("127.0.0.4", "127.0.0.5", "127.0.0.6")
BEHAVIOURS = ("answer", "503", "busy", "silent", "by_number")
_CALL_ID = re.compile(r"^Call-ID:\s*(\S+)", re.M | re.I)


@dataclass
class SimCarrier:
    behaviour: str
    ip: str
    port: int
    workdir: Path
    transport: str = "udp"  # or "tcp": SIPp listens on TCP (-t t1), as a carrier with transport tcp
    proc: subprocess.Popen[str] | None = field(default=None, repr=False)

    @property
    def message_log(self) -> Path:
        return self.workdir / "messages.log"

    def start(self) -> SimCarrier:
        binary = shutil.which("sipp")
        if binary is None:
            raise RuntimeError("sipp is not installed (Debian package sip-tester)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                binary,
                "-sf",
                str(SCENARIOS / f"carrier_{self.behaviour}.xml"),
                "-i",
                self.ip,
                "-p",
                str(self.port),
                "-mp",
                str(free_udp_port(self.ip)),
                "-nostdin",
                "-t",
                "t1" if self.transport == "tcp" else "u1",
                "-trace_msg",
                "-message_file",
                str(self.message_log),
                "-trace_err",
                "-error_file",
                str(self.workdir / "errors.log"),
            ],
            cwd=self.workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(0.2)
        if self.proc.poll() is not None:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise RuntimeError(f"SIPp carrier {self.behaviour} did not start: {err[-1500:]}")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def received(self) -> list[str]:
        """Every message SIPp received, in order (its message log's received blocks)."""
        try:
            text = self.message_log.read_text(errors="replace")
        except FileNotFoundError:
            return []
        blocks = re.split(r"^-{10,}.*$", text, flags=re.M)
        return [b for b in blocks if "message received" in b]

    def invites(self) -> set[str]:
        """Call-IDs of the INVITEs this carrier received."""
        out = set()
        for block in self.received():
            body = block.split("\n", 1)[1] if "\n" in block else block
            if re.search(r"^\s*INVITE sip:", body, re.M):
                m = _CALL_ID.search(body)
                if m:
                    out.add(m[1])
        return out

    def invited_numbers(self) -> list[str]:
        """The request-URI users of the INVITEs received (retransmissions included)."""
        return re.findall(r"^\s*INVITE sip:([^@;\s]+)@", "\n".join(self.received()), re.M)


def start_carriers(
    cwd: Path, wanted: dict[str, tuple[str, str]], transport: str = "udp"
) -> dict[str, SimCarrier]:
    """Start SIPp carriers: key -> (behaviour, ip), each on a free port of its address, all
    listening on `transport` (udp or tcp)."""
    out: dict[str, SimCarrier] = {}
    try:
        for key, (behaviour, ip) in wanted.items():
            port = free_udp_port(ip)
            out[key] = SimCarrier(behaviour, ip, port, cwd / f"carrier-{key}", transport).start()
    except Exception:
        for c in out.values():
            c.stop()
        raise
    return out


def add_carrier(
    factory: sessionmaker[Session],
    name: str,
    sim: SimCarrier | tuple[str, int],
    rate: str,
    *,
    prefix: str = "1",
    connect_fee: str = "0",
    **fields: object,
) -> int:
    """A carrier row reaching `sim` (or a (host, port) where nothing may answer), with a buy
    deck of one prefix at `rate` per minute billed per second; `fields` are other Carrier
    columns (max_channels, setup_timeout, qualify_seconds, enabled, priority...). Its id."""
    host, port = (sim.ip, sim.port) if isinstance(sim, SimCarrier) else sim
    with transaction(factory) as s:
        carrier = Carrier(name=name, host=host, port=port, **fields)
        s.add(carrier)
        s.flush()
        s.add(
            CarrierRate(
                carrier_id=carrier.id,
                prefix=prefix,
                destination="test",
                rate_per_minute=Decimal(rate),
                connect_fee=Decimal(connect_fee),
                min_seconds=1,
                increment_seconds=1,
            )
        )
        s.flush()
        return carrier.id


def retire_carriers(factory: sessionmaker[Session], ids: list[int]) -> None:
    """Disable a test's carriers (a disabled carrier is neither routed to nor published). Not
    deleted: their CDRs' charges name them, and the rater may still hold its key-share lock on
    a row it is charging a call of."""
    if not ids:
        return
    with transaction(factory) as s:
        s.execute(update(Carrier).where(Carrier.id.in_(ids)).values(enabled=False))


def disable_demo_carriers(factory: sessionmaker[Session]) -> None:
    """A test that runs the demo seed on this run's database leaves the demo's carriers
    (controller.demo.DEMO_CARRIERS) disabled: enabled, they would carry every later test's
    PSTN call to simulated carriers nobody started for the tests."""
    from controller.demo import DEMO_CARRIERS

    with transaction(factory) as s:
        s.execute(
            update(Carrier).where(Carrier.name.in_([c[0] for c in DEMO_CARRIERS])).values(enabled=False)
        )


class DigestCheck:
    """SIPp checking the digest Asterisk sends to a carrier (its verifyauth) against `user` /
    `password`: `scenario` is tests/sipp/carrier_uas_auth.xml (a carrier's INVITEs) or
    carrier_registrar.xml (its registrar's REGISTERs), on ip:port. `verdicts()` lists, per
    challenged request answered, whether the digest was right; `messages()` is SIPp's log."""

    def __init__(self, work: Path, scenario: str, ip: str, port: int, user: str, password: str):
        self.work, self.port = work, port
        self.work.mkdir(parents=True, exist_ok=True)
        binary = shutil.which("sipp")
        if binary is None:
            raise RuntimeError("sipp is not installed (Debian package sip-tester)")
        # fmt: off
        command = [
            binary, "-sf", str(SCENARIOS / scenario), "-i", ip, "-p", str(port),
            "-mp", str(free_udp_port(ip)), "-set", "user", user, "-set", "pw", password,
            "-nostdin", "-trace_logs", "-log_file", str(work / "auth.log"),
            "-trace_msg", "-message_file", str(work / "messages.log"),
        ]
        # fmt: on
        self.proc = subprocess.Popen(command, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def verdicts(self) -> list[bool]:
        log = self.work / "auth.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        return [line.split()[1] == "true" for line in text.splitlines() if line.startswith("auth ")]

    def messages(self) -> str:
        log = self.work / "messages.log"
        return log.read_text(errors="replace") if log.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
