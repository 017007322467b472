"""A carrier we register with (issue 14, Carrier.register): committed with `register` on, it is
an outbound registration of Asterisk's at once (controller/services/realtime_cache.py reloads
res_pjsip_outbound_registration on the commit), Asterisk answers the carrier's digest challenge
with the carrier's account and reaches Registered; disabled, the registration is gone.

The carrier's registrar is SIPp on 127.0.0.7 (tests/sipp/carrier_registrar.xml): it challenges
the first REGISTER with 401 and answers 200 only to a digest made with the account it was given.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from db.models import Carrier
from db.session import transaction
from tests.support.carriers import DigestCheck
from tests.support.sipp import free_udp_port
from tests.support.wait import until

pytestmark = pytest.mark.asyncio(loop_scope="session")

REGISTRAR_IP = "127.0.0.7"
USER, PASSWORD = "acct-reg", "Reg-pass-7"
_names = itertools.count(1)


@pytest.fixture(autouse=True)
def _need_sipp(need_sipp):
    pass


@pytest.fixture()
def registrar(tmp_path: Path) -> Iterator[DigestCheck]:
    """SIPp as the carrier's registrar on REGISTRAR_IP, checking each REGISTER's digest."""
    r = DigestCheck(
        tmp_path, "carrier_registrar.xml", REGISTRAR_IP, free_udp_port(REGISTRAR_IP), USER, PASSWORD
    )
    yield r
    r.stop()


@pytest.fixture()
def carriers(factory) -> Iterator[list[str]]:
    """Names of the carriers a test makes; deleted afterwards (the commit reloads the
    registrations, so none is left trying to register with a registrar that has stopped)."""
    made: list[str] = []
    yield made
    with transaction(factory) as s:
        s.execute(delete(Carrier).where(Carrier.name.in_(made)))


async def registration_status(controller, registration: str) -> str | None:
    """Asterisk's state of an outbound registration (Registered, Unregistered, Rejected...), or
    None when it has no such registration."""
    events = await controller.ami.action({"Action": "PJSIPShowRegistrationsOutbound"})
    for e in events if isinstance(events, list) else [events]:
        if e.get("Event") == "OutboundRegistrationDetail" and e.get("ObjectName") == registration:
            return str(e.get("Status"))
    return None


def add_registering_carrier(factory, carriers: list[str], registrar: DigestCheck, secret: str) -> str:
    """A carrier with `register` on whose registrar is `registrar`; its registration's name."""
    name = f"reg{os.getpid() % 10000}-{next(_names)}"
    with transaction(factory) as s:
        s.add(
            Carrier(
                name=name,
                host=REGISTRAR_IP,
                port=registrar.port,
                auth_username=USER,
                auth_type="userpass",
                auth_secret=secret,
                register=True,
                qualify_seconds=0,  # the registrar answers REGISTER only
            )
        )
    carriers.append(name)
    return f"carrier-{name}"


async def test_a_carrier_that_registers_reaches_registered_and_unregisters_once_disabled(
    controller, factory, registrar, carriers
):
    registration = add_registering_carrier(factory, carriers, registrar, PASSWORD)

    async def registered() -> bool:
        return await registration_status(controller, registration) == "Registered"

    await until(registered, timeout=15, interval=0.5, what="Asterisk's registration with the carrier")
    assert registrar.verdicts() == [True], registrar.messages()[-3000:]
    assert f"sip:{USER}@{REGISTRAR_IP}" in registrar.messages()  # the carrier's account, not ours

    with transaction(factory) as s:
        s.scalars(select(Carrier).where(Carrier.name == carriers[-1])).one().enabled = False

    async def gone() -> bool:
        return await registration_status(controller, registration) is None

    await until(gone, timeout=10, interval=0.5, what="the disabled carrier's registration to go")
    assert registration not in await controller.ami.command("pjsip show registrations")
    # and the carrier was told: Asterisk took its contact back (REGISTER with Expires: 0)
    await until(lambda: "Expires: 0" in registrar.messages(), timeout=10, what="the unregister")


async def test_a_wrong_carrier_password_is_rejected_not_registered(controller, factory, registrar, carriers):
    registration = add_registering_carrier(factory, carriers, registrar, "Not-the-password")

    async def rejected() -> bool:
        return await registration_status(controller, registration) == "Rejected"

    await until(rejected, timeout=15, interval=0.5, what="the registrar's 403 to be taken")
    assert registrar.verdicts() == [False], registrar.messages()[-3000:]
