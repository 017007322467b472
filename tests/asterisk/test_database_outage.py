"""The database goes away, as a member's phone sees it: a SIPp phone registered with its number's
own credentials calls 911 and is connected, a billable call is refused with its announcement, and
when the database is back everything works again with nothing restarted.

The outage is cut for Asterisk (its realtime and CDR connections go through `asterisk_db_proxy`)
and for the controller (`db_proxy`) at once; the test's own sessions keep the database. Asterisk
authenticates the phone from its sorcery memory cache (sorcery.conf), which the panel keeps true
by expiring a changed number's objects over AMI (controller/services/realtime_cache.py): proved
here with the panel's own SIP password and options forms.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import delete, select

from db.models import Carrier, PsContact
from db.session import transaction
from tests.support.events import AmiRecorder
from tests.support.members import make_member
from tests.support.realparts import unavailable
from tests.support.sipp import free_udp_port, run_scenario, sipp_binary
from tests.support.wait import until

pytestmark = pytest.mark.asyncio(loop_scope="session")

DOMESTIC = "12125550100"
# controller.rules.channel_vars.REFUSALS["unavailable"]: "sorry&all-circuits-busy-now"
UNAVAILABLE_PROMPTS = ["sorry", "all-circuits-busy-now"]
_PLAYING = re.compile(r"<(?P<channel>[^>]+)> Playing '(?P<file>[^'.]+)\.[^']*' \(language '[^']*'\)")


@pytest.fixture(autouse=True)
def _need_sipp():
    if sipp_binary() is None:
        unavailable("sipp (Debian package sip-tester)")


@pytest.fixture()
def events(controller):
    rec = AmiRecorder(controller.ami, "UserEvent", "Hangup")
    yield rec
    rec.close()


@dataclass
class SipPhone:
    """A member's phone: one SIP port for its REGISTER and its calls, its number's password."""

    number: str
    password: str
    host: str
    sip_port: int
    cwd: Path
    port: int = 0

    def __post_init__(self) -> None:
        self.port = free_udp_port()

    def register(self, password: str | None = None, *, expect_refusal: bool = False):
        return run_scenario(
            "register_refused.xml" if expect_refusal else "register.xml",
            self.host,
            self.sip_port,
            service=self.number,
            auth_user=self.number,
            auth_password=self.password if password is None else password,
            cwd=self.cwd,
            local_port=self.port,
        )

    def call(self, dialed: str, *, timeout: int = 30):
        """Dial `dialed` (digest auth on the INVITE, as tests/sipp/uac_call.xml) and stay on the
        line until Asterisk hangs up."""
        inf = self.cwd / f"caller-{self.number}.csv"
        inf.write_text(f"SEQUENTIAL\n{self.number};\n")
        return run_scenario(
            "uac_call.xml",
            self.host,
            self.sip_port,
            service=dialed,
            auth_user=self.number,
            auth_password=self.password,
            cwd=self.cwd,
            timeout=timeout,
            local_port=self.port,
            extra=["-inf", str(inf), "-mp", str(free_udp_port())],
        )


@pytest.fixture()
def phone_for(settings, tmp_path):
    def make(member) -> SipPhone:
        return SipPhone(
            member.number, member.sip_password, settings.asterisk_host, settings.sip_port, tmp_path
        )

    return make


@pytest.fixture()
def panel(database, engine):
    """The member panel's test client: its sessions are the panel's own (webpanel/database.py)."""
    from webpanel import create_app

    return create_app({"TESTING": True, "VOIP_SETTINGS": database, "VOIP_ENGINE": engine}).test_client()


@contextmanager
def database_down(db_proxy, asterisk_db_proxy) -> Iterator[None]:
    """PostgreSQL unreachable for Asterisk and the controller (connections reset, new ones
    refused), as when it is stopped; back when the block ends."""
    asterisk_db_proxy.cut()
    db_proxy.cut()
    try:
        yield
    finally:
        db_proxy.restore()
        asterisk_db_proxy.restore()


class ConsoleLog:
    """The prompts Asterisk played since the test began (console.log at verbose 3)."""

    def __init__(self, asterisk):
        self.path = asterisk.log_path
        self.start = self.path.stat().st_size

    def played(self, channel_part: str) -> list[str]:
        text = self.path.read_bytes()[self.start :].decode("utf-8", "replace")
        return [m["file"] for m in _PLAYING.finditer(text) if channel_part in m["channel"]]


async def _pjsip_endpoint(controller, number: str) -> dict | None:
    events = await controller.ami.action({"Action": "PJSIPShowEndpoint", "Endpoint": number})
    for e in events if isinstance(events, list) else [events]:
        if e.get("Event") == "EndpointDetail":
            return dict(e)
    return None


async def _end_calls(controller) -> None:
    await controller.ami.action({"Action": "Command", "Command": "channel request hangup all"})


async def test_registered_phone_calls_911_while_the_database_is_down_and_billable_calls_are_refused(
    controller, asterisk, factory, settings, events, phone_for, db_proxy, asterisk_db_proxy
):
    member = make_member(factory, settings, credit="5.00", allow_us_canada_ld=True)
    phone = phone_for(member)
    registered = await asyncio.to_thread(phone.register)
    assert registered.ok, registered.stdout[-2000:]
    log = ConsoleLog(asterisk)

    with database_down(db_proxy, asterisk_db_proxy):
        # the outage is real for Asterisk: a number it has not seen yet cannot be looked up
        stranger = make_member(factory, settings)
        assert await _pjsip_endpoint(controller, stranger.number) is None

        call = asyncio.create_task(asyncio.to_thread(phone.call, "911"))
        answered = await events.wait_for(20, UserEvent="SimPstn", Number="911", State="answered")
        assert answered["CallerID"] == member.number
        await _end_calls(controller)
        result = await call
        assert result.ok, "the 911 call from the registered phone failed:\n" + result.stdout[-2000:]

        # a billable call: answered with the refusal's announcement, then hung up by Asterisk
        refused = await asyncio.to_thread(phone.call, DOMESTIC)
        assert refused.ok, refused.stdout[-2000:]
        refusal = events.matching(UserEvent="VoipRefused", Reason="unavailable")
        assert refusal, events.events[-10:]
        # the UserEvent's own Channel header and the one it carries (AMI lists both)
        channels = (
            refusal[0]["Channel"] if isinstance(refusal[0]["Channel"], list) else [refusal[0]["Channel"]]
        )
        assert all(c.startswith(f"PJSIP/{member.number}-") for c in channels), channels
        assert not events.matching(UserEvent="SimPstn", Number=DOMESTIC)
        assert log.played(f"PJSIP/{member.number}-") == UNAVAILABLE_PROMPTS

    # the database is back: with nothing restarted the same phone registers and calls out,
    # and the number Asterisk could not look up during the outage is found now
    again = await asyncio.to_thread(phone.register)
    assert again.ok, again.stdout[-2000:]
    call = asyncio.create_task(asyncio.to_thread(phone.call, DOMESTIC))
    await events.wait_for(20, UserEvent="SimPstn", Number=DOMESTIC, State="answered")
    await _end_calls(controller)
    assert (await call).ok
    assert await _pjsip_endpoint(controller, stranger.number) is not None

    def contact():
        with factory() as s:
            return s.scalar(select(PsContact).where(PsContact.endpoint == member.number))

    await until(contact, what="the phone's contact written again after the outage")


async def test_registered_phone_calls_911_while_a_lock_holds_the_carriers_table(
    controller, factory, settings, events, phone_for
):
    """The database answers, but the carriers table is locked (a migration's ALTER, an
    explicit LOCK): queries that read it wait. Every request that comes in first asks Asterisk's
    IP identifier for every identify, carriers' included (ps_endpoint_id_ips), and the username
    identifier looks up `<number>@<domain>`, which no cache holds, in ps_endpoints, whose
    carriers' rows come from that table. Neither may wait: the identifies are held whole in
    memory (sorcery.conf), and the endpoint, aor and auth views read carriers through
    realtime_carriers(), which gives up on a lock (db/migrations/versions/0020_carriers.py)."""
    name = f"lock{next(_carrier_names)}"
    with transaction(factory) as s:
        s.add(Carrier(name=name, host="192.0.2.77", qualify_seconds=0))
    member = make_member(factory, settings, credit="5.00")
    phone = phone_for(member)
    try:
        registered = await asyncio.to_thread(phone.register)
        assert registered.ok, registered.stdout[-2000:]
        url = f"host={settings.db_host} port={settings.db_port} dbname={settings.db_name} user={settings.db_user}"
        with psycopg.connect(url) as locker:
            locker.execute("LOCK TABLE carriers IN ACCESS EXCLUSIVE MODE")
            # a member Asterisk has not cached yet registers (its rows are not the carriers')
            stranger = make_member(factory, settings)
            fresh = await asyncio.to_thread(phone_for(stranger).register)
            assert fresh.ok, fresh.stdout[-2000:]
            # the carrier is still known by its address, from memory
            identifies = await controller.ami.command("pjsip show identifies")
            assert f"carrier-{name}/carrier-{name}" in identifies, identifies

            call = asyncio.create_task(asyncio.to_thread(phone.call, "911"))
            answered = await events.wait_for(10, UserEvent="SimPstn", Number="911", State="answered")
            assert answered["CallerID"] == member.number
            await _end_calls(controller)
            result = await call
            assert result.ok, "the 911 call failed while carriers was locked:\n" + result.stdout[-2000:]
            locker.rollback()
    finally:
        with transaction(factory) as s:
            s.execute(delete(Carrier).where(Carrier.name == name))


_carrier_names = itertools.count(os.getpid() % 10000 * 100)


async def test_a_sip_password_changed_in_the_panel_is_the_one_the_next_register_needs(
    controller, factory, settings, phone_for, panel
):
    from tests.web.conftest import post_form, sign_in

    member = make_member(factory, settings)
    phone = phone_for(member)
    assert (await asyncio.to_thread(phone.register)).ok  # Asterisk has its auth cached now
    sign_in(panel, member)
    response = post_form(
        panel,
        f"/virtual-number/{member.number}/sip-password",
        {
            "sip_password": "Changed-In-Panel-77",
            "sip_password_confirm": "Changed-In-Panel-77",
            "set_password": "Set SIP Password",
        },
    )
    assert response.status_code == 200
    old = await asyncio.to_thread(phone.register, expect_refusal=True)
    assert old.ok, "the old SIP password still registers:\n" + old.stdout[-2000:]
    new = await asyncio.to_thread(phone.register, "Changed-In-Panel-77")
    assert new.ok, new.stdout[-2000:]


async def test_options_changed_in_the_panel_reach_the_cached_endpoint(
    controller, factory, settings, phone_for, panel
):
    from tests.web.conftest import post_form, sign_in

    member = make_member(factory, settings)
    assert (await asyncio.to_thread(phone_for(member).register)).ok
    assert (await _pjsip_endpoint(controller, member.number))["DirectMedia"] == "false"
    sign_in(panel, member)
    response = post_form(panel, f"/virtual-number/{member.number}/options", {"mpo": "y"})
    assert response.status_code == 302
    assert (await _pjsip_endpoint(controller, member.number))["DirectMedia"] == "true"


async def test_a_closed_accounts_phone_can_no_longer_register(controller, factory, settings, phone_for):
    """A suspended account's phone keeps its endpoint, in context `suspended`, so that it can
    still dial 911 (migration 0025, tests/asterisk/test_suspension.py); a closed one's is gone."""
    from db import accounts
    from db.models import Account, User
    from db.session import transaction
    from webpanel.admin import services as admin

    member = make_member(factory, settings)
    phone = phone_for(member)
    assert (await asyncio.to_thread(phone.register)).ok
    with transaction(factory) as s:
        operator = accounts.create_admin(s, f"admin-{member.number}", "Admin-Pass-2026")
        admin.set_account_status(s, operator, s.get_one(Account, member.account_id), "suspended")
        operator_id = operator.id
    assert (await _pjsip_endpoint(controller, member.number))["Context"] == "suspended"
    with transaction(factory) as s:
        closer = s.get_one(User, operator_id)
        admin.set_account_status(s, closer, s.get_one(Account, member.account_id), "closed")
    refused = await asyncio.to_thread(phone.register, expect_refusal=True)
    assert refused.ok, "a closed account's phone still registers:\n" + refused.stdout[-2000:]
    assert await _pjsip_endpoint(controller, member.number) is None
