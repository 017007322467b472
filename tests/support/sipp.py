"""Run SIPp (Debian's sip-tester) against the sandbox Asterisk."""

from __future__ import annotations

import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

SCENARIOS = Path(__file__).resolve().parent.parent / "sipp"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class SippResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


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
        "127.0.0.1",
        "-p",
        str(local_port or free_udp_port()),
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
    ):
        self.behaviour, self.number = behaviour, number
        self.sip_port = free_udp_port()
        self.media_port = free_udp_port()
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
        )
        if not reg.ok:
            raise RuntimeError(f"phone {number} could not register: {reg.stdout[-1500:]}")
        self.proc = subprocess.Popen(
            [
                binary,
                "-sf",
                str(SCENARIOS / f"uas_{behaviour}.xml"),
                "-i",
                "127.0.0.1",
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
    member_number: str, password: str, dialed: str, *, host: str, port: int, cwd: Path, timeout: int = 70
) -> SippResult:
    """A member's phone calls `dialed` and stays until Asterisk hangs up; returns when done."""
    inf = cwd / f"caller-{member_number}.csv"
    inf.write_text(f"SEQUENTIAL\n{member_number};\n")
    return run_scenario(
        "uac_call.xml",
        host,
        port,
        service=dialed,
        auth_user=member_number,
        auth_password=password,
        cwd=cwd,
        timeout=timeout,
        extra=["-inf", str(inf), "-mp", str(free_udp_port())],
    )
