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


def run_scenario(scenario: str, host: str, port: int, *, service: str, auth_user: str | None = None,
                 auth_password: str | None = None, cwd: Path, timeout: int = 15,
                 local_port: int | None = None, extra: list[str] | None = None) -> SippResult:
    binary = sipp_binary()
    if binary is None:
        raise RuntimeError("sipp is not installed (Debian package sip-tester)")
    cmd = [binary, f"{host}:{port}", "-sf", str(SCENARIOS / scenario), "-s", service,
           "-i", "127.0.0.1", "-p", str(local_port or free_udp_port()), "-m", "1", "-nostdin",
           "-timeout", f"{timeout}s", "-timeout_error", "-recv_timeout", "5000"]
    if auth_user:
        cmd += ["-au", auth_user, "-ap", auth_password or ""]
    cmd += extra or []
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout + 10)
    return SippResult(proc.returncode, proc.stdout, proc.stderr)
