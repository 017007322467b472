"""The addresses fail2ban has banned, and lifting a ban (issue 13, SIP brute force).

fail2ban watches Asterisk's security log and bans a source that keeps failing digests
(deploy/fail2ban/, docs/fraud.md "SIP brute force"). The operator's fraud page lists the bans
and lifts one; both go through `fail2ban-client` on the server's control socket
(settings.fail2ban_socket, VOIP_FAIL2BAN_SOCKET). Without a running fail2ban there is nothing to
list and nothing to lift: [] and False, never an exception.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import re
import subprocess
from dataclasses import dataclass

from controller.settings import Settings

log = logging.getLogger("controller.services.bans")

CLIENT_TIMEOUT = 10.0
# `get <jail> banip --with-time`: "127.0.0.3 \t2026-12-05 06:45:18 + 10 = 2026-12-05 06:45:28"
_BAN_LINE = re.compile(
    r"^(?P<ip>\S+)\s+(?P<start>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) \+ (?P<seconds>-?\d+) = "
    r"(?P<end>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\s*$"
)


@dataclass(frozen=True)
class Ban:
    address: str
    jail: str
    banned_at: dt.datetime | None = None  # aware; None when fail2ban did not say
    expires_at: dt.datetime | None = None  # None: not known, or banned for good


def list_bans(settings: Settings | None = None) -> list[Ban]:
    """Every address banned now, in every jail of the fail2ban-server on the socket."""
    settings = settings or Settings()
    status = _client(settings, "status")
    if status is None:
        return []
    jails = _jails(status)
    bans: list[Ban] = []
    for jail in jails:
        out = _client(settings, "get", jail, "banip", "--with-time")
        if out is None:
            continue
        for line in out.splitlines():
            bans.append(_ban(jail, line.strip()))
    return [b for b in bans if b.address]


def unban(address: str, settings: Settings | None = None) -> bool:
    """Lift the ban of `address` in every jail; True when it was banned somewhere."""
    try:
        address = str(ipaddress.ip_address(address.strip()))
    except ValueError:
        return False
    out = _client(settings or Settings(), "unban", address)
    if out is None:
        return False
    try:
        return int(out.strip().splitlines()[-1]) > 0
    except (ValueError, IndexError):
        log.warning("unexpected answer of fail2ban-client unban", extra={"answer": out[-200:]})
        return False


def _client(settings: Settings, *args: str) -> str | None:
    """fail2ban-client's answer, or None when no server answers on the socket."""
    socket = settings.fail2ban_socket
    if not socket or not os.path.exists(socket):
        return None
    try:
        proc = subprocess.run(
            [settings.fail2ban_client, "-s", socket, *args],
            capture_output=True,
            text=True,
            timeout=CLIENT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("fail2ban-client failed", extra={"args": list(args), "error": str(exc)})
        return None
    if proc.returncode != 0:
        log.info("fail2ban-client refused", extra={"args": list(args), "error": proc.stderr[-300:]})
        return None
    return proc.stdout


def _jails(status: str) -> list[str]:
    for line in status.splitlines():
        if "Jail list:" in line:
            names = line.split("Jail list:", 1)[1]
            return [name.strip() for name in names.split(",") if name.strip()]
    return []


def _ban(jail: str, line: str) -> Ban:
    match = _BAN_LINE.match(line)
    if not match:
        return Ban(address=line.split()[0] if line else "", jail=jail)
    start = _local(match["start"])
    end = None if int(match["seconds"]) < 0 else _local(match["end"])
    return Ban(address=match["ip"], jail=jail, banned_at=start, expires_at=end)


def _local(text: str) -> dt.datetime:
    """fail2ban prints times in the server's local time zone (this host's)."""
    return dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S").astimezone()
