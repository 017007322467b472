"""PostgreSQL feeds Asterisk's PJSIP realtime: endpoints, auth and contacts, live without reload."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from sqlalchemy import select

from db import accounts
from db.models import PsContact, VirtualNumber
from tests.support.members import make_member
from tests.support.realparts import unavailable
from tests.support.sipp import run_scenario, sipp_binary
from tests.support.wait import until

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(autouse=True)
def _need_sipp():
    if sipp_binary() is None:
        unavailable("sipp (Debian package sip-tester)")


def _new_member(factory, settings, *, sip_password: str, mpo: bool = False) -> str:
    return make_member(factory, settings, sip_password=sip_password, mpo=mpo).number


async def _endpoint_detail(controller, number: str) -> dict | None:
    events = await controller.ami.action({"Action": "PJSIPShowEndpoint", "Endpoint": number})
    events = events if isinstance(events, list) else [events]
    for e in events:
        if e.get("Event") == "EndpointDetail":
            return dict(e)
    return None


async def test_virtual_number_from_service_layer_is_a_pjsip_endpoint_with_mpo_as_direct_media(
    controller, factory, settings
):
    number = _new_member(factory, settings, sip_password="Initial-Pass-77", mpo=False)
    detail = await _endpoint_detail(controller, number)
    assert detail is not None, "Asterisk does not know the endpoint"
    assert detail["DirectMedia"] == "false"
    assert detail["Context"] == "members"

    with factory() as s, s.begin():
        vn = s.scalar(select(VirtualNumber).where(VirtualNumber.number == number))
        accounts.update_options(s, vn, as_primary=True, mpo=True)
    # sorcery realtime reads the row on demand: no reload between the write and the check
    detail = await _endpoint_detail(controller, number)
    assert detail is not None and detail["DirectMedia"] == "true"


async def test_unknown_number_is_not_an_endpoint(controller):
    assert await _endpoint_detail(controller, "19999999999") is None


async def test_register_with_sip_password_succeeds_and_writes_contact_with_expiry_and_user_agent(
    controller, factory, settings, tmp_path
):
    number = _new_member(factory, settings, sip_password="Register-Pass-42")
    before = int(time.time())
    result = run_scenario(
        "register.xml",
        settings.asterisk_host,
        settings.sip_port,
        service=number,
        auth_user=number,
        auth_password="Register-Pass-42",
        cwd=tmp_path,
    )
    assert result.ok, result.stdout[-2000:] + result.stderr[-2000:]

    def contact():
        with factory() as s:
            return s.scalar(select(PsContact).where(PsContact.endpoint == number))

    row = await until(contact, what="ps_contacts row")
    assert row.user_agent == "VoipTestPhone/2.1 (sipp)"
    # Expires: 300 requested; the registration expires about 5 minutes from now
    assert before + 250 <= row.expiration_time <= before + 400
    assert row.uri.startswith(f"sip:{number}@127.0.0.1:")
    expires_at = dt.datetime.fromtimestamp(row.expiration_time, dt.UTC)
    assert expires_at > dt.datetime.now(dt.UTC)


async def test_wrong_sip_password_gets_401_and_leaves_no_contact(controller, factory, settings, tmp_path):
    number = _new_member(factory, settings, sip_password="Right-Pass-1234")
    result = run_scenario(
        "register_refused.xml",
        settings.asterisk_host,
        settings.sip_port,
        service=number,
        auth_user=number,
        auth_password="Wrong-Pass-9999",
        cwd=tmp_path,
    )
    assert result.ok, "the authenticated REGISTER was not answered with 401:\n" + result.stdout[-2000:]
    with factory() as s:
        assert s.scalar(select(PsContact).where(PsContact.endpoint == number)) is None


async def test_changed_sip_password_applies_on_next_register_without_reload(
    controller, factory, settings, tmp_path
):
    number = _new_member(factory, settings, sip_password="Old-Password-11")
    ok = run_scenario(
        "register.xml",
        settings.asterisk_host,
        settings.sip_port,
        service=number,
        auth_user=number,
        auth_password="Old-Password-11",
        cwd=tmp_path,
    )
    assert ok.ok

    with factory() as s, s.begin():
        vn = s.scalar(select(VirtualNumber).where(VirtualNumber.number == number))
        accounts.set_sip_password(s, vn, "New-Password-22", realm=settings.sip_realm)

    old = run_scenario(
        "register_refused.xml",
        settings.asterisk_host,
        settings.sip_port,
        service=number,
        auth_user=number,
        auth_password="Old-Password-11",
        cwd=tmp_path,
    )
    assert old.ok, "the old password still registers"
    new = run_scenario(
        "register.xml",
        settings.asterisk_host,
        settings.sip_port,
        service=number,
        auth_user=number,
        auth_password="New-Password-22",
        cwd=tmp_path,
    )
    assert new.ok, new.stdout[-2000:]


async def test_plain_sip_password_is_never_stored(factory, settings):
    number = _new_member(factory, settings, sip_password="Never-Stored-55")
    with factory() as s:
        row = s.execute(select(VirtualNumber.__table__).where(VirtualNumber.number == number)).one()
        assert "Never-Stored-55" not in repr(tuple(row))
        ha1 = s.execute(select(VirtualNumber.sip_md5_cred).where(VirtualNumber.number == number)).scalar()
    from controller.rules.secrets import sip_md5_cred

    assert ha1 == sip_md5_cred(number, settings.sip_realm, "Never-Stored-55")
