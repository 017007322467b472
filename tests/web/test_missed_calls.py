"""The help page's "Missed Calls": the received calls nobody answered, one row per call as Call
History groups them (a call that went to voicemail was missed, and says so), in the member's
local days, paged, with its columns, CSV export, and each user's own numbers only."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from db.models import Did
from db.session import transaction
from tests.support.members import add_did
from tests.support.realparts import unique_number

from . import call_shapes
from .cdrs import add_cdrs, at, cdr_values
from .conftest import errors_in, page, sign_in
from .test_call_history import _cell, _link, _records, _rows


def _missed(number: str, start: dt.datetime, src: str = "13125550100", clid: str = "", **kw) -> dict:
    return cdr_values(
        vnum=number,
        start=start,
        src=src,
        dst=number,
        clid=clid,
        disposition=kw.pop("disposition", "NO ANSWER"),
        **kw,
    )


def test_missed_calls_lists_unanswered_calls_to_the_members_numbers_and_dids(client, make_member, factory):
    member = make_member(time_zone="Asia/Tokyo")
    did = unique_number("1555")
    with transaction(factory) as s:
        s.add(
            Did(
                account_id=member.account_id,
                number=did,
                connection="virtual_number",
                virtual_number_id=member.virtual_number_id,
            )
        )
    add_cdrs(
        factory,
        [
            _missed(member.number, at("2026-03-01 14:59:59"), clid='"Alice Smith" <13125550100>'),
            {
                **_missed(member.number, at("2026-03-01 16:00:00"), src="14155550123", disposition="BUSY"),
                "dst": did,
            },
            # answered: not missed
            _missed(member.number, at("2026-03-01 17:00:00"), disposition="ANSWERED", dstchannel="PJSIP/x"),
        ],
    )
    sign_in(client, member)
    html = page(client, "/missed-calls/?start=2026-03-01&end=2026-03-02")
    for label in ("Number Called", "Calling Number", "Caller ID", "Disposition"):
        assert f'<th scope="col">{label}</th>' in html
    assert '<th scope="col">Date <span class="zone-note">(Asia/Tokyo)</span></th>' in html  # issue 16
    assert _records(html) == "1–2 of 2"
    busy, alice = _rows(html)
    assert _cell(alice, "Date") == "2026-03-01 23:59:59"  # Tokyo, UTC+9
    assert _cell(alice, "Caller ID") == "Alice Smith <13125550100>"
    assert _cell(alice, "Number Called") == member.number and _cell(alice, "Disposition") == "No answer"
    assert _cell(busy, "Date") == "2026-03-02 01:00:00" and _cell(busy, "Number Called") == did
    assert _cell(busy, "Calling Number") == "14155550123" and _cell(busy, "Disposition") == "Busy"
    # the Tokyo day of March 1st ends at 15:00 UTC
    html = page(client, "/missed-calls/?start=2026-03-01&end=2026-03-01")
    assert _records(html) == "1–1 of 1" and "Alice Smith" in html


def test_missed_calls_pages_first_next_previous_last(client, make_member, factory):
    member = make_member(time_zone="UTC")
    base = at("2026-04-01 00:00:00")
    add_cdrs(
        factory,
        [_missed(member.number, base + dt.timedelta(minutes=i), src=f"1415555{i:04d}") for i in range(110)],
    )
    sign_in(client, member)
    html = page(client, "/missed-calls/?start=2026-04-01&end=2026-04-01")
    assert _records(html) == "1–50 of 110" and "Page 1 of 3" in html
    assert _cell(_rows(html)[0], "Calling Number") == "14155550109"  # newest first
    html = page(client, _link(html, "next"))
    assert _records(html) == "51–100 of 110"
    html = page(client, _link(html, "last"))
    assert _records(html) == "101–110 of 110" and _link(html, "next") is None
    assert _cell(_rows(html)[-1], "Calling Number") == "14155550000"
    html = page(client, _link(html, "prev"))
    assert _records(html) == "51–100 of 110"
    html = page(client, _link(html, "first"))
    assert _records(html) == "1–50 of 110"


def test_a_secondary_user_sees_only_the_calls_their_own_number_missed(
    client, make_member, make_secondary, factory
):
    member = make_member(time_zone="UTC")
    second = make_secondary(member)
    add_cdrs(
        factory,
        [
            _missed(member.number, at("2026-05-01 10:00:00"), src="14155550001"),
            _missed(second.number, at("2026-05-01 11:00:00"), src="14155550002"),
        ],
    )
    sign_in(client, second)
    html = page(client, "/missed-calls/?start=2026-05-01&end=2026-05-01")
    assert "14155550002" in html and "14155550001" not in html


@pytest.mark.parametrize(
    "query, message",
    [
        ("start=2026-02-30", "Enter the Start date as year-month-day, such as 2026-03-01."),
        ("start=2026-03-10&end=2026-03-01", "The End date is before the Start date."),
        ("page=zero", "That page link is not valid. Start again from the first page of the report."),
    ],
)
def test_bad_missed_calls_input_gets_a_clear_message(client, make_member, query, message):
    sign_in(client, make_member())
    response = client.get(f"/missed-calls/?{query}")
    assert response.status_code == 400
    assert message in errors_in(response)


def test_missed_calls_export_as_csv(client, make_member, factory):
    member = make_member(time_zone="America/Los_Angeles")
    add_cdrs(
        factory,
        [_missed(member.number, at("2026-06-02 06:00:00"), clid='"Bob" <14155550100>', src="14155550100")],
    )
    sign_in(client, member)
    response = client.get("/missed-calls/export.csv?start=2026-06-01&end=2026-06-01")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    table = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert table == [
        ["Date (America/Los_Angeles)", "Number Called", "Calling Number", "Caller ID", "Disposition"],
        ["2026-06-01 23:00:00", member.number, "14155550100", "Bob", "No answer"],
    ]


# --- one missed call per call, as Call History groups them (issue 11) ------------------------


def _missed_rows(client, member, day: str) -> list[tuple[str, str, str]]:
    sign_in(client, member)
    html = page(client, f"/missed-calls/?start={day}&end={day}")
    return [
        (_cell(r, "Calling Number"), _cell(r, "Number Called"), _cell(r, "Disposition")) for r in _rows(html)
    ]


def test_a_missed_call_that_went_to_voicemail_is_one_row_that_says_voicemail(client, make_member, factory):
    a, b = make_member(time_zone="UTC"), make_member(time_zone="UTC")
    did = add_did(factory, b)
    add_cdrs(
        factory,
        [
            *call_shapes.on_net(a.number, b.number, at("2026-10-06 10:00:00"), device="BUSY", voicemail=12),
            *call_shapes.from_pstn(
                b.number, did, "13125550000", at("2026-10-06 12:00:00"), device="NO ANSWER", voicemail=15
            ),
        ],
    )
    assert _missed_rows(client, b, "2026-10-06") == [
        ("13125550000", did, "Voicemail"),
        (a.number, b.number, "Voicemail"),
    ]
    assert _missed_rows(client, a, "2026-10-06") == []  # the caller missed nothing


def test_missed_calls_are_the_incoming_calls_of_call_history_that_nobody_answered(
    client, make_member, factory
):
    a, b = make_member(time_zone="UTC"), make_member(time_zone="UTC")
    did = add_did(factory, b)
    day = "2026-10-08"
    t = at(f"{day} 08:00:00")
    hour = dt.timedelta(hours=1)
    add_cdrs(
        factory,
        [
            *call_shapes.on_net(a.number, b.number, t, answered=20),  # answered: not missed
            *call_shapes.on_net(
                a.number, b.number, t + hour, device="NO ANSWER", devices=2
            ),  # one missed call
            *call_shapes.ring_list(
                b.number,
                did,
                "13125550001",
                t + 2 * hour,
                {"13125550408": ("D", "NO ANSWER", 0), "12125550408": ("D", "NO ANSWER", 0)},
            ),  # nobody answered any of them: one missed call
            *call_shapes.ring_list(
                b.number,
                did,
                "13125550002",
                t + 3 * hour,
                {"13125550408": ("D", "NO ANSWER", 0), "12125550111": ("D", "ANSWERED", 5)},
            ),  # a forwarded number answered: not missed
            *call_shapes.outbound(
                b.number, "14155550486", "D", t + 4 * hour, disposition="BUSY"
            ),  # b's own call
            *call_shapes.refused(b.number, "12125550100", "no_credit", t + 5 * hour),  # b's own call
        ],
    )
    missed = _missed_rows(client, b, day)
    assert missed == [("13125550001", did, "No answer"), (a.number, b.number, "No answer")]
    sign_in(client, b)
    history = _rows(page(client, f"/call-history/?start={day}&end={day}"))
    unanswered_in = [
        (_cell(r, "Calling Number"), _cell(r, "Number Called"), _cell(r, "Disposition"))
        for r in history
        if _cell(r, "Type") == "IN" and _cell(r, "Disposition") != "Answered"
    ]
    assert unanswered_in == missed
    assert len(history) == 6
