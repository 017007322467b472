"""Issue 13: the IP allow-list on a SIP credential, set on the panel and live in Asterisk at once.

A member lists the networks their phone uses; the endpoint publishes them through realtime as a
source-address ACL (`deny` all, `permit` the list: migration 0019). A REGISTER or an INVITE from
anywhere else is refused even with the right password, and the change needs no reload: the
panel's commit expires the number's cached endpoint (controller/services/realtime_cache.py).

Addresses: members' phones send from 127.0.0.1; the "other" address is 127.0.0.3, since the test
instance identifies anything from 127.0.0.2 as its carrier (templates/test/pjsip_test.conf.j2), so
a REGISTER from there never reaches a member's endpoint.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from db.models import AuditLog, VirtualNumber
from tests.support.members import make_member
from tests.support.realparts import unavailable
from tests.support.sipp import UNKNOWN_IP, free_udp_port, run_scenario, sipp_binary
from tests.web.conftest import post_form, sign_in
from webpanel import create_app

pytestmark = pytest.mark.asyncio(loop_scope="session")

PASSWORD = "Allowlist-Pass-31"
PHONE_IP = "127.0.0.1"
OTHER_IP = UNKNOWN_IP
_runs = itertools.count()


@pytest.fixture(autouse=True)
def _need_sipp():
    if sipp_binary() is None:
        unavailable("sipp (Debian package sip-tester)")


@pytest.fixture()
def client(database, engine):
    return create_app({"TESTING": True, "VOIP_SETTINGS": database, "VOIP_ENGINE": engine}).test_client()


def _final(workdir: Path, method: str) -> int | None:
    """The final response Asterisk gave the authenticated request (CSeq 2) of a SIPp run."""
    text = "\n".join(f.read_text(errors="replace") for f in workdir.glob("*_messages.log"))
    for block in re.split(r"^-{20,}", text, flags=re.M):
        if "message received" in block and f"CSeq: 2 {method}" in block:
            status = re.search(r"^SIP/2\.0 (\d{3}) ", block, re.M)
            if status and int(status[1]) >= 200:
                return int(status[1])
    return None


def _register(settings, number: str, source: str, tmp_path: Path) -> int | None:
    workdir = tmp_path / f"register-{next(_runs)}"
    workdir.mkdir()
    run_scenario(
        "register.xml",
        settings.asterisk_host,
        settings.sip_port,
        service=number,
        auth_user=number,
        auth_password=PASSWORD,
        cwd=workdir,
        local_ip=source,
        timeout=10,
        extra=["-trace_msg"],
    )
    return _final(workdir, "REGISTER")


def _call(settings, number: str, source: str, tmp_path: Path) -> int | None:
    """The member's phone dials a US number from `source` (the call needs no answer: the
    final response to the authenticated INVITE tells whether Asterisk took it as the member's)."""
    workdir = tmp_path / f"call-{next(_runs)}"
    workdir.mkdir()
    inf = workdir / "caller.csv"
    inf.write_text(f"SEQUENTIAL\n{number};\n")
    run_scenario(
        "uac_call_bye.xml",
        settings.asterisk_host,
        settings.sip_port,
        service="13125550147",
        auth_user=number,
        auth_password=PASSWORD,
        cwd=workdir,
        local_ip=source,
        timeout=20,
        extra=["-inf", str(inf), "-mp", str(free_udp_port(source)), "-trace_msg"],
    )
    return _final(workdir, "INVITE")


def _set_allowlist(client, number: str, text: str) -> None:
    response = post_form(client, f"/virtual-number/{number}/sip-allowlist", {"sip_allowlist": text})
    assert response.status_code == 302, response.get_data(as_text=True)[-2000:]


async def test_an_allowlist_set_on_the_panel_refuses_register_and_calls_from_elsewhere_at_once(
    controller, factory, settings, client, ami_events, tmp_path
):
    member = make_member(factory, settings, sip_password=PASSWORD, allow_us_canada_ld=True)
    sign_in(client, member)
    assert _register(settings, member.number, PHONE_IP, tmp_path) == 200  # no list: from anywhere

    _set_allowlist(client, member.number, OTHER_IP)
    with factory() as s:
        assert s.scalar(select(VirtualNumber.sip_allowlist).where(VirtualNumber.number == member.number)) == (
            f"{OTHER_IP}/32"
        )
        audit = s.scalars(
            select(AuditLog).where(
                AuditLog.account_id == member.account_id, AuditLog.action == "panel.sip_allowlist"
            )
        ).one()
        assert audit.details == {"before": None, "after": f"{OTHER_IP}/32"}

    # the right password from an address not on the list: refused (Asterisk answers the
    # digest with another 401, as for an unknown user); from the listed one: registered
    assert _register(settings, member.number, PHONE_IP, tmp_path) == 401
    assert _register(settings, member.number, OTHER_IP, tmp_path) == 200

    # a call from the refused address never becomes a channel of the member's endpoint...
    def own_hangups() -> list[dict]:
        return ami_events.matching(Event="Hangup", Channel=lambda c: c.startswith(f"PJSIP/{member.number}-"))

    assert await asyncio.to_thread(_call, settings, member.number, PHONE_IP, tmp_path) == 401
    await asyncio.sleep(1)
    assert own_hangups() == []
    # ...while the same call from the listed address gets past the digest and is a channel
    assert await asyncio.to_thread(_call, settings, member.number, OTHER_IP, tmp_path) not in (None, 401, 403)
    await ami_events.wait_for(20, Event="Hangup", Channel=lambda c: c.startswith(f"PJSIP/{member.number}-"))

    # cleared: any address again, with no reload in between
    _set_allowlist(client, member.number, "")
    assert _register(settings, member.number, PHONE_IP, tmp_path) == 200
    with factory() as s:
        assert (
            s.scalar(select(VirtualNumber.sip_allowlist).where(VirtualNumber.number == member.number)) is None
        )


async def test_a_network_allows_every_address_in_it(controller, factory, settings, client, tmp_path):
    member = make_member(factory, settings, sip_password=PASSWORD)
    sign_in(client, member)
    _set_allowlist(client, member.number, "10.20.0.0/16\n127.0.0.0/30")  # 127.0.0.1..3
    assert _register(settings, member.number, PHONE_IP, tmp_path) == 200
    assert _register(settings, member.number, OTHER_IP, tmp_path) == 200
    _set_allowlist(client, member.number, "10.20.0.0/16, 127.0.0.2")
    assert _register(settings, member.number, PHONE_IP, tmp_path) == 401
    assert _register(settings, member.number, OTHER_IP, tmp_path) == 401
