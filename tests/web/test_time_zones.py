"""The account's time zone everywhere a member sees a time, at the zone boundary (issue 6):
a day is the member's day, not UTC's. Call History (list, date filter, CSV, per-day chart),
Missed Calls (list, filter, CSV), Faxes (list, PDF name), Plan Information (renew date, credit
lots). Conferences and Voicemail have their own tests.

West of UTC: 23:30 on January 15th in Los Angeles (PST, UTC-8) is 07:30 UTC on the 16th.
East of UTC: 00:30 on January 16th in Tokyo (UTC+9) is 15:30 UTC on the 15th.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import uuid
from decimal import Decimal

import pytest

from db.models import CallingPlan, CreditLot, Fax, PlanSubscription
from db.session import transaction

from .cdrs import add_cdrs, at, cdr_values
from .conftest import page, sign_in
from .test_call_history import _cell, _records, _rows

LA_2330 = at("2026-01-16 07:30:00")  # 2026-01-15 23:30 in Los Angeles
LA_0030 = at("2026-01-16 08:30:00")  # 2026-01-16 00:30 in Los Angeles
TOKYO_0030 = at("2026-01-15 15:30:00")  # 2026-01-16 00:30 in Tokyo


def _placed(number: str, start: dt.datetime, billsec: int = 60) -> dict:
    return cdr_values(
        vnum=number,
        start=start,
        src=number,
        dst="14155550100",
        dialed="14155550100",
        call_class="D",
        billsec=billsec,
    )


def _missed(number: str, start: dt.datetime) -> dict:
    return cdr_values(vnum=number, start=start, src="13125550100", dst=number, disposition="NO ANSWER")


def _csv(client, url: str) -> list[list[str]]:
    response = client.get(url)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def _bars(html: str) -> dict[str, tuple[float, int]]:
    """The chart's bars (their <title>s, "2026-01-15: 1.5 min, 1 call"): day -> (minutes, calls)."""
    return {
        day: (float(minutes), int(calls))
        for day, minutes, calls in re.findall(
            r"<title>(\d{4}-\d{2}-\d{2}): ([\d.]+) min, (\d+) calls?</title>", html
        )
    }


# --- Call History ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "zone, utc, local_day, local_time, utc_day",
    [
        ("America/Los_Angeles", LA_2330, "2026-01-15", "2026-01-15 23:30:00", "2026-01-16"),
        ("Asia/Tokyo", TOKYO_0030, "2026-01-16", "2026-01-16 00:30:00", "2026-01-15"),
    ],
)
def test_call_history_list_filter_csv_and_chart_use_the_local_day(
    client, make_member, factory, zone, utc, local_day, local_time, utc_day
):
    member = make_member(time_zone=zone)
    add_cdrs(factory, [_placed(member.number, utc, billsec=90)])
    sign_in(client, member)

    html = page(client, f"/call-history/?start={local_day}&end={local_day}")
    [row] = _rows(html)
    assert _cell(row, "Date") == local_time
    assert _records(html) == "1–1 of 1"
    assert _bars(html) == {local_day: (1.5, 1)}
    [header, line] = _csv(client, f"/call-history/export.csv?start={local_day}&end={local_day}")
    assert header[0] == f"Date ({zone})" and line[0] == local_time

    # the UTC day of the call is another local day: nothing there
    html = page(client, f"/call-history/?start={utc_day}&end={utc_day}")
    assert _rows(html) == [] and _records(html) == "0–0 of 0"
    assert _csv(client, f"/call-history/export.csv?start={utc_day}&end={utc_day}")[1:] == []


def test_call_history_chart_counts_each_local_day_apart(client, make_member, factory):
    """Two calls one hour apart, on the same UTC day but on two Los Angeles days: one bar each
    (grouped by UTC day they would make one bar of two calls)."""
    member = make_member(time_zone="America/Los_Angeles")
    add_cdrs(
        factory, [_placed(member.number, LA_2330, billsec=60), _placed(member.number, LA_0030, billsec=120)]
    )
    sign_in(client, member)
    html = page(client, "/call-history/?start=2026-01-14&end=2026-01-17")
    assert _bars(html) == {"2026-01-15": (1.0, 1), "2026-01-16": (2.0, 1)}
    newest, older = _rows(html)
    assert (_cell(newest, "Date"), _cell(older, "Date")) == ("2026-01-16 00:30:00", "2026-01-15 23:30:00")
    rows = _csv(client, "/call-history/export.csv?start=2026-01-16&end=2026-01-16")[1:]
    assert [r[0] for r in rows] == ["2026-01-16 00:30:00"]


def test_a_23_hour_day_of_a_dst_change_keeps_its_first_and_last_calls(client, make_member, factory):
    """New York springs forward on 2026-03-08: that local day runs 05:00 UTC to 04:00 UTC next day."""
    member = make_member(time_zone="America/New_York")
    add_cdrs(
        factory,
        [
            _placed(member.number, at("2026-03-08 05:30:00")),  # 00:30 EST
            _placed(member.number, at("2026-03-09 03:30:00")),  # 23:30 EDT
            _placed(member.number, at("2026-03-09 04:30:00")),
        ],
    )  # 00:30 EDT on the 9th
    sign_in(client, member)
    html = page(client, "/call-history/?start=2026-03-08&end=2026-03-08")
    assert [_cell(r, "Date") for r in _rows(html)] == ["2026-03-08 23:30:00", "2026-03-08 00:30:00"]
    assert _bars(html) == {"2026-03-08": (2.0, 2)}


# --- Missed Calls ----------------------------------------------------------------------------


def test_missed_calls_list_filter_and_csv_use_the_local_day(client, make_member, factory):
    member = make_member(time_zone="America/Los_Angeles")
    add_cdrs(factory, [_missed(member.number, LA_2330)])
    sign_in(client, member)
    html = page(client, "/missed-calls/?start=2026-01-15&end=2026-01-15")
    [row] = _rows(html)
    assert _cell(row, "Date") == "2026-01-15 23:30:00"
    [header, line] = _csv(client, "/missed-calls/export.csv?start=2026-01-15&end=2026-01-15")
    assert header[0] == "Date (America/Los_Angeles)" and line[0] == "2026-01-15 23:30:00"
    html = page(client, "/missed-calls/?start=2026-01-16&end=2026-01-16")
    assert _rows(html) == []
    assert _csv(client, "/missed-calls/export.csv?start=2026-01-16&end=2026-01-16")[1:] == []


# --- Faxes -----------------------------------------------------------------------------------


def test_faxes_show_the_local_date_and_name_the_pdf_with_it(client, make_member, factory):
    member = make_member(time_zone="America/Los_Angeles")
    with transaction(factory) as s:
        fax = Fax(
            account_id=member.account_id,
            status="received",
            pages=1,
            bytes=9,
            pdf=b"%PDF-1.4\n",
            received_at=LA_2330,
        )
        s.add(fax)
        s.flush()
        fax_id = fax.id
    sign_in(client, member)
    html = page(client, "/faxes/")
    assert "2026-01-15 23:30:00" in html and "2026-01-16 07:30" not in html
    response = client.get(f"/faxes/{fax_id}/pdf")
    assert f'filename="fax-20260115-233000-PST-{fax_id}.pdf"' in response.headers["Content-Disposition"]


# --- Plan Information ------------------------------------------------------------------------


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Pacific/Pago_Pago"])  # UTC+14, UTC-11
def test_plan_renew_date_is_a_calendar_day_and_credit_times_are_local(client, make_member, factory, zone):
    """A renew date is a date, not an instant: every zone shows the same day. The credit lot's
    purchase time is an instant: shown in the member's zone."""
    member = make_member(time_zone=zone)
    bought = at("2030-06-30 12:00:00")
    with transaction(factory) as s:
        plan = CallingPlan(name=f"Plan {uuid.uuid4().hex[:6]}", regional_minutes=10, us_canada_minutes=10)
        s.add(plan)
        s.flush()
        s.add(
            PlanSubscription(
                account_id=member.account_id,
                plan_id=plan.id,
                renew_date=dt.date(2031, 7, 1),
                enabled_virtual_number_id=member.virtual_number_id,
            )
        )
        s.add(
            CreditLot(
                account_id=member.account_id,
                original=Decimal("5"),
                remaining=Decimal("5"),
                source="payment",
                purchased_at=bought,
            )
        )
    sign_in(client, member)
    html = page(client, "/plans/")
    assert '<time datetime="2031-07-01">2031-07-01</time>' in html
    local = {"Pacific/Kiritimati": "2030-07-01 02:00:00", "Pacific/Pago_Pago": "2030-06-30 01:00:00"}[zone]
    assert local in html


# --- issue 16: times labelled with their zone -------------------------------------------------


def test_file_stamps_name_the_zone_by_abbreviation_or_offset():
    from zoneinfo import ZoneInfo

    from controller.rules.clock import file_stamp

    assert file_stamp(LA_2330, ZoneInfo("America/Los_Angeles")) == "20260115-233000-PST"
    assert file_stamp(LA_2330, ZoneInfo("Asia/Riyadh")) == "20260116-103000-UTC+0300"  # tzdata says "+03"
    assert file_stamp(LA_2330.replace(tzinfo=None), dt.UTC) == "20260116-073000-UTC"


def test_member_pages_name_the_accounts_zone_next_to_their_times(client, make_member, factory):
    member = make_member(time_zone="America/Los_Angeles")
    with transaction(factory) as s:
        s.add(
            Fax(
                account_id=member.account_id,
                status="received",
                pages=1,
                bytes=9,
                pdf=b"%PDF-1.4\n",
                received_at=LA_2330,
            )
        )
    sign_in(client, member)
    # (Call History and Missed Calls: their own tests check the Date column's header)
    html = page(client, "/faxes/")
    assert '<th scope="col">Date <span class="zone-note">(America/Los_Angeles)</span></th>' in html
