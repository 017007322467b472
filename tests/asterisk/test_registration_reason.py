"""Issue 16: "Check my registration" says why, from what the real Asterisk said.

SIPp registers a member's number with a wrong password, then the right one; the controller's
AMI link receives Asterisk's security events (controller/services/registrations.py writes them
to registration_events) and the registrar's contact (ps_contacts, whose trigger writes the
`registered` event), and the member's check page and dashboard say so in words. An address
refused by the number's SIP allow-list is a FailedACL, shown as "not on the allow-list".
"""

from __future__ import annotations

import asyncio
import html
import itertools
from pathlib import Path

import pytest
from sqlalchemy import select, text, update

from controller.services import realtime_cache
from db.models import RegistrationEvent, VirtualNumber
from tests.support.members import make_member
from tests.support.realparts import unavailable
from tests.support.sipp import UNKNOWN_IP, run_scenario, sipp_binary
from tests.web.conftest import sign_in
from webpanel import create_app

pytestmark = pytest.mark.asyncio(loop_scope="session")

PASSWORD = "Right-Pass-2026"
_runs = itertools.count()


@pytest.fixture(autouse=True)
def _need_sipp():
    if sipp_binary() is None:
        unavailable("sipp (Debian package sip-tester)")


@pytest.fixture()
def client(database, engine):
    return create_app({"TESTING": True, "VOIP_SETTINGS": database, "VOIP_ENGINE": engine}).test_client()


def _register(
    settings, number: str, password: str, tmp_path: Path, *, refused: bool, source: str = "127.0.0.1"
):
    workdir = tmp_path / f"register-{next(_runs)}"
    workdir.mkdir()
    result = run_scenario(
        "register_refused.xml" if refused else "register.xml",
        settings.asterisk_host,
        settings.sip_port,
        service=number,
        auth_user=number,
        auth_password=password,
        cwd=workdir,
        local_ip=source,
        timeout=10,
    )
    assert result.ok, result.stderr[-2000:]


async def _events(factory, vn_id: int, event: str, timeout: float = 15) -> list[RegistrationEvent]:
    for _ in range(int(timeout * 10)):
        with factory() as s:
            rows = list(
                s.scalars(
                    select(RegistrationEvent)
                    .where(RegistrationEvent.virtual_number_id == vn_id, RegistrationEvent.event == event)
                    .order_by(RegistrationEvent.id)
                )
            )
        if rows:
            return rows
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {event} event for number id {vn_id} in {timeout} s")


def _check(client, number: str) -> str:
    response = client.get(f"/phone-setup/{number}/check")
    assert response.status_code == 200
    return html.unescape(response.get_data(as_text=True))


async def test_a_wrong_password_register_shows_as_wrong_password_then_the_right_one_as_registered(
    controller, factory, settings, client, tmp_path
):
    member = make_member(factory, settings, sip_password=PASSWORD)
    sign_in(client, member)
    assert f"Nothing from a phone using {member.number} has reached the server." in _check(
        client, member.number
    )

    await asyncio.to_thread(_register, settings, member.number, "Not-The-Password-1", tmp_path, refused=True)
    [refused] = await _events(factory, member.vn_id, "bad_password")  # one row for the dialog's two tries
    assert refused.number == member.number and refused.remote_addr.startswith("127.0.0.1:")
    assert refused.remote_addr.endswith("(UDP)")
    page = _check(client, member.number)
    assert "was refused: wrong password" in page and refused.remote_addr in page
    home = html.unescape(client.get("/").get_data(as_text=True))
    assert "Last attempt refused: wrong password" in home and "Not registered" in home

    await asyncio.to_thread(_register, settings, member.number, PASSWORD, tmp_path, refused=False)
    [registered] = await _events(factory, member.vn_id, "registered")
    assert registered.user_agent == "VoipTestPhone/2.1 (sipp)"
    page = _check(client, member.number)
    assert "Registered now from 127.0.0.1:" in page and "(VoipTestPhone/2.1 (sipp))" in page
    assert "wrong password" not in page  # the refusal came before the registration
    home = html.unescape(client.get("/").get_data(as_text=True))
    assert "1 device registered" in home and "VoipTestPhone/2.1 (sipp)" in home


async def test_an_address_off_the_allow_list_shows_as_not_allowed(
    controller, factory, settings, client, tmp_path
):
    member = make_member(factory, settings, sip_password=PASSWORD)
    with factory() as s:
        s.execute(
            update(VirtualNumber).where(VirtualNumber.id == member.vn_id).values(sip_allowlist="10.9.8.7/32")
        )
        s.commit()
    assert await asyncio.to_thread(realtime_cache.expire, settings, [member.number])
    sign_in(client, member)
    await asyncio.to_thread(
        _register, settings, member.number, PASSWORD, tmp_path, refused=True, source=UNKNOWN_IP
    )
    [refused] = await _events(factory, member.vn_id, "address_refused")
    assert refused.remote_addr.startswith(f"{UNKNOWN_IP}:")
    page = _check(client, member.number)
    assert f"came from {refused.remote_addr}, which is not on this number's SIP allow-list" in page


async def test_an_unknown_account_name_is_recorded_under_the_name_tried(
    controller, factory, settings, tmp_path
):
    member = make_member(factory, settings, sip_password=PASSWORD)
    tried = member.number[1:]  # the phone's user name lacks the leading 1
    await asyncio.to_thread(_register, settings, tried, PASSWORD, tmp_path, refused=True)
    for _ in range(150):
        with factory() as s:
            rows = s.execute(
                select(RegistrationEvent.event, RegistrationEvent.virtual_number_id).where(
                    RegistrationEvent.number == tried
                )
            ).all()
        if rows:
            break
        await asyncio.sleep(0.1)
    assert [tuple(r) for r in rows] == [("unknown_user", None)]


async def test_old_events_are_pruned_and_a_scanner_is_recorded_only_so_much(controller, factory, settings):
    import datetime as dt

    from controller.services import registrations

    member = make_member(factory, settings, sip_password=PASSWORD)
    stranger = f"9{member.number}"
    now = dt.datetime.now(dt.UTC)
    with factory() as s:
        s.add_all(
            [
                RegistrationEvent(
                    number=member.number,
                    virtual_number_id=member.vn_id,
                    event="bad_password",
                    at=now - dt.timedelta(days=31),
                ),
                RegistrationEvent(
                    number=member.number,
                    virtual_number_id=member.vn_id,
                    event="bad_password",
                    at=now - dt.timedelta(days=10),
                ),
                RegistrationEvent(number=stranger, event="unknown_user", at=now - dt.timedelta(days=8)),
                RegistrationEvent(number=stranger, event="unknown_user", at=now - dt.timedelta(days=1)),
            ]
        )
        s.commit()
    await controller.registrations.prune()
    with factory() as s:
        left = s.execute(
            select(RegistrationEvent.number, RegistrationEvent.at)
            .where(RegistrationEvent.number.in_([member.number, stranger]))
            .order_by(RegistrationEvent.at)
        ).all()
    assert [(n, round((now - at).total_seconds() / 86400)) for n, at in left] == [
        (member.number, 10),
        (stranger, 1),
    ]

    # one address trying many names within a minute: PER_ADDRESS_MINUTE rows, the rest dropped
    recorder = registrations.RegistrationRecorder(controller.ami, controller.pg)
    for i in range(registrations.PER_ADDRESS_MINUTE + 10):
        recorder._on_event(
            None,
            {
                "Event": "InvalidAccountID",
                "Service": "PJSIP",
                "AccountID": f"scan{i}",
                "SessionID": f"scan-{i}",
                "RemoteAddress": "IPV4/UDP/192.0.2.77/5060",
            },
        )
    assert len(recorder.queue) == registrations.PER_ADDRESS_MINUTE and recorder.dropped == 10


def _register_refreshing(settings, number: str, user_agent: str, tmp_path: Path):
    workdir = tmp_path / f"refresh-{next(_runs)}"
    workdir.mkdir()
    return run_scenario(
        "register_refresh.xml",
        settings.asterisk_host,
        settings.sip_port,
        service=number,
        auth_user=number,
        auth_password=PASSWORD,
        cwd=workdir,
        timeout=15,
        extra=["-key", "ua", user_agent],
    )


def _kinds(factory, vn_id: int) -> list[tuple[str, str]]:
    with factory() as s:
        rows = s.execute(
            select(RegistrationEvent.event, RegistrationEvent.user_agent)
            .where(RegistrationEvent.virtual_number_id == vn_id)
            .order_by(RegistrationEvent.id)
        ).all()
    return [tuple(r) for r in rows]


async def test_a_phone_refreshing_its_registration_is_recorded_once(controller, factory, settings, tmp_path):
    """Asterisk's realtime renews a contact with an UPDATE of its ps_contacts row: a phone
    re-registering every minute must not write a row a minute (thousands of phones)."""
    member = make_member(factory, settings, sip_password=PASSWORD)
    result = await asyncio.to_thread(_register_refreshing, settings, member.number, "Refresher/1.0", tmp_path)
    assert result.ok, result.stderr[-2000:]
    await _events(factory, member.vn_id, "registered")
    with factory() as s:
        [contacts] = s.execute(
            text("SELECT count(*) FROM ps_contacts WHERE endpoint = :n"), {"n": member.number}
        ).one()
    assert contacts == 1
    await asyncio.sleep(1)  # any late row of the refreshes would be there by now
    assert _kinds(factory, member.vn_id) == [("registered", "Refresher/1.0")]


async def test_a_user_agent_of_300_characters_registers_and_is_recorded_truncated(
    controller, factory, settings, tmp_path
):
    member = make_member(factory, settings, sip_password=PASSWORD)
    agent = "LongPhone/9.9 " + "x" * 286
    assert len(agent) == 300
    result = await asyncio.to_thread(_register_refreshing, settings, member.number, agent, tmp_path)
    assert result.ok, result.stderr[-2000:]  # every REGISTER of it answered 200
    [registered] = await _events(factory, member.vn_id, "registered")
    assert registered.user_agent == agent[:200]
    with factory() as s:
        stored = s.execute(
            text("SELECT user_agent FROM ps_contacts WHERE endpoint = :n"), {"n": member.number}
        ).scalar_one()
    assert stored == agent[:255]  # the contact is there (the phone can be called), its agent clipped


async def test_a_scanners_random_names_are_not_written_a_misspelt_number_is(controller, factory, settings):
    """Names that are no number of ours from many addresses (a distributed scan) would pass the
    per-address cap: only our numbers and names one of them misspelt are kept (near_names)."""
    from controller.services import registrations

    member = make_member(factory, settings, sip_password=PASSWORD)
    recorder = registrations.RegistrationRecorder(controller.ami, controller.pg)
    names = [f"scan{member.number}x{i}" for i in range(200)] + [
        member.number[1:],
        f"+{member.number}",
        f"{member.number}@{settings.sip_realm}",
        f"1{member.number}",
    ]
    for i, name in enumerate(names):
        recorder._on_event(
            None,
            {
                "Event": "InvalidAccountID",
                "Service": "PJSIP",
                "AccountID": name,
                "SessionID": f"scan-{member.number}-{i}",
                "RemoteAddress": f"IPV4/UDP/198.18.{i // 250}.{i % 250}/5060",
            },
        )
    assert len(recorder.queue) == len(names)  # one per address: the cap lets every one through
    assert await recorder.flush() == 4
    with factory() as s:
        kept = s.scalars(
            select(RegistrationEvent.number)
            .where(RegistrationEvent.number.in_(names))
            .order_by(RegistrationEvent.number)
        ).all()
    assert kept == sorted(names[-4:])


async def test_a_phone_retrying_the_same_dialog_for_long_has_its_latest_refusal_written():
    """One row per dialog and kind a minute, not one for the dialog's whole life: a phone with
    a wrong password retrying for hours shows when it last tried."""
    from controller.services import registrations

    recorder = registrations.RegistrationRecorder(None, None)  # type: ignore[arg-type]  # no I/O here
    event = {
        "Event": "ChallengeResponseFailed",
        "Service": "PJSIP",
        "AccountID": "17005550123",
        "SessionID": "retrying-dialog",
        "RemoteAddress": "IPV4/UDP/192.0.2.8/5060",
    }
    recorder._on_event(None, event)
    recorder._on_event(None, event)  # the same REGISTER dialog's retry at once: not again
    assert len(recorder.queue) == 1
    key = ("retrying-dialog", "bad_password:17005550123")
    recorder._seen[key] -= registrations.SEEN_S  # as if written a minute ago
    recorder._on_event(None, event)
    assert len(recorder.queue) == 2
