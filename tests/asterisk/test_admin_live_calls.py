"""The operator's Live calls page on the real Asterisk (issue 15): a member's own phone (SIPp
with the number's credentials) calls the simulated PSTN; the page lists the call's channels
with the member's account and their direction; the hang-up button ends the call (the phone gets
Asterisk's BYE) and the audit log names the operator and the channel. With Asterisk's AMI
unreachable the page says so instead of hanging."""

from __future__ import annotations

import asyncio
import dataclasses
import html
import re

import pytest

from db import accounts
from db.models import AuditLog
from db.session import transaction
from tests.asterisk.test_inbound_forwarding import CARRIER_CHANNEL, call_did
from tests.asterisk.test_outbound_calls import DOMESTIC, STAYS, completed, phone_calls
from tests.support.events import AmiRecorder
from tests.support.members import add_did, make_member
from tests.support.panel import sign_in_user
from tests.support.sipp import Phone, free_udp_port
from tests.support.wait import until

pytestmark = pytest.mark.asyncio(loop_scope="session")

ROW = re.compile(
    r'<tr class="live-call" data-channel="([^"]+)" data-direction="([^"]+)" data-account="([^"]*)">'
)
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture()
def events(controller):
    rec = AmiRecorder(controller.ami, "UserEvent", "Hangup")
    yield rec
    rec.close()


def admin_client(database, engine, factory, login: str):
    from webpanel import create_app

    app = create_app({"TESTING": True, "VOIP_SETTINGS": database, "VOIP_ENGINE": engine})
    client = app.test_client()
    with transaction(factory) as s:
        admin_id = accounts.create_admin(s, login, "Admin-Pass-2026").id
    sign_in_user(client, admin_id)
    return client, admin_id


def rows_of(page: str) -> list[tuple[str, str, str]]:
    return [(html.unescape(c), d, a) for c, d, a in ROW.findall(page)]


async def test_a_members_call_is_listed_with_its_account_and_hung_up_by_the_operator(
    controller, database, engine, factory, settings, events, tmp_path, need_sipp
):
    m = make_member(factory, settings, credit="5.00", allow_us_canada_ld=True)
    client, admin_id = admin_client(database, engine, factory, f"live-{m.number}")
    call = phone_calls(settings, m, DOMESTIC, tmp_path, scenario=STAYS, timeout=60)
    try:
        await events.wait_for(15, UserEvent="SimPstn", Number=DOMESTIC, State="answered")
        # the panel's AMI session runs an event loop of its own: off this test's loop
        response = await asyncio.to_thread(client.get, "/admin/live-calls/")
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        rows = rows_of(page)
        member_leg = [r for r in rows if r[0].startswith(f"PJSIP/{m.number}-")]
        assert member_leg and member_leg[0][1:] == ("outbound", str(m.account_id)), rows
        # the simulated PSTN's side of the same call: a carrier leg of the same account
        pstn_legs = [r for r in rows if r[0].startswith(f"Local/{DOMESTIC}@sim-pstn-")]
        assert pstn_legs and all(r[1:] == ("carrier", str(m.account_id)) for r in pstn_legs), rows
        assert DOMESTIC in page and "Outbound from a member" in page

        channel = member_leg[0][0]
        token = CSRF.search(page)[1]
        response = await asyncio.to_thread(
            client.post, "/admin/live-calls/hangup", data={"csrf_token": token, "channel": channel}
        )
        assert response.status_code == 302
        hangup = await events.wait_for(10, Event="Hangup", Channel=channel)
        assert hangup["Cause"] == "16", hangup
        completed(await call)  # the phone's scenario ends on Asterisk's BYE
    finally:
        if not call.done():
            await controller.ami.action({"Action": "Command", "Command": "channel request hangup all"})
            await call

    with factory() as s:
        entry = s.query(AuditLog).filter_by(action="admin.call_hangup", actor_user_id=admin_id).one()
    assert entry.account_id == m.account_id
    assert entry.details["channel"] == channel and entry.details["direction"] == "outbound"
    assert entry.details["callee"] == DOMESTIC

    # gone from the page; hanging it up again says so and audits nothing
    page = (await asyncio.to_thread(client.get, "/admin/live-calls/")).get_data(as_text=True)
    assert channel not in [r[0] for r in rows_of(page)]
    response = await asyncio.to_thread(
        client.post,
        "/admin/live-calls/hangup",
        data={"csrf_token": CSRF.search(page)[1], "channel": channel},
        follow_redirects=True,
    )
    assert "is no longer up" in response.get_data(as_text=True)
    with factory() as s:
        assert s.query(AuditLog).filter_by(action="admin.call_hangup", actor_user_id=admin_id).count() == 1


async def test_a_pstn_call_ringing_a_member_is_listed_as_inbound_to_the_dids_account(
    controller, database, engine, factory, settings, events, tmp_path, need_sipp
):
    m = make_member(factory, settings)
    did = add_did(factory, m)
    client, admin_id = admin_client(database, engine, factory, f"live-in-{m.number}")
    phone = await asyncio.to_thread(
        Phone, "noanswer", m.number, m.sip_password, host=settings.asterisk_host, port=settings.sip_port,
        cwd=tmp_path, timeout=60,
    )  # fmt: skip
    pstn = await call_did(controller, tmp_path, did, hold=2)
    try:

        async def ringing() -> list[tuple[str, str, str]]:
            page = (await asyncio.to_thread(client.get, "/admin/live-calls/")).get_data(as_text=True)
            rows = rows_of(page)
            return rows if any(r[0].startswith(f"PJSIP/{m.number}-") for r in rows) else []

        rows = await until(ringing, timeout=20, interval=0.5, what="the member's phone ringing on the page")
        inbound = [r for r in rows if r[0].startswith(CARRIER_CHANNEL)]
        assert inbound and inbound[0][1:] == ("inbound", str(m.account_id)), rows
        member_leg = [r for r in rows if r[0].startswith(f"PJSIP/{m.number}-")]
        assert member_leg[0][1:] == ("member", str(m.account_id)), rows

        # the operator hangs up the caller's channel: the member's phone stops ringing
        page = (await asyncio.to_thread(client.get, "/admin/live-calls/")).get_data(as_text=True)
        response = await asyncio.to_thread(
            client.post,
            "/admin/live-calls/hangup",
            data={"csrf_token": CSRF.search(page)[1], "channel": inbound[0][0]},
        )
        assert response.status_code == 302
        await events.wait_for(10, Event="Hangup", Channel=inbound[0][0])
        assert await asyncio.to_thread(phone.wait, 20) == 0  # CANCELled
        await pstn.task
    finally:
        phone.stop()
    with factory() as s:
        entry = s.query(AuditLog).filter_by(action="admin.call_hangup", actor_user_id=admin_id).one()
    assert entry.account_id == m.account_id and entry.details["direction"] == "inbound"
    assert entry.details["callee"] == did


async def test_the_page_says_when_asterisk_cannot_be_reached(database, engine, factory):
    dead = dataclasses.replace(database, ami_port=free_udp_port())  # nothing listens there (TCP)
    from webpanel import create_app

    app = create_app({"TESTING": True, "VOIP_SETTINGS": dead, "VOIP_ENGINE": engine})
    client = app.test_client()
    with transaction(factory) as s:
        admin_id = accounts.create_admin(s, f"live-dead-{free_udp_port()}", "Admin-Pass-2026").id
    sign_in_user(client, admin_id)
    response = await asyncio.to_thread(client.get, "/admin/live-calls/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Asterisk could not be reached" in page
    # no CSRF token: refused; a name that is no channel: said so; Asterisk down: said so
    assert (
        await asyncio.to_thread(client.post, "/admin/live-calls/hangup", data={"channel": "x"})
    ).status_code == 400
    token = CSRF.search((await asyncio.to_thread(client.get, "/admin/")).get_data(as_text=True))[1]
    for channel, message in (
        ("PJSIP/x y<z>", "That is not a channel name."),
        ("PJSIP/17005550100-00000001", "Asterisk could not be reached"),
    ):
        response = await asyncio.to_thread(
            client.post,
            "/admin/live-calls/hangup",
            data={"csrf_token": token, "channel": channel},
            follow_redirects=True,
        )
        assert message in response.get_data(as_text=True)
    with factory() as s:
        assert s.query(AuditLog).filter_by(action="admin.call_hangup", actor_user_id=admin_id).count() == 0
    # a member is refused the page
    member = make_member(factory, database)
    member_client = app.test_client()
    sign_in_user(member_client, member.user_id)
    assert (await asyncio.to_thread(member_client.get, "/admin/live-calls/")).status_code == 403


async def test_an_asterisk_that_accepts_but_never_answers_does_not_hang_the_page(database, engine, factory):
    """A hung Asterisk (its AMI port accepts the connection, then says nothing): the page and
    the hang-up answer within the AMI timeout, say so, and audit nothing."""
    import socket
    import threading
    import time

    from webpanel import create_app
    from webpanel.admin import live_views

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])  # accepted, never answered
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        silent = dataclasses.replace(database, ami_port=listener.getsockname()[1])
        app = create_app({"TESTING": True, "VOIP_SETTINGS": silent, "VOIP_ENGINE": engine})
        client = app.test_client()
        with transaction(factory) as s:
            admin_id = accounts.create_admin(s, f"live-hung-{free_udp_port()}", "Admin-Pass-2026").id
        sign_in_user(client, admin_id)
        started = time.monotonic()
        page = (await asyncio.to_thread(client.get, "/admin/live-calls/")).get_data(as_text=True)
        assert time.monotonic() - started < live_views.AMI_TIMEOUT * 2 + 2
        assert "Asterisk could not be reached" in page
        token = CSRF.search((await asyncio.to_thread(client.get, "/admin/")).get_data(as_text=True))[1]
        started = time.monotonic()
        response = await asyncio.to_thread(
            client.post,
            "/admin/live-calls/hangup",
            data={"csrf_token": token, "channel": "PJSIP/17005550100-00000001"},
            follow_redirects=True,
        )
        assert time.monotonic() - started < live_views.AMI_TIMEOUT * 2 + 2
        assert "Asterisk could not be reached" in response.get_data(as_text=True)
        with factory() as s:
            assert (
                s.query(AuditLog).filter_by(action="admin.call_hangup", actor_user_id=admin_id).count() == 0
            )
    finally:
        stop.set()
        thread.join(5)
        for conn in held:
            conn.close()
        listener.close()
