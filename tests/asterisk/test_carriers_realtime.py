"""Carriers reach Asterisk through realtime (issue 14): a row committed through the ORM session
factory (the panel's and voipctl's, with controller/services/realtime_cache.py's hook) is an
endpoint, aor, auth, identify and, when it registers, a registration named `carrier-<name>`;
disabled it is gone; a changed password is what the carrier sees on the next call, with no
reload; a call from its address comes in on it and reaches the DID, and an address that is
no carrier's is refused.

The carrier is SIPp on 127.0.0.4 (tests/sipp/carrier_uas_auth.xml): it answers Asterisk's
qualify OPTIONS, challenges each INVITE and checks the digest against the account it was given.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from agi.outbound import routing_cache
from db.models import Carrier
from db.session import transaction
from tests.support.carriers import DigestCheck, retire_carriers
from tests.support.carriers import add_carrier as support_add_carrier
from tests.support.events import AmiRecorder
from tests.support.members import add_did, make_member, set_forwarding
from tests.support.realparts import unique_number
from tests.support.sipp import (
    Phone,
    SippResult,
    carrier_call,
    free_udp_port,
    place_call,
)
from tests.support.wait import until

pytestmark = pytest.mark.asyncio(loop_scope="session")

CARRIER_IP = "127.0.0.4"  # the simulated carriers' address (127.0.0.2 is the static test carrier)
UNKNOWN_IP = "127.0.0.7"  # no carrier's, no member's
DIALED = "12125550143"  # prefix 1: the test carrier buys it at $0.01/min, below the deck's price
_names = itertools.count(1)


@pytest.fixture(autouse=True)
def _need_sipp(need_sipp):
    pass


@pytest.fixture()
def carriers(factory) -> Iterator[list[str]]:
    """Names of the carriers a test makes; deleted afterwards, so no other test routes to them."""
    made: list[str] = []
    yield made
    with transaction(factory) as s:
        s.execute(delete(Carrier).where(Carrier.name.in_(made)))


def add_carrier(factory, made: list[str], **fields) -> str:
    name = f"rt{os.getpid() % 10000}-{next(_names)}"
    with transaction(factory) as s:
        s.add(Carrier(name=name, host=CARRIER_IP, **fields))
    made.append(name)
    return name


def update_carrier(factory, name: str, **fields) -> None:
    with transaction(factory) as s:
        carrier = s.scalars(select(Carrier).where(Carrier.name == name)).one()
        for key, value in fields.items():
            setattr(carrier, key, value)


def carrier_uas(tmp_path: Path, port: int, user: str, password: str) -> DigestCheck:
    """SIPp as the carrier on CARRIER_IP:port, checking each INVITE's digest."""
    return DigestCheck(
        tmp_path / f"uas-{port}-{password}", "carrier_uas_auth.xml", CARRIER_IP, port, user, password
    )


async def endpoint_detail(controller, endpoint: str) -> dict | None:
    events = await controller.ami.action({"Action": "PJSIPShowEndpoint", "Endpoint": endpoint})
    for e in events if isinstance(events, list) else [events]:
        if e.get("Event") == "EndpointDetail":
            return dict(e)
    return None


async def _getvar(controller, expression: str) -> str:
    r = await controller.ami.action({"Action": "Getvar", "Variable": expression})
    return str(r.get("Value") or "")


async def contact_status(controller, endpoint: str) -> str:
    """The qualify state of the carrier's contact, as the call path reads it to skip a carrier
    (PJSIP_AOR, PJSIP_CONTACT): Reachable, Unreachable, NonQualified (not qualified), Unknown.
    (The CLI shows the same states shorter: Avail, Unavail, NonQual.)"""
    contact = (await _getvar(controller, f"PJSIP_AOR({endpoint},contact)")).split(",")[0]
    return await _getvar(controller, f"PJSIP_CONTACT({contact},status)") if contact else ""


# ----- (a) published, identified, registered, gone when disabled
async def test_a_committed_carrier_is_an_endpoint_known_by_its_address_and_a_disabled_one_is_gone(
    controller, factory, carriers, tmp_path
):
    port = free_udp_port(CARRIER_IP)
    uas = carrier_uas(tmp_path, port, "acct-a", "Pass-a-1")
    try:
        name = add_carrier(
            factory, carriers, port=port, auth_username="acct-a", auth_secret="Pass-a-1", qualify_seconds=1
        )
        endpoint = f"carrier-{name}"
        detail = await endpoint_detail(controller, endpoint)
        assert detail is not None, "Asterisk does not know the carrier's endpoint"
        assert detail["Context"] == "from-pstn"
        assert detail["OutboundAuth"] == endpoint
        assert detail["Aors"] == endpoint
        assert detail["DirectMedia"] == "false"
        assert detail["IdentifyBy"] == "ip"
        # known by its address at once: the commit expired Asterisk's in-memory identifies
        identifies = await controller.ami.command("pjsip show identifies")
        assert f"{endpoint}/{endpoint}" in identifies and f"{CARRIER_IP}/32" in identifies
        # Asterisk does not qualify a realtime carrier (docs/asterisk-facts.md "Carriers through
        # realtime"): its contact stays NonQualified, never Unreachable, so the call path never
        # skips it for that and fails over on its silence (setup_timeout) instead
        await asyncio.sleep(3)
        assert await contact_status(controller, endpoint) == "NonQualified"
        # the OPTIONS the carrier gets are the controller's prober's (its Via names no Asterisk
        # transport), which qualifies carriers instead (controller/services/carrier_qualify.py)
    finally:
        uas.stop()

    update_carrier(factory, name, enabled=False)
    assert await endpoint_detail(controller, endpoint) is None
    assert f"{endpoint}/{endpoint}" not in await controller.ami.command("pjsip show identifies")
    update_carrier(factory, name, enabled=True)
    assert await endpoint_detail(controller, endpoint) is not None
    assert f"{endpoint}/{endpoint}" in await controller.ami.command("pjsip show identifies")


async def test_a_carrier_that_registers_is_an_outbound_registration_at_once(controller, factory, carriers):
    name = add_carrier(
        factory, carriers, port=5099, auth_username="acct-r", auth_secret="Pass-r-1", qualify_seconds=0
    )
    endpoint = f"carrier-{name}"
    assert endpoint not in await controller.ami.command("pjsip show registrations")
    update_carrier(factory, name, register=True)
    shown = await controller.ami.command("pjsip show registration " + endpoint)
    assert f"sip:{CARRIER_IP}:5099" in shown and "acct-r" in shown, shown
    update_carrier(factory, name, register=False)
    assert endpoint not in await controller.ami.command("pjsip show registrations")


# ----- (b) the password Asterisk gives the carrier is the one committed last
def _member_call(settings, m, tmp_path: Path) -> asyncio.Task[SippResult]:
    """The member's phone (SIPp, registered with the number's credentials) calls DIALED, which
    only the test's carrier routes; it hangs up 2 s after an answer."""
    return asyncio.create_task(
        asyncio.to_thread(
            place_call,
            m.number,
            m.sip_password,
            DIALED,
            host=settings.asterisk_host,
            port=settings.sip_port,
            cwd=tmp_path,
            timeout=30,
            scenario="uac_call_bye.xml",
        )
    )


async def test_a_carrier_password_change_is_live_on_the_next_call_without_a_reload(
    controller, factory, settings, tmp_path
):
    """Asterisk's digest towards the carrier, checked by the carrier (SIPp's verifyauth), on a
    member's real calls routed to it: the first with the committed password, the next after a
    change with no reload in between."""
    port = free_udp_port(CARRIER_IP)
    m = make_member(factory, settings, credit="5.00", allow_us_canada_ld=True)
    ids: list[int] = []
    old = carrier_uas(tmp_path, port, "acct-b", "Old-Pass-1")
    try:
        name = f"rtb{os.getpid() % 10000}-{next(_names)}"
        ids.append(
            support_add_carrier(
                factory,
                name,
                (CARRIER_IP, port),
                "0.01",
                auth_username="acct-b",
                auth_secret="Old-Pass-1",
                qualify_seconds=0,
            )
        )
        await routing_cache(controller.deps).check_now()
        await _member_call(settings, m, tmp_path)
        assert await until(lambda: old.verdicts(), timeout=15, what="the carrier's verdict") == [True]

        reloads_before = await _reload_count(controller)
        update_carrier(factory, name, auth_secret="New-Pass-2")
        await _member_call(settings, m, tmp_path)
        # the carrier still expecting the old password refuses: Asterisk no longer sends it
        assert await until(lambda: old.verdicts()[1:], timeout=15, what="the second verdict") == [False]
    finally:
        old.stop()

    new = carrier_uas(tmp_path, port, "acct-b", "New-Pass-2")
    try:
        await _member_call(settings, m, tmp_path)
        assert await until(lambda: new.verdicts(), timeout=15, what="the verdict") == [True]
        assert 'username="acct-b"' in new.messages()
        assert await _reload_count(controller) == reloads_before, "res_pjsip was reloaded"
    finally:
        new.stop()
        retire_carriers(factory, ids)
        await routing_cache(controller.deps).check_now()


async def _reload_count(controller) -> tuple[str, str]:
    """When Asterisk last reloaded anything (AMI CoreStatus; a `module reload` sets it too)."""
    r = await controller.ami.action({"Action": "CoreStatus"})
    return str(r.get("CoreReloadDate")), str(r.get("CoreReloadTime"))


# ----- (c) inbound: known by its address, and nobody else gets in
def _carrier_call(settings, tmp_path, dialed: str, caller: str, **kw) -> asyncio.Task[SippResult]:
    return asyncio.create_task(
        asyncio.to_thread(
            lambda: carrier_call(
                dialed, caller, host=settings.asterisk_host, port=settings.sip_port, cwd=tmp_path, **kw
            )
        )
    )


def _explain(result: SippResult) -> str:
    return f"SIPp exit {result.returncode}:\n{result.log('*errors.log')[-2000:]}\n{result.log()[-3000:]}"


async def test_a_call_from_the_carriers_address_reaches_the_dids_forwarding(
    controller, factory, settings, carriers, tmp_path
):
    name = add_carrier(factory, carriers, port=free_udp_port(CARRIER_IP), qualify_seconds=0)
    m = make_member(factory, settings)
    did = add_did(factory, m)
    set_forwarding(factory, m, step1="none", device_seconds=15)
    phone = Phone(
        "answer", m.number, m.sip_password, host=settings.asterisk_host, port=settings.sip_port, cwd=tmp_path
    )
    events = AmiRecorder(controller.ami, "Hangup")
    try:
        result = await _carrier_call(settings, tmp_path, did, unique_number("1415"), source_ip=CARRIER_IP)
        assert result.ok, _explain(result)
        assert await asyncio.to_thread(phone.wait, 20) == 0, "the member's phone did not answer and hang up"
        # the call came in on the carrier's endpoint, known by its address
        await events.wait_for(Channel=lambda c: c.startswith(f"PJSIP/carrier-{name}-"), timeout=10)
    finally:
        phone.stop()
        events.close()


@pytest.mark.parametrize("from_user", ["a PSTN number", "the carrier's endpoint name"])
async def test_a_call_from_an_unknown_address_is_refused_before_the_dialplan(
    controller, factory, settings, carriers, tmp_path, from_user
):
    name = add_carrier(factory, carriers, port=free_udp_port(CARRIER_IP), qualify_seconds=0)
    m = make_member(factory, settings)
    did = add_did(factory, m)
    caller = unique_number("1415") if from_user == "a PSTN number" else f"carrier-{name}"
    events = AmiRecorder(controller.ami, "Newchannel")
    try:
        result = await _carrier_call(
            settings, tmp_path, did, caller, source_ip=UNKNOWN_IP, scenario="carrier_refused.xml", timeout=20
        )
        assert result.ok, _explain(result)  # the scenario passes only on 401 or 403
        await asyncio.sleep(0.5)
        assert not events.matching(Channel=lambda c: c.startswith("PJSIP/")), "a channel was made"
    finally:
        events.close()
