"""Call History from real calls (issue 11, item 2): members' SIPp phones, registered with their
numbers' own credentials, call each other through the real dialplan; Asterisk writes the CDRs
(cdr_pgsql), the controller's rater charges them, and each member's Call History and Missed
Calls are read through the panel's test client. Nothing here inserts a CDR.

Each row must be one call as that member experienced it: the caller's outgoing call and the
called member's incoming one, the number dialled, what happened (answered, voicemail, refused
and why), one row however many legs the call had."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from db.models import Cdr, CdrCharge
from tests.support.members import Member, add_did, make_member, set_forwarding
from tests.support.sipp import Phone, place_call
from tests.support.wait import until
from tests.web.test_call_history import _cell, _records, _rows

pytestmark = pytest.mark.asyncio(loop_scope="session")

PSTN_A = "13125550111"  # the simulated PSTN answers
PSTN_RINGOUT = "13125550408"  # rings out


@pytest.fixture(autouse=True)
def _need_sipp(need_sipp):
    pass


@pytest.fixture()
def panel(database, engine) -> Iterator[FlaskClient]:
    from webpanel import create_app

    app = create_app({"TESTING": True, "VOIP_SETTINGS": database, "VOIP_ENGINE": engine})
    yield app.test_client()


def _rows_of(panel: FlaskClient, member: Member, report: str) -> list[dict[str, str]]:
    """`member`'s rows of today's Call History or Missed Calls (the test members are UTC)."""
    from tests.support.panel import sign_in_user

    sign_in_user(panel, member.user_id)  # issue 13: a server-side session row
    response = panel.get(f"/{report}/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    labels = ("Calling Number", "Number Called", "Disposition", "Type", "Duration", "Cost")
    rows = [{label: _cell(r, label) for label in labels} for r in _rows(html)]
    assert _records(html) == (f"1–{len(rows)} of {len(rows)}" if rows else "0–0 of 0")
    return rows


def _seconds(duration: str) -> int:
    minutes, seconds = re.fullmatch(r"(\d+):(\d\d)", duration).groups()
    return int(minutes) * 60 + int(seconds)


async def _phone_calls(settings, caller: Member, dialed: str, cwd: Path, scenario: str = "uac_call_bye.xml"):
    """`caller`'s phone calls `dialed` (uac_call_bye.xml: hangs up 2 s after the answer;
    uac_call.xml: stays until Asterisk hangs up)."""
    return await asyncio.to_thread(
        place_call,
        caller.number,
        caller.sip_password,
        dialed,
        host=settings.asterisk_host,
        port=settings.sip_port,
        cwd=cwd,
        timeout=40,
        scenario=scenario,
    )


def _phone(settings, member: Member, behaviour: str, cwd: Path) -> Phone:
    return Phone(
        behaviour,
        member.number,
        member.sip_password,
        host=settings.asterisk_host,
        port=settings.sip_port,
        cwd=cwd,
    )


async def _settled(factory, *members: Member) -> None:
    """Asterisk has written the call's CDRs (their number stays the same for a second) and the
    rater has charged each billable one."""
    seen: list[int] = []

    def done() -> bool:
        with factory() as s:
            cdrs = s.scalars(select(Cdr).where(Cdr.vnum.in_([m.number for m in members]))).all()
            charged = set(
                s.scalars(select(CdrCharge.cdr_id).where(CdrCharge.cdr_id.in_([c.id for c in cdrs])))
            )
        seen.append(len(cdrs))
        rated = all(c.id in charged for c in cdrs if c.call_class)
        return bool(cdrs) and rated and len(seen) > 10 and seen[-11] == len(cdrs)

    await until(done, timeout=30, what="the call's CDRs, rated")


async def _legs(factory, member: Member) -> list[Cdr]:
    with factory() as s:
        return list(s.scalars(select(Cdr).where(Cdr.vnum == member.number).order_by(Cdr.id)))


async def test_a_member_to_member_call_is_in_both_members_call_history(
    controller, factory, settings, tmp_path, panel
):
    a, b = make_member(factory, settings), make_member(factory, settings)
    set_forwarding(factory, b, step1="none", device_seconds=15)
    phone = _phone(settings, b, "answer", tmp_path)
    try:
        result = await _phone_calls(settings, a, b.number, tmp_path)
        assert result.ok, result.stdout[-1500:]
        assert phone.finished_ok(20)
    finally:
        phone.stop()
    await _settled(factory, a, b)

    [out] = _rows_of(panel, a, "call-history")
    [received] = _rows_of(panel, b, "call-history")
    assert (out["Calling Number"], out["Number Called"], out["Type"]) == (a.number, b.number, "N")
    assert (received["Calling Number"], received["Number Called"], received["Type"]) == (
        a.number,
        b.number,
        "IN",
    )
    for row in (out, received):
        assert row["Disposition"] == "Answered" and row["Cost"] == "$0.00"
        assert 1 <= _seconds(row["Duration"]) <= 5, row
    assert _rows_of(panel, b, "missed-calls") == []


async def test_a_call_to_a_busy_member_that_went_to_voicemail_says_so_on_both_sides(
    controller, factory, settings, tmp_path, panel
):
    a, b = make_member(factory, settings), make_member(factory, settings)
    set_forwarding(factory, b, step1="none", device_seconds=15)
    phone = _phone(settings, b, "busy", tmp_path)
    try:
        # voicemail answers; the caller hangs up 2 s later
        result = await _phone_calls(settings, a, b.number, tmp_path)
        assert result.ok, result.stdout[-1500:]
    finally:
        phone.stop()
    await _settled(factory, a, b)

    # Asterisk wrote the busy device's CDR and, after it, one for the voicemail (the dialplan's
    # voicemail step), both the caller's
    legs = await _legs(factory, a)
    assert [(c.dcontext, c.dst, c.disposition) for c in legs] == [
        ("incoming", b.number, "BUSY"),
        ("dial-out", "voicemail", "ANSWERED"),
    ]
    [out] = _rows_of(panel, a, "call-history")
    [received] = _rows_of(panel, b, "call-history")
    assert (out["Number Called"], out["Disposition"], out["Type"]) == (b.number, "Voicemail", "N")
    assert (received["Calling Number"], received["Disposition"], received["Type"]) == (
        a.number,
        "Voicemail",
        "IN",
    )
    assert 1 <= _seconds(out["Duration"]) <= 5 and received["Duration"] == out["Duration"]
    [missed] = _rows_of(panel, b, "missed-calls")
    assert (missed["Calling Number"], missed["Number Called"], missed["Disposition"]) == (
        a.number,
        b.number,
        "Voicemail",
    )


async def test_a_refused_call_shows_the_number_dialled_and_why(
    controller, factory, settings, tmp_path, panel
):
    a = make_member(factory, settings, credit="5.00")  # no US & Canada long distance
    # Asterisk answers to announce the refusal, then hangs up
    result = await _phone_calls(settings, a, "12125550100", tmp_path, scenario="uac_call.xml")
    assert result.ok, result.stdout[-1500:]
    await _settled(factory, a)

    [leg] = await _legs(factory, a)
    assert (leg.dcontext, leg.dst, leg.disposition) == ("refused", "not_permitted_us_canada", "ANSWERED")
    assert _rows_of(panel, a, "call-history") == [
        {
            "Calling Number": a.number,
            "Number Called": "12125550100",
            "Disposition": "Refused: long distance to the US and Canada is not allowed on this number",
            "Type": "D",
            "Duration": "00:00",
            "Cost": "$0.00",
        }
    ]


async def test_a_call_forwarded_to_several_numbers_at_once_is_one_row_for_each_member(
    controller, factory, settings, tmp_path, panel
):
    a = make_member(factory, settings)
    b = make_member(factory, settings, credit="5.00", allow_us_canada_ld=True)
    set_forwarding(
        factory,
        b,
        step1="ring_list",
        step1_mode="simultaneous",
        step1_seconds=15,
        step1_numbers=[PSTN_RINGOUT, PSTN_A],
    )
    result = await _phone_calls(settings, a, b.number, tmp_path)  # PSTN_A answers
    assert result.ok, result.stdout[-1500:]
    await _settled(factory, a, b)

    # the caller's channel has one CDR per number rung, b's forwarding one per Local leg
    assert len(await _legs(factory, a)) == 2 and len(await _legs(factory, b)) == 2
    [out] = _rows_of(panel, a, "call-history")
    [received] = _rows_of(panel, b, "call-history")
    assert (out["Number Called"], out["Disposition"], out["Type"], out["Cost"]) == (
        b.number,
        "Answered",
        "N",
        "$0.00",
    )
    assert (received["Calling Number"], received["Disposition"], received["Type"]) == (
        a.number,
        "Answered",
        "IN",
    )
    # b pays the forwarded leg that was answered ($0.60 a minute, billed by the second)
    assert received["Cost"] in ("$0.02", "$0.03", "$0.04"), received
    assert _rows_of(panel, b, "missed-calls") == []


async def test_a_pstn_call_on_a_did_that_went_to_voicemail_is_a_missed_call_on_that_did(
    controller, factory, settings, panel
):
    b = make_member(factory, settings)  # no phone registered: voicemail at once
    did = add_did(factory, b)
    await controller.ami.originate(
        f"Local/{did}@from-pstn",
        application="Wait",
        data="3",
        caller_id="Pat Smith <13125550000>",
        timeout_ms=30000,
    )
    await _settled(factory, b)

    [received] = _rows_of(panel, b, "call-history")
    assert (received["Calling Number"], received["Number Called"], received["Type"]) == (
        "13125550000",
        did,
        "IN",
    )
    assert received["Disposition"] == "Voicemail" and 1 <= _seconds(received["Duration"]) <= 5
    [missed] = _rows_of(panel, b, "missed-calls")
    assert (missed["Calling Number"], missed["Number Called"], missed["Disposition"]) == (
        "13125550000",
        did,
        "Voicemail",
    )
