"""Issue 13: SIP brute force stopped by fail2ban reading Asterisk's security log.

A fail2ban-server of the test's own (scripts/fail2ban: its own conf dir, socket, pid file,
database and nftables table; bantime 10 s, 3 failures) watches this run's Asterisk instance's
security.log. SIPp sends wrong digests from a second loopback address, the address is banned
(its packets to the instance's SIP port are dropped: no answer at all), a phone on 127.0.0.1
still registers, and the ban is lifted after the bantime or by the operator
(controller/services/bans.py).

The guessing address is 127.0.0.3: the test instance takes anything from 127.0.0.2 for its
carrier (templates/test/pjsip_test.conf.j2), so a REGISTER from there never reaches a member's
endpoint and no digest is tried.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from controller.services import bans
from tests.support.members import make_member
from tests.support.realparts import unavailable
from tests.support.sipp import UNKNOWN_IP, run_scenario, sipp_binary

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "fail2ban"
PASSWORD = "Guess-Me-Not-77"
ATTACKER = UNKNOWN_IP
PHONE = "127.0.0.1"
BANTIME = 10
MAXRETRY = 3
JAIL = "voip-asterisk"


@pytest.fixture()
def fail2ban(asterisk, settings, tmp_path):
    """This test's fail2ban on this run's Asterisk instance; its nftables table is removed
    whatever happens to the test."""
    if sipp_binary() is None:
        unavailable("sipp (Debian package sip-tester)")
    for tool in ("fail2ban-client", "nft"):
        if subprocess.run(["which", tool], capture_output=True).returncode != 0:
            unavailable(f"{tool} (Debian packages fail2ban, nftables: scripts/bootstrap)")
    security_log = asterisk.log_path.parent / "security.log"
    run_dir = tmp_path / "fail2ban"
    table = f"voip-f2b-test-{os.getpid()}"
    proc = subprocess.run(
        [
            str(SCRIPT),
            "start",
            str(run_dir),
            str(security_log),
            str(settings.sip_port),
            f"table={table}",
            f"bantime={BANTIME}",
            f"maxretry={MAXRETRY}",
            "findtime=60",
            "ignoreself=false",
            "ignoreip=",  # 127.0.0.1 is not exempt: it stays free because it never fails
            "tail=1",  # only what this test makes Asterisk log counts
        ],
        capture_output=True,
        text=True,
    )
    try:
        assert proc.returncode == 0, proc.stderr[-3000:]
        yield F2b(
            run_dir, table, dataclasses.replace(settings, fail2ban_socket=str(run_dir / "fail2ban.sock"))
        )
    finally:
        subprocess.run([str(SCRIPT), "stop", str(run_dir)], capture_output=True)
        subprocess.run(["nft", "delete", "table", "inet", table], capture_output=True)


@dataclasses.dataclass
class F2b:
    run_dir: Path
    table: str
    settings: object  # Settings with this instance's socket

    def client(self, *args: str) -> str:
        proc = subprocess.run(
            [str(SCRIPT), "client", str(self.run_dir), *args], capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    def banned(self) -> list[str]:
        status = self.client("status", JAIL)
        match = re.search(r"Banned IP list:\s*(.*)$", status, re.M)
        return match[1].split() if match else []

    def wait_banned(self, address: str, present: bool, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while (address in self.banned()) != present:
            assert time.monotonic() < deadline, (
                f"{address} {'not banned' if present else 'still banned'} after {timeout} s:\n"
                + self.client("status", JAIL)
                + (self.run_dir / "fail2ban.log").read_text()[-3000:]
            )
            time.sleep(0.2)


def _register(
    settings,
    number: str,
    password: str,
    source: str,
    workdir: Path,
    *,
    refused: bool = False,
    call_id: str | None = None,
) -> str:
    """Run one REGISTER from `source`; the status of Asterisk's last answer ("" for none)."""
    workdir.mkdir(parents=True)
    run_scenario(
        "register_refused.xml" if refused else "register.xml",
        settings.asterisk_host,
        settings.sip_port,
        service=number,
        auth_user=number,
        auth_password=password,
        cwd=workdir,
        local_ip=source,
        timeout=6,
        extra=["-trace_msg", *(["-cid_str", call_id] if call_id else [])],
    )
    text = "\n".join(f.read_text(errors="replace") for f in workdir.glob("*_messages.log"))
    statuses = re.findall(r"^SIP/2\.0 (\d{3}) ", text, re.M)
    return statuses[-1] if statuses else ""


def _guess_until_banned(f2b: F2b, settings, number: str, tmp_path: Path, tag: str) -> None:
    for i in range(MAXRETRY):
        # each wrong digest is answered (401) until the ban: guessing works until then
        assert (
            _register(settings, number, f"wrong-{i}", ATTACKER, tmp_path / f"{tag}-guess-{i}", refused=True)
            == "401"
        )
    f2b.wait_banned(ATTACKER, True, timeout=15)


def test_wrong_digests_ban_the_source_and_the_ban_is_lifted_after_bantime(
    controller, fail2ban, factory, settings, tmp_path
):
    member = make_member(factory, settings, sip_password=PASSWORD)
    _guess_until_banned(fail2ban, settings, member.number, tmp_path, "a")

    # banned: even the right password from there gets no answer at all (dropped by nftables)
    assert _register(settings, member.number, PASSWORD, ATTACKER, tmp_path / "banned") == ""
    ruleset = subprocess.run(["nft", "list", "table", "inet", fail2ban.table], capture_output=True, text=True)
    assert ATTACKER in ruleset.stdout and f"dport {settings.sip_port}" in ruleset.stdout, ruleset.stdout
    # another address still registers
    assert _register(settings, member.number, PASSWORD, PHONE, tmp_path / "phone") == "200"

    fail2ban.wait_banned(ATTACKER, False, timeout=BANTIME + 10)
    assert _register(settings, member.number, PASSWORD, ATTACKER, tmp_path / "lifted") == "200"


def test_the_operator_lists_and_lifts_bans_through_the_service(
    controller, fail2ban, factory, settings, tmp_path
):
    member = make_member(factory, settings, sip_password=PASSWORD)
    before = time.time()
    _guess_until_banned(fail2ban, settings, member.number, tmp_path, "b")

    listed = bans.list_bans(fail2ban.settings)
    assert [(b.address, b.jail) for b in listed] == [(ATTACKER, JAIL)]
    assert listed[0].banned_at is not None and listed[0].banned_at.timestamp() >= int(before) - 1
    assert listed[0].expires_at is not None
    assert round((listed[0].expires_at - listed[0].banned_at).total_seconds()) == BANTIME

    assert bans.unban("not an address", fail2ban.settings) is False
    assert bans.unban("127.0.0.9", fail2ban.settings) is False  # not banned
    assert bans.unban(ATTACKER, fail2ban.settings) is True
    assert bans.list_bans(fail2ban.settings) == []
    # lifted at once, long before the bantime
    assert _register(settings, member.number, PASSWORD, ATTACKER, tmp_path / "unbanned") == "200"


FRAMED = "127.0.0.9"


def test_a_forged_address_in_a_call_id_bans_the_sender_not_the_forged_address(
    asterisk, controller, fail2ban, factory, settings, tmp_path
):
    """Review: Asterisk writes the Call-ID into the security log as SessionID="..." before the
    real RemoteAddress, without escaping quotes. A Call-ID carrying its own
    RemoteAddress="IPV4/UDP/<someone else>/5060" must not get that someone banned (nor let the
    sender go free)."""
    member = make_member(factory, settings, sip_password=PASSWORD)
    forged = f'x",RemoteAddress="IPV4/UDP/{FRAMED}/5060",Forged="%u'
    for i in range(MAXRETRY):
        assert (
            _register(
                settings,
                member.number,
                f"wrong-{i}",
                ATTACKER,
                tmp_path / f"forged-{i}",
                refused=True,
                call_id=forged,
            )
            == "401"
        )
    # the forged text is in the log as it was sent: a line with two RemoteAddress fields
    log = (asterisk.log_path.parent / "security.log").read_text(errors="replace")
    assert f'SessionID="x",RemoteAddress="IPV4/UDP/{FRAMED}/5060"' in log
    fail2ban.wait_banned(ATTACKER, True, timeout=15)
    assert FRAMED not in fail2ban.banned()


def test_a_forged_address_in_the_digest_response_is_not_banned(
    asterisk, controller, fail2ban, factory, settings, tmp_path
):
    """Review: the digest response is written after the real RemoteAddress (Response="..."). A
    quote in it stays escaped (PJSIP keeps the quoted-string's backslash), so the forged field
    is never a RemoteAddress="..." to the filter: nobody else is banned."""
    member = make_member(factory, settings, sip_password=PASSWORD)
    for i in range(MAXRETRY):
        workdir = tmp_path / f"response-{i}"
        workdir.mkdir()
        result = run_scenario(
            "register_forged_response.xml",
            settings.asterisk_host,
            settings.sip_port,
            service=member.number,
            cwd=workdir,
            local_ip=ATTACKER,
            timeout=6,
            extra=["-trace_msg"],
        )
    log = (asterisk.log_path.parent / "security.log").read_text(errors="replace")
    lines = [line for line in log.splitlines() if "0123" in line]
    sent = "\n".join(f.read_text(errors="replace") for f in workdir.glob("*_messages.log"))
    assert lines, (result, sent[-3000:], log[-1500:])
    # as Asterisk 22 writes it: the backslash kept, so no RemoteAddress="..." after the real one
    assert 'Response="0123\\",RemoteAddress=\\"IPV4/UDP/127.0.0.9/5060"' in lines[-1], lines[-1]
    time.sleep(2)  # fail2ban reads the log within a fraction of a second
    assert FRAMED not in fail2ban.banned(), lines


def test_without_fail2ban_there_are_no_bans_and_nothing_to_lift(settings, tmp_path):
    nowhere = dataclasses.replace(settings, fail2ban_socket=str(tmp_path / "no-such.sock"))
    assert bans.list_bans(nowhere) == []
    assert bans.unban(ATTACKER, nowhere) is False


FILTER = ROOT / "deploy" / "fail2ban" / "filter.d" / "voip-asterisk.conf"
_HEAD = (
    '[2026-12-05 06:42:27.831] SECURITY[22394] res_security_log.c: SecurityEvent="{event}",'
    'EventTV="2026-12-05T06:42:27.831+0000",Severity="Error",Service="PJSIP",EventVersion="1",'
)


@pytest.mark.parametrize(
    "fields, found",
    [
        # as Asterisk 22 writes them (docs/asterisk-facts.md)
        (
            'AccountID="17002450001",SessionID="1-2@127.0.0.3",LocalAddress="IPV4/UDP/127.0.0.1/5060",'
            'RemoteAddress="IPV4/UDP/127.0.0.3/48738",Challenge="abc",Response="def",ExpectedResponse=""',
            "127.0.0.3",
        ),
        (
            'AccountID="x",SessionID="1",LocalAddress="IPV6/UDP/::1/5060",RemoteAddress="IPV6/UDP/2001:db8::7/5060"',
            "2001:db8::7",
        ),
        # a forged address in the user name or the Call-ID, before the real one
        (
            'AccountID="x",RemoteAddress="IPV4/UDP/127.0.0.9/5060",Y="",SessionID="1",'
            'LocalAddress="IPV4/UDP/127.0.0.1/5060",RemoteAddress="IPV4/UDP/127.0.0.3/48738"',
            "127.0.0.3",
        ),
        (
            'AccountID="17002450001",SessionID="x",RemoteAddress="IPV4/UDP/127.0.0.9/5060",Y="",'
            'LocalAddress="IPV4/UDP/127.0.0.1/5060",RemoteAddress="IPV4/UDP/127.0.0.3/48738",'
            'Challenge="abc",Response="def",ExpectedResponse=""',
            "127.0.0.3",
        ),
        # never a name to look up
        ('AccountID="x",SessionID="1",RemoteAddress="IPV4/UDP/victim.example.com/5060"', None),
    ],
)
def test_the_filter_takes_the_real_remote_address_only(tmp_path, fields, found):
    """fail2ban-regex (fail2ban's own tool) with the project's filter on security-log lines,
    forged ones included: a caller cannot choose whom fail2ban bans."""
    if subprocess.run(["which", "fail2ban-regex"], capture_output=True).returncode != 0:
        unavailable("fail2ban-regex (Debian package fail2ban: scripts/bootstrap)")
    log = tmp_path / "security.log"
    log.write_text(_HEAD.format(event="ChallengeResponseFailed") + fields + "\n")
    proc = subprocess.run(
        ["fail2ban-regex", "-v", "--raw", str(log), str(FILTER)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    matched = re.search(r"^Lines: 1 lines, 0 ignored, (\d) matched", proc.stdout, re.M)
    assert matched, proc.stdout
    hosts = re.findall(r"^\|\s+(\S+)\s+Sat Dec 05", proc.stdout, re.M)
    assert hosts == ([found] if found else []), proc.stdout
