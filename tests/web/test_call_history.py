"""The help page's "Call History": which calls a member sees, their local days, the columns,
keyset paging, the ?number= filter of the Buddy List's icon, CSV export and the minutes chart."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from decimal import Decimal
from html import unescape

import pytest

from db.models import Buddy
from db.session import transaction
from tests.support.members import add_did
from tests.support.realparts import unique_number

from . import call_shapes
from .cdrs import add_cdrs, at, cdr_values
from .conftest import errors_in, page, sign_in


def _rows(html: str) -> list[str]:
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in html else ""
    return re.findall(r"<tr>(.*?)</tr>", body, re.S)


def _cell(row: str, label: str) -> str:
    match = re.search(rf'<td data-label="{label}"[^>]*>(.*?)</td>', row, re.S)
    return unescape(re.sub(r"<[^>]+>", "", match.group(1))).strip() if match else ""


def _records(html: str) -> str:
    match = re.search(r'<p class="records">Records ([^<·]*)', html)
    return " ".join(unescape(match.group(1)).split()) if match else ""


def _link(html: str, rel: str) -> str | None:
    match = re.search(rf'<a class="button button-small" href="([^"]+)" rel="{rel}"', html)
    return unescape(match.group(1)) if match else None


def test_call_history_shows_the_members_placed_and_received_calls_with_their_charges(
    client, make_member, factory
):
    member = make_member(time_zone="America/New_York")
    other = make_member()
    did = unique_number("1555")
    add_cdrs(
        factory,
        [
            cdr_values(
                vnum=member.number,
                start=at("2026-03-10 15:00:00"),
                src=member.number,
                dst="011442079460000",
                dialed="442079460000",
                call_class="I",
                billsec=125,
            ),
            cdr_values(
                vnum=member.number, start=at("2026-03-10 16:00:00"), src="13125550100", dst=did, billsec=61
            ),
            cdr_values(
                vnum=member.number,
                start=at("2026-03-10 17:00:00"),
                src=member.number,
                dst="14155550100",
                dialed="14155550100",
                call_class="D",
                billsec=0,
                disposition="BUSY",
            ),
            cdr_values(
                vnum=member.number,
                start=at("2026-03-10 18:00:00"),
                src=member.number,
                dst="13125550100",
                dialed="13125550100",
                call_class="R",
                billsec=600,
            ),
            # not the member's: another account's call, and a call that never reached a member
            cdr_values(
                vnum=other.number,
                start=at("2026-03-10 15:30:00"),
                src=other.number,
                dst="14155550100",
                dialed="14155550100",
                call_class="D",
                billsec=30,
            ),
            cdr_values(
                vnum=None,
                start=at("2026-03-10 15:45:00"),
                src="13125550100",
                dst=member.number,
                disposition="FAILED",
            ),
        ],
        charges={
            0: {"call_type": "I", "country": "GB", "cost": Decimal("0.0417")},
            2: {"call_type": "D", "country": "US", "cost": Decimal("0")},
            3: {"call_type": "PR", "country": "US", "cost": Decimal("0")},
        },
    )
    sign_in(client, member)
    html = page(client, "/call-history/?start=2026-03-10&end=2026-03-10")
    for label in (
        "Calling Number",
        "Number Called",
        "Country",
        "Disposition",
        "Type",
        "Duration",
        "Cost",
    ):
        assert f'<th scope="col">{label}</th>' in html
    # issue 16: the time column names the zone its times are in
    assert '<th scope="col">Date <span class="zone-note">(America/New_York)</span></th>' in html
    rows = _rows(html)
    assert _records(html) == "1–4 of 4"
    assert len(rows) == 4
    newest, busy, inbound, international = rows
    assert _cell(newest, "Date") == "2026-03-10 14:00:00"  # New York time (EDT from March 8th)
    assert _cell(newest, "Type") == "PR" and _cell(newest, "Duration") == "10:00"
    assert _cell(busy, "Disposition") == "Busy" and _cell(busy, "Cost") == "$0.00"
    assert _cell(inbound, "Type") == "IN" and _cell(inbound, "Calling Number") == "13125550100"
    assert _cell(inbound, "Number Called") == did and _cell(inbound, "Duration") == "01:01"
    assert _cell(international, "Date") == "2026-03-10 11:00:00"
    assert _cell(international, "Country") == "GB" and 'title="United Kingdom"' in international
    # what the member reads: cents (the CSV export keeps the exact 0.0417)
    assert _cell(international, "Type") == "I" and _cell(international, "Cost") == "$0.04"
    assert _cell(international, "Duration") == "02:05" and _cell(international, "Disposition") == "Answered"
    assert other.number not in html


def test_an_unrated_placed_call_shows_its_cost_as_pending(client, make_member, factory):
    member = make_member(time_zone="UTC")
    add_cdrs(
        factory,
        [
            cdr_values(
                vnum=member.number,
                start=at("2026-04-01 10:00:00"),
                src=member.number,
                dst="14155550100",
                dialed="14155550100",
                call_class="D",
                billsec=42,
            )
        ],
    )
    sign_in(client, member)
    row = _rows(page(client, "/call-history/?start=2026-04-01&end=2026-04-01"))[0]
    assert _cell(row, "Cost") == "pending" and _cell(row, "Country") == "US"


@pytest.mark.parametrize("day, shown", [("2026-03-01", True), ("2026-03-02", False)])
def test_a_call_at_2330_local_time_lands_on_that_local_day_not_the_utc_day(
    client, make_member, factory, day, shown
):
    member = make_member(time_zone="America/New_York")
    # 23:30 in New York on March 1st (EST, UTC-5) is 04:30 UTC on March 2nd
    add_cdrs(
        factory,
        [
            cdr_values(
                vnum=member.number,
                start=at("2026-03-02 04:30:00"),
                src=member.number,
                dst="14155550100",
                dialed="14155550100",
                call_class="D",
                billsec=90,
            )
        ],
    )
    sign_in(client, member)
    html = page(client, f"/call-history/?start={day}&end={day}")
    assert ("2026-03-01 23:30:00" in html) is shown
    assert _records(html) == ("1–1 of 1" if shown else "0–0 of 0")
    if shown:  # the chart's bar is on the local day too
        assert re.search(r"<title>2026-03-01: 1.5 min, 1 call</title>", html)


def test_a_secondary_user_sees_only_their_own_numbers_calls(client, make_member, make_secondary, factory):
    member = make_member(time_zone="UTC")
    second = make_secondary(member)
    add_cdrs(
        factory,
        [
            cdr_values(
                vnum=member.number,
                start=at("2026-05-01 10:00:00"),
                src=member.number,
                dst="14155550100",
                dialed="14155550100",
                call_class="D",
                billsec=10,
            ),
            cdr_values(
                vnum=second.number,
                start=at("2026-05-01 11:00:00"),
                src=second.number,
                dst="14155550111",
                dialed="14155550111",
                call_class="D",
                billsec=10,
            ),
        ],
    )
    sign_in(client, second)
    html = page(client, "/call-history/?start=2026-05-01&end=2026-05-01")
    assert "14155550111" in html and "14155550100" not in html
    sign_in(client, member)  # the primary holder sees the whole account
    html = page(client, "/call-history/?start=2026-05-01&end=2026-05-01")
    assert "14155550111" in html and "14155550100" in html


def test_pages_go_first_next_previous_last_newest_first_across_all_the_accounts_numbers(
    client, make_member, make_secondary, factory
):
    member = make_member(time_zone="UTC")
    second = make_secondary(member)
    base = at("2026-06-10 00:00:00")
    rows = []
    for i in range(120):
        # pairs of calls share a start second: (start, id) orders them
        rows.append(
            cdr_values(
                vnum=(member.number, second.number)[i % 2],
                start=base + dt.timedelta(minutes=10 * (i // 2)),
                src="x",
                dst=f"1415555{i:04d}",
                dialed=f"1415555{i:04d}",
                call_class="D",
                billsec=i,
            )
        )
    ids = add_cdrs(factory, rows)
    newest_first = [
        f"1415555{i:04d}" for i in sorted(range(120), key=lambda i: (rows[i]["start"], ids[i]), reverse=True)
    ]
    sign_in(client, member)
    url = "/call-history/?start=2026-06-10&end=2026-06-10"
    html = page(client, url)
    assert _records(html) == "1–50 of 120" and "Page 1 of 3" in html
    assert _link(html, "prev") is None and _link(html, "first") is None

    seen = []
    for expected_records, expected_page in (("1–50 of 120", 1), ("51–100 of 120", 2), ("101–120 of 120", 3)):
        assert _records(html) == expected_records and f"Page {expected_page} of 3" in html
        seen += [_cell(r, "Number Called") for r in _rows(html)]
        next_url = _link(html, "next")
        if expected_page < 3:
            html = page(client, next_url)
    assert next_url is None and _link(html, "last") is None
    assert seen == newest_first  # every call once, in order

    html = page(client, _link(html, "prev"))
    assert _records(html) == "51–100 of 120"
    assert [_cell(r, "Number Called") for r in _rows(html)] == newest_first[50:100]
    html = page(client, _link(html, "prev"))
    assert _records(html) == "1–50 of 120"
    html = page(client, _link(html, "last"))
    assert _records(html) == "101–120 of 120"
    assert [_cell(r, "Number Called") for r in _rows(html)] == newest_first[100:]
    html = page(client, _link(html, "first"))
    assert _records(html) == "1–50 of 120"


def test_the_buddy_lists_icon_opens_call_history_with_only_that_buddys_calls(client, make_member, factory):
    member = make_member(time_zone="UTC")
    add_cdrs(
        factory,
        [
            cdr_values(
                vnum=member.number,
                start=at("2026-07-01 10:00:00"),
                src=member.number,
                dst="011442079460000",
                dialed="442079460000",
                call_class="I",
                billsec=10,
            ),
            cdr_values(
                vnum=member.number,
                start=at("2026-07-01 11:00:00"),
                src="+442079460000",
                dst=member.number,
                billsec=20,
            ),
            cdr_values(
                vnum=member.number,
                start=at("2026-07-01 12:00:00"),
                src=member.number,
                dst="14155550100",
                dialed="14155550100",
                call_class="D",
                billsec=30,
            ),
        ],
    )
    with transaction(factory) as s:
        s.add(Buddy(user_id=member.user_id, name="London office", pstn_phone="+442079460000"))
    sign_in(client, member)
    html = page(client, "/buddies/")
    icon = re.search(
        r'href="(/call-history/\?number=[^"]+)"[^>]*title="Call History with London office"', html
    )
    assert icon, "no call-history icon for the buddy"
    url = unescape(icon.group(1)) + "&start=2026-07-01&end=2026-07-01"
    html = page(client, url)
    assert _records(html) == "1–2 of 2" and "14155550100" not in html
    assert "with +442079460000" in html

    # one of the member's own numbers narrows to that number's calls
    html = page(client, f"/call-history/?number={member.number}&start=2026-07-01&end=2026-07-01")
    assert _records(html) == "1–3 of 3"


@pytest.mark.parametrize(
    "query, message",
    [
        ("start=2026-13-01&end=2026-12-31", "Enter the Start date as year-month-day, such as 2026-03-01."),
        ("start=01/03/2026", "Enter the Start date as year-month-day, such as 2026-03-01."),
        ("start=2026-03-10&end=2026-03-01", "The End date is before the Start date."),
        ("start=2024-01-01&end=2026-01-01", "Choose a range of at most 366 days."),
        ("start=1999-12-31&end=2000-01-05", "Choose a Start date between 2000-01-01 and 2099-12-31."),
        (
            "number=call-me-maybe",
            "Enter the number as you would dial it: digits, optionally + and spaces, "
            "dashes, dots or brackets.",
        ),
        ("after=yesterday", "That page link is not valid. Start again from the first page of the report."),
        ("page=7", "That page link is not valid. Start again from the first page of the report."),
    ],
)
def test_bad_report_input_gets_a_clear_message_and_no_report(client, make_member, query, message):
    member = make_member()
    sign_in(client, member)
    response = client.get(f"/call-history/?{query}")
    assert response.status_code == 400
    assert message in errors_in(response)
    assert "Call History Report" not in response.get_data(as_text=True)


def test_the_report_opens_on_the_last_30_local_days(client, make_member):
    member = make_member(time_zone="Pacific/Kiritimati")  # UTC+14: "today" is often not UTC's
    sign_in(client, member)
    html = page(client, "/call-history/")
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=14))).date()
    assert f'value="{today.isoformat()}"' in html
    assert f'value="{(today - dt.timedelta(days=29)).isoformat()}"' in html
    assert "No calls between" in html


def test_csv_export_has_every_call_of_the_range_in_local_time(client, make_member, factory):
    member = make_member(time_zone="Europe/Paris")
    rows = [
        cdr_values(
            vnum=member.number,
            start=at("2026-08-01 08:00:00") + dt.timedelta(minutes=i),
            src=member.number,
            dst="14155550100",
            dialed="14155550100",
            call_class="D",
            billsec=75,
        )
        for i in range(60)
    ]
    rows.append(
        cdr_values(
            vnum=member.number,
            start=at("2026-08-01 07:00:00"),
            src="=HYPERLINK(1)",
            dst=member.number,
            billsec=5,
        )
    )
    add_cdrs(factory, rows, charges={0: {"call_type": "D", "country": "US", "cost": Decimal("0.0125")}})
    sign_in(client, member)
    response = client.get("/call-history/export.csv?start=2026-08-01&end=2026-08-01")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert (
        response.headers["Content-Disposition"]
        == 'attachment; filename="call-history-2026-08-01-to-2026-08-01.csv"'
    )
    table = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert table[0] == [
        "Date (Europe/Paris)",
        "Calling Number",
        "Number Called",
        "Country",
        "Disposition",
        "Type",
        "Duration",
        "Seconds",
        "Cost (USD)",
    ]
    assert len(table) == 1 + 61
    assert table[-2] == [
        "2026-08-01 10:00:00",
        member.number,
        "14155550100",
        "US",
        "Answered",
        "D",
        "01:15",
        "75",
        "0.0125",
    ]
    assert table[-1][0] == "2026-08-01 09:00:00" and table[-1][1] == "'=HYPERLINK(1)"  # no formula
    assert table[1][8] == ""  # not rated yet


def test_the_minutes_chart_is_an_inline_svg_without_style_attributes(client, make_member, factory):
    member = make_member(time_zone="UTC")
    add_cdrs(
        factory,
        [
            cdr_values(
                vnum=member.number,
                start=at("2026-09-01 10:00:00"),
                src=member.number,
                dst="14155550100",
                dialed="14155550100",
                call_class="D",
                billsec=600,
            ),
            cdr_values(
                vnum=member.number,
                start=at("2026-09-03 10:00:00"),
                src=member.number,
                dst="14155550100",
                dialed="14155550100",
                call_class="D",
                billsec=300,
            ),
            cdr_values(
                vnum=member.number,
                start=at("2026-09-03 11:00:00"),
                src=member.number,
                dst="14155550100",
                dialed="14155550100",
                call_class="D",
                billsec=999,
                disposition="NO ANSWER",
            ),  # not answered: no minutes
        ],
    )
    sign_in(client, member)
    html = page(client, "/call-history/?start=2026-09-01&end=2026-09-07")
    svg = html.split('<svg class="chart-svg"', 1)[1].split("</svg>", 1)[0]
    bars = re.findall(
        r'<rect class="chart-bar" x="[\d.]+" y="[\d.]+" width="[\d.]+" height="([\d.]+)">'
        r"<title>([^<]+)</title>",
        svg,
    )
    # minutes written as the locale writes numbers (webpanel.filters.number): no ".0"
    assert [title for _, title in bars] == ["2026-09-01: 10 min, 1 call", "2026-09-03: 5 min, 2 calls"]
    assert float(bars[0][0]) == pytest.approx(2 * float(bars[1][0]))
    # no inline style or script (the page loads the panel's own scripts by src: the Menu button)
    assert "style=" not in svg and not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert "15 minutes from 2026-09-01 to 2026-09-07" in html


def test_a_recycled_numbers_calls_from_before_it_joined_the_account_stay_hidden(client, make_member, factory):
    member = make_member(time_zone="UTC")
    add_cdrs(
        factory,
        [
            cdr_values(
                vnum=member.number,
                start=at("2026-01-05 10:00:00"),
                src=member.number,
                dst="14155550100",
                dialed="14155550100",
                call_class="D",
                billsec=10,
            )
        ],
        numbers_existed=False,
    )  # the number's earlier holder placed this call
    sign_in(client, member)
    html = page(client, "/call-history/?start=2026-01-05&end=2026-01-05")
    assert _records(html) == "0–0 of 0" and "14155550100" not in html


def test_totals_of_closed_days_are_cached_and_todays_are_live(make_member, factory):
    from webpanel.call_history import queries
    from webpanel.reports import DateRange

    member = make_member(time_zone="UTC")
    now = dt.datetime.now(dt.UTC)
    old_day = (now - dt.timedelta(days=3)).date()
    call = dict(src=member.number, dst="14155550100", dialed="14155550100", call_class="D", billsec=60)
    add_cdrs(
        factory,
        [
            cdr_values(vnum=member.number, start=at(f"{old_day} 10:00:00"), **call),
            cdr_values(vnum=member.number, start=now - dt.timedelta(seconds=5), **call),
        ],
    )
    rng = DateRange(old_day, now.date(), "UTC")
    with factory() as s:
        scope = queries.Scope(((member.number, at("2000-01-01 00:00:00")),))
        assert sum(d.calls for d in queries.day_totals(s, scope, rng)) == 2
    add_cdrs(
        factory,
        [
            cdr_values(vnum=member.number, start=at(f"{old_day} 11:00:00"), **call),
            cdr_values(vnum=member.number, start=now - dt.timedelta(seconds=1), **call),
        ],
    )
    with factory() as s:
        assert sum(d.calls for d in queries.day_totals(s, scope, rng)) == 3  # closed day: cached
        queries.forget_cached_totals()
        assert sum(d.calls for d in queries.day_totals(s, scope, rng)) == 4


# --- each row is one call as the member experienced it (issue 11) -----------------------------


def _add(factory, *calls: list[dict], charges: dict[tuple[int, int], Decimal] | None = None) -> None:
    """Insert the CDR rows of `calls` (call_shapes helpers); `charges` maps (call index, leg
    index) to the cost the rater charged that leg (its call_type and country from the leg)."""
    rows = [leg for call in calls for leg in call]
    flat = {}
    for (c, leg), cost in (charges or {}).items():
        index = sum(len(x) for x in calls[:c]) + leg
        row = rows[index]
        country = "" if row["call_class"] == "N" else "US"
        flat[index] = {"call_type": row["call_class"], "country": country, "cost": cost}
    add_cdrs(factory, rows, flat)


def _history(client, member, day: str) -> list[dict[str, str]]:
    sign_in(client, member)
    html = page(client, f"/call-history/?start={day}&end={day}")
    labels = ("Calling Number", "Number Called", "Disposition", "Type", "Duration", "Cost")
    return [{label: _cell(r, label) for label in labels} for r in _rows(html)]


def test_an_on_net_call_is_outgoing_for_the_caller_and_incoming_for_the_called_member(
    client, make_member, factory
):
    a, b = make_member(time_zone="UTC"), make_member(time_zone="UTC")
    _add(
        factory,
        call_shapes.on_net(a.number, b.number, at("2026-10-01 10:00:00"), answered=125),
        charges={(0, 0): Decimal("0")},
    )
    out = {
        "Calling Number": a.number,
        "Number Called": b.number,
        "Disposition": "Answered",
        "Type": "N",
        "Duration": "02:05",
        "Cost": "$0.00",
    }
    assert _history(client, a, "2026-10-01") == [out]
    assert _history(client, b, "2026-10-01") == [{**out, "Type": "IN"}]


def test_number_called_is_the_number_dialled_not_the_dialplan_extension(client, make_member, factory):
    a = make_member(time_zone="UTC")
    _add(
        factory,
        call_shapes.outbound(a.number, "442079460000", "I", at("2026-10-02 10:00:00"), billsec=62),
        charges={(0, 1): Decimal("0.0417")},
    )
    [row] = _history(client, a, "2026-10-02")
    assert row["Number Called"] == "442079460000" and row["Calling Number"] == a.number
    assert (row["Type"], row["Disposition"], row["Duration"]) == ("I", "Answered", "01:02")


@pytest.mark.parametrize(
    "reason, dialed, disposition, kind",
    [
        (
            "not_permitted_us_canada",
            "12125550100",
            "Refused: long distance to the US and Canada is not allowed on this number",
            "D",
        ),
        (
            "not_permitted_international",
            "011442079460000",
            "Refused: international calls are not allowed on this number",
            "I",
        ),
        ("no_credit", "12125550100", "Refused: not enough credit", "D"),
        ("invalid_number", "1700", "Refused: not a valid number", ""),
    ],
)
def test_a_refused_call_is_the_members_outgoing_call_refused_and_why(
    client, make_member, factory, reason, dialed, disposition, kind
):
    a = make_member(time_zone="UTC")
    _add(factory, call_shapes.refused(a.number, dialed, reason, at("2026-10-03 10:00:00")))
    assert _history(client, a, "2026-10-03") == [
        {
            "Calling Number": a.number,
            "Number Called": dialed,
            "Disposition": disposition,
            "Type": kind,
            "Duration": "00:00",  # the announcement is no call
            "Cost": "$0.00",
        }
    ]
    html = page(client, "/call-history/?start=2026-10-03&end=2026-10-03")
    assert "0 minutes from 2026-10-03" in html


def test_a_refused_call_recorded_without_its_number_does_not_show_the_reason_as_one(
    client, make_member, factory
):
    a = make_member(time_zone="UTC")
    _add(factory, call_shapes.refused(a.number, None, "no_credit", at("2026-10-03 11:00:00")))
    [row] = _history(client, a, "2026-10-03")
    assert row["Number Called"] == "" and row["Disposition"] == "Refused: not enough credit"


def test_a_call_that_rang_several_numbers_at_once_is_one_row(client, make_member, factory):
    a, b = make_member(time_zone="UTC"), make_member(time_zone="UTC")
    did = add_did(factory, b)
    _add(
        factory,
        call_shapes.ring_list(
            b.number,
            did,
            "13125550000",
            at("2026-10-04 10:00:00"),
            {"13125550408": ("D", "NO ANSWER", 0), "12125550111": ("D", "ANSWERED", 3)},
        ),
        # a desk phone and a softphone on b's number both rang; one answered
        call_shapes.on_net(a.number, b.number, at("2026-10-04 11:00:00"), answered=30, devices=2),
        charges={(0, 1): Decimal("0"), (0, 3): Decimal("0.03"), (1, 0): Decimal("0"), (1, 1): Decimal("0")},
    )
    assert _history(client, b, "2026-10-04") == [
        {
            "Calling Number": a.number,
            "Number Called": b.number,
            "Disposition": "Answered",
            "Type": "IN",
            "Duration": "00:30",
            "Cost": "$0.00",
        },
        {
            "Calling Number": "13125550000",
            "Number Called": did,
            "Disposition": "Answered",
            "Type": "IN",
            "Duration": "00:03",
            "Cost": "$0.03",  # b pays the forwarded leg that was answered
        },
    ]
    assert [r["Disposition"] for r in _history(client, a, "2026-10-04")] == ["Answered"]
    html = page(client, "/call-history/?start=2026-10-04&end=2026-10-04")
    assert _records(html) == "1–1 of 1"


def test_an_unanswered_call_to_the_pstn_is_one_row_with_what_happened(client, make_member, factory):
    a = make_member(time_zone="UTC")
    _add(
        factory,
        call_shapes.outbound(a.number, "14155550486", "D", at("2026-10-05 10:00:00"), disposition="BUSY"),
        call_shapes.outbound(
            a.number, "14155550408", "D", at("2026-10-05 11:00:00"), disposition="NO ANSWER"
        ),
    )
    rows = _history(client, a, "2026-10-05")
    assert [(r["Number Called"], r["Disposition"], r["Duration"]) for r in rows] == [
        ("14155550408", "No answer", "00:00"),
        ("14155550486", "Busy", "00:00"),
    ]


def test_a_call_that_went_to_voicemail_says_voicemail_with_its_duration(client, make_member, factory):
    a, b = make_member(time_zone="UTC"), make_member(time_zone="UTC")
    c = make_member(time_zone="UTC")
    did = add_did(factory, b)
    _add(
        factory,
        call_shapes.on_net(a.number, b.number, at("2026-10-06 10:00:00"), device="BUSY", voicemail=12),
        call_shapes.on_net_to_unregistered_voicemail(a.number, c.number, at("2026-10-06 11:00:00"), 9),
        call_shapes.from_pstn(
            b.number, did, "13125550000", at("2026-10-06 12:00:00"), device="NO ANSWER", voicemail=15
        ),
    )
    assert [
        (r["Number Called"], r["Disposition"], r["Duration"], r["Type"])
        for r in _history(client, a, "2026-10-06")
    ] == [
        (c.number, "Voicemail", "00:09", "N"),
        (b.number, "Voicemail", "00:12", "N"),
    ]
    assert [
        (r["Calling Number"], r["Disposition"], r["Duration"], r["Type"])
        for r in _history(client, b, "2026-10-06")
    ] == [
        ("13125550000", "Voicemail", "00:15", "IN"),
        (a.number, "Voicemail", "00:12", "IN"),
    ]


@pytest.mark.parametrize(
    "lang, cents, one_cent, zero",
    [
        ("en", "$0.04", "$0.01", "$0.00"),
        ("fr", "0,04\xa0$US", "0,01\xa0$US", "0,00\xa0$US"),
        ("es", "0,04\xa0US$", "0,01\xa0US$", "0,00\xa0US$"),
    ],
)
def test_costs_show_as_cents_in_the_page_and_exactly_in_the_csv(
    client, make_member, factory, lang, cents, one_cent, zero
):
    member = make_member(time_zone="UTC", language=lang)
    _add(
        factory,
        call_shapes.outbound(member.number, "442079460000", "I", at("2026-10-07 10:00:00"), billsec=62),
        call_shapes.outbound(member.number, "14155550100", "D", at("2026-10-07 11:00:00"), billsec=9),
        call_shapes.outbound(member.number, "14155550101", "D", at("2026-10-07 12:00:00"), billsec=30),
        charges={(0, 1): Decimal("0.0417"), (1, 1): Decimal("0.003"), (2, 1): Decimal("0.005")},
    )
    sign_in(client, member)
    html = page(client, "/call-history/?start=2026-10-07&end=2026-10-07")
    # the last cell of each row (its label is in the member's language)
    costs = [unescape(re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)[-1]).strip() for r in _rows(html)]
    assert costs == [one_cent, zero, cents]  # 0.005, 0.003, 0.0417: rounded half up
    response = client.get("/call-history/export.csv?start=2026-10-07&end=2026-10-07")
    table = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert [line[-1] for line in table[1:]] == ["0.0050", "0.0030", "0.0417"]
