"""A suspended account on the real Asterisk (issue 15, migration 0025): the member's own phone
(SIPp, registered with the number's credentials before the suspension, so Asterisk has its
endpoint cached) can no longer call out, and is told so ("your telephone number is
de-activated", hangup cause 21); its 911 still reaches the (simulated) emergency destination;
a PSTN call to its DID is refused (not in service); the operator's resume restores it all,
with no reload: the panel's commit expires Asterisk's cache (controller/services/realtime_cache)."""

from __future__ import annotations

import asyncio

import pytest

from controller.rules import channel_vars as cv
from db import accounts
from db.models import Account, AuditLog, CallAuthorization, User
from db.session import transaction
from tests.asterisk.test_inbound_forwarding import call_did
from tests.asterisk.test_outbound_calls import DOMESTIC, HANGS_UP, STAYS, completed, phone_calls
from tests.support.events import AmiRecorder
from tests.support.members import add_did, make_member
from tests.support.sipp import Phone, final_response
from webpanel.admin import services as admin

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture()
def events(controller):
    rec = AmiRecorder(controller.ami, "UserEvent", "Hangup")
    yield rec
    rec.close()


def set_status(factory, operator_id: int, account_id: int, status: str) -> None:
    with transaction(factory) as s:
        admin.set_account_status(s, s.get_one(User, operator_id), s.get_one(Account, account_id), status)


async def endpoint_context(controller, number: str) -> str | None:
    events = await controller.ami.action({"Action": "PJSIPShowEndpoint", "Endpoint": number})
    for e in events if isinstance(events, list) else [events]:
        if e.get("Event") == "EndpointDetail":
            return e.get("Context")
    return None


async def test_a_suspended_account_calls_only_911_and_is_not_reached_until_resumed(
    controller, factory, settings, events, tmp_path, need_sipp
):
    m = make_member(factory, settings, credit="5.00", allow_us_canada_ld=True)
    did = add_did(factory, m)
    with transaction(factory) as s:
        operator_id = accounts.create_admin(s, f"op-{m.number}", "Admin-Pass-2026").id
    # the member's phone registers (Asterisk caches its endpoint) and stays, ready to answer
    phone = await asyncio.to_thread(
        Phone,
        "answer",
        m.number,
        m.sip_password,
        host=settings.asterisk_host,
        port=settings.sip_port,
        cwd=tmp_path,
        timeout=150,
    )
    try:
        await _suspended_then_resumed(
            controller, factory, settings, events, tmp_path, m, did, operator_id, phone
        )
    finally:
        phone.stop()

    # the operator is named for both changes
    with factory() as s:
        entries = (
            s.query(AuditLog)
            .filter_by(action="admin.account_status", account_id=m.account_id)
            .order_by(AuditLog.id)
            .all()
        )
    assert [(e.actor_user_id, e.details["to"]) for e in entries] == [
        (operator_id, "suspended"),
        (operator_id, "active"),
    ]


async def _suspended_then_resumed(
    controller, factory, settings, events, tmp_path, m, did, operator_id, phone
):
    assert await endpoint_context(controller, m.number) == cv.CTX_MEMBERS  # cached now

    set_status(factory, operator_id, m.account_id, "suspended")
    # the endpoint stays (for 911), in the suspended context, at once: no reload
    assert await endpoint_context(controller, m.number) == cv.CTX_SUSPENDED

    # a billable call: announced and hung up with cause 21 (call rejected); nothing is held
    call = phone_calls(settings, m, DOMESTIC, tmp_path, scenario=STAYS)
    refused = await events.wait_for(15, UserEvent="VoipRefused", Reason=cv.REFUSE_SUSPENDED)
    completed(await call)  # answered, announced, BYE from Asterisk
    channel = refused["Channel"]  # the UserEvent's own Channel header and the one it names
    channel = channel[0] if isinstance(channel, list) else channel
    hangup = await events.wait_for(5, Event="Hangup", Channel=channel)
    assert hangup["Cause"] == "21", hangup
    assert not events.matching(UserEvent="SimPstn")
    with factory() as s:
        assert s.query(CallAuthorization).filter_by(account_id=m.account_id).count() == 0

    # 911 goes through, to the simulated emergency destination
    call = phone_calls(settings, m, "911", tmp_path, scenario=HANGS_UP)
    await events.wait_for(15, UserEvent="SimPstn", Number="911", State="answered")
    completed(await call)

    # the PSTN calling its DID: refused, not in service
    pstn = await call_did(controller, tmp_path, did, hold=2)
    await events.wait_for(20, UserEvent="VoipRefused", Reason="not_in_service")
    assert (await pstn.result()).returncode == 0

    # resumed: the members context again, a billable call goes out, the DID rings the phone
    set_status(factory, operator_id, m.account_id, "active")
    assert await endpoint_context(controller, m.number) == cv.CTX_MEMBERS
    events.events.clear()
    call = phone_calls(settings, m, DOMESTIC, tmp_path, scenario=HANGS_UP)
    await events.wait_for(15, UserEvent="SimPstn", Number=DOMESTIC, State="answered")
    completed(await call)
    assert not events.matching(UserEvent="VoipRefused")
    pstn = await call_did(controller, tmp_path, did, hold=2)
    answered = await asyncio.to_thread(phone.wait, 30) == 0  # the phone rang and answered
    assert answered, phone.proc.stdout.read()[-2500:] if phone.proc.stdout else ""
    # answered (the carrier's SIPp then stops on Asterisk's connected-line re-INVITE, which
    # its scenario does not expect: its exit status says nothing here)
    assert final_response(await pstn.task) == 200
    assert not events.matching(UserEvent="VoipRefused")


async def test_a_suspended_accounts_fax_did_and_a_forward_to_its_number_reach_nothing(
    controller, factory, settings, events, tmp_path, need_sipp
):
    """Every way in to a suspended account is closed, not only its voice DIDs: its Fax-to-Email
    DID is refused as not in service (no fax stored, nothing mailed), and another (active)
    member's forwarding list naming its number on-net does not ring its phone, which stays
    registered in context `suspended` (for 911)."""
    from sqlalchemy import func, select

    from db.models import Did, Fax
    from tests.asterisk.test_inbound_forwarding import expect_hangup_cause
    from tests.support.members import set_forwarding
    from tests.support.realparts import unique_number

    suspended = make_member(factory, settings)
    fax_did = unique_number("1415")
    with transaction(factory) as s:
        s.add(
            Did(
                account_id=suspended.account_id,
                number=fax_did,
                connection="fax_to_email",
                fax_email="fax.suspended@example.com",
            )
        )
        operator_id = accounts.create_admin(s, f"op-fax-{suspended.number}", "Admin-Pass-2026").id
    forwarding = make_member(factory, settings, voicemail_enabled=False)
    did = add_did(factory, forwarding)
    set_forwarding(
        factory,
        forwarding,
        step1="ring_list",
        step1_mode="simultaneous",
        step1_seconds=4,
        step1_numbers=[suspended.number],
    )
    set_status(factory, operator_id, suspended.account_id, "suspended")
    # a suspended account's phone still registers (a phone that rebooted can still dial 911)
    phone = await asyncio.to_thread(
        Phone,
        "answer",
        suspended.number,
        suspended.sip_password,
        host=settings.asterisk_host,
        port=settings.sip_port,
        cwd=tmp_path,
        timeout=60,
    )
    try:
        assert await endpoint_context(controller, suspended.number) == cv.CTX_SUSPENDED

        pstn = await call_did(controller, tmp_path, fax_did, hold=2)
        await events.wait_for(20, UserEvent="VoipRefused", Reason="not_in_service")
        await pstn.result()  # announced (the refusal answers to play it) and hung up
        with factory() as s:
            assert (
                s.scalar(select(func.count()).select_from(Fax).where(Fax.account_id == suspended.account_id))
                == 0
            )

        events.events.clear()
        pstn = await call_did(controller, tmp_path, did, hold=2)
        await expect_hangup_cause(events, pstn, "19")  # nobody answered: no number to ring
        assert phone.proc.poll() is None, "the suspended account's phone answered a forwarded call"
        assert not events.matching(
            Event="Hangup", Channel=lambda c: c.startswith(f"PJSIP/{suspended.number}-")
        )
    finally:
        phone.stop()


async def test_a_suspended_accounts_911_is_a_members_911_with_the_database_up_and_down(
    controller, factory, settings, events, tmp_path, need_sipp, db_proxy, asterisk_db_proxy
):
    """From context `suspended`, 911 goes out as from [members]: the DID as caller ID, the 911
    address on file in the CDR, class E (never charged, no hold); and with PostgreSQL
    unreachable for Asterisk and the controller, it still connects (the number as caller ID)."""
    from sqlalchemy import select

    from db.models import Cdr, CdrCharge, Did, E911Address
    from tests.asterisk.test_database_outage import database_down
    from tests.support.wait import until

    m = make_member(factory, settings)  # no credit, no long distance
    did = add_did(factory, m)
    with transaction(factory) as s:
        did_id = s.scalar(select(Did.id).where(Did.number == did))
        s.add(
            E911Address(
                did_id=did_id,
                name="Suspended Co",
                state="IL",
                city="Chicago",
                house_number="12",
                street_name="Main",
                street_type="St",
                postal_code="60601",
            )
        )
        operator_id = accounts.create_admin(s, f"op-911-{m.number}", "Admin-Pass-2026").id
    set_status(factory, operator_id, m.account_id, "suspended")

    call = phone_calls(settings, m, "911", tmp_path, scenario=HANGS_UP)
    answered = await events.wait_for(15, UserEvent="SimPstn", Number="911", State="answered")
    completed(await call)
    assert answered["CallerID"] == did
    assert await endpoint_context(controller, m.number) == cv.CTX_SUSPENDED

    def cdr():
        with factory() as s:
            return s.scalar(select(Cdr).where(Cdr.vnum == m.number, Cdr.call_class == "E"))

    row = await until(cdr, timeout=30, what="the 911 CDR")
    assert row.userfield == f"911 {did}: Suspended Co, 12 Main St, Chicago, IL, 60601, US"
    with factory() as s:
        assert s.query(CallAuthorization).filter_by(account_id=m.account_id).count() == 0
        charges = s.scalars(select(CdrCharge).where(CdrCharge.cdr_id == row.id)).all()
        assert all(c.cost == 0 for c in charges)

    events.events.clear()
    with database_down(db_proxy, asterisk_db_proxy):
        call = phone_calls(settings, m, "911", tmp_path, scenario=HANGS_UP)
        answered = await events.wait_for(20, UserEvent="SimPstn", Number="911", State="answered")
        completed(await call)
    assert answered["CallerID"] == m.number  # the database could not name the DID


async def test_a_phone_asterisk_still_has_in_context_members_is_refused_by_the_call_decision(
    controller, factory, settings, events, tmp_path, need_sipp
):
    """Should Asterisk still hold a suspended account's endpoint with context `members` (its
    cache not expired: here the status is changed by raw SQL, which the panel's expiry does not
    see), route outbound refuses the call itself (account_suspended), before any hold; 911 still
    goes through."""
    from sqlalchemy import text

    m = make_member(factory, settings, credit="5.00", allow_us_canada_ld=True)
    call = phone_calls(settings, m, "911", tmp_path, scenario=HANGS_UP)  # Asterisk caches it
    await events.wait_for(15, UserEvent="SimPstn", Number="911", State="answered")
    completed(await call)
    with transaction(factory) as s:
        s.execute(text("UPDATE accounts SET status = 'suspended' WHERE id = :id"), {"id": m.account_id})
    assert await endpoint_context(controller, m.number) == cv.CTX_MEMBERS  # still cached

    events.events.clear()
    call = phone_calls(settings, m, DOMESTIC, tmp_path, scenario=STAYS)
    await events.wait_for(15, UserEvent="VoipRefused", Reason=cv.REFUSE_SUSPENDED)
    completed(await call)
    assert not events.matching(UserEvent="SimPstn")
    with factory() as s:
        assert s.query(CallAuthorization).filter_by(account_id=m.account_id).count() == 0

    call = phone_calls(settings, m, "911", tmp_path, scenario=HANGS_UP)
    await events.wait_for(15, UserEvent="SimPstn", Number="911", State="answered")
    completed(await call)
