"""The operator admin's Reports page (issue 15): the figures of rated calls from the rollup
(migration 0023's triggers fill it as charges are written), by day, country and account, ASR and
ACD, charts as inline SVG with a title and a description, each table as CSV; the date range and
filters checked (a clear message, a 400, no report); members get 403."""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
import re
import time
from decimal import Decimal
from html import unescape

import pytest

from db import accounts
from db.session import transaction
from webpanel.admin import reports_views

from .cdrs import add_cdrs, cdr_values
from .conftest import errors_in, page, sign_in, sign_in_user

URL = "/admin/reports/"
D = Decimal


@pytest.fixture()
def admin(factory):
    with transaction(factory) as s:
        return accounts.create_admin(s, f"admin-{time.time_ns()}", "Admin-pass-2026").id


@pytest.fixture()
def as_admin(client, admin):
    sign_in_user(client, admin)
    reports_views.CACHE.clear()
    return client


@pytest.fixture()
def day():
    """A UTC day of its own for the test (no other test rates calls then)."""
    return dt.date(2003, 1, 1) + dt.timedelta(days=random.randrange(3000))


def _calls(factory, member, day: dt.date) -> list[int]:
    t0 = dt.datetime.combine(day, dt.time(10), tzinfo=dt.UTC)
    rows = [
        cdr_values(vnum=member.number, start=t0, dialed="442071234567", call_class="I", billsec=125),
        cdr_values(
            vnum=member.number,
            start=t0 + dt.timedelta(hours=1),
            dialed="13125550100",
            call_class="D",
            billsec=61,
        ),
        cdr_values(
            vnum=member.number,
            start=t0 + dt.timedelta(hours=2),
            dialed="13125550101",
            call_class="D",
            billsec=0,
            disposition="NO ANSWER",
        ),
        cdr_values(
            vnum=member.number,
            start=t0 + dt.timedelta(days=1),
            dialed="13125550102",
            call_class="D",
            billsec=30,
        ),
    ]
    charges = {
        0: {
            "account_id": member.account_id,
            "call_type": "I",
            "country": "GB",
            "billable_seconds": 125,
            "cost": D("0.3000"),
            "buy_cost": D("0.1000"),
            "margin": D("0.2000"),
        },
        1: {
            "account_id": member.account_id,
            "call_type": "D",
            "country": "US",
            "billable_seconds": 61,
            "cost": D("0.0200"),
        },
        2: {"account_id": member.account_id, "call_type": "D", "country": "", "billable_seconds": 0},
        3: {
            "account_id": member.account_id,
            "call_type": "D",
            "country": "US",
            "billable_seconds": 30,
            "cost": D("0.0100"),
        },
    }
    return add_cdrs(factory, rows, charges)


def _text(html: str, element_id: str) -> str:
    m = re.search(rf'id="{element_id}">([^<]*)<', html)
    assert m, element_id
    return unescape(m.group(1)).replace("\xa0", " ")


def test_report_page_shows_the_rated_calls(as_admin, factory, make_member, day):
    member = make_member()
    _calls(factory, member, day)
    args = (
        f"?start={day.isoformat()}&end={(day + dt.timedelta(days=1)).isoformat()}&account={member.account_id}"
    )
    html = page(as_admin, URL + args)
    assert _text(html, "total-calls") == "4"
    assert _text(html, "total-minutes") == "3.6"  # 216 s
    assert _text(html, "total-asr") == "75 %"
    assert _text(html, "total-acd") == "01:12"  # 216 s / 3
    assert _text(html, "total-revenue") == "$0.33"
    assert _text(html, "total-cost") == "$0.10"
    assert _text(html, "total-margin") == "$0.20"
    # charts: inline SVG, labelled, a bar per day; the top destinations named
    for chart in ("chart-minutes", "chart-revenue", "chart-top"):
        assert f'id="{chart}"' in html and f'id="{chart}-title"' in html and f'id="{chart}-desc"' in html
    svg = html[html.index('id="chart-minutes"') :]
    svg = svg[: svg.index("</svg>")]
    assert svg.count("<rect") == 2
    assert "United Kingdom" in html and "United States" in html
    assert html.count('class="day-row"') == 2
    assert html.count('class="account-row"') == 1
    assert "style=" not in html.split('id="totals-title"')[1]  # the CSP: no inline style
    # the CSVs
    for table, n in (("day", 2), ("country", 3), ("account", 1)):
        response = as_admin.get(f"{URL}{table}.csv{args}")
        assert response.status_code == 200 and response.mimetype == "text/csv"
        rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
        assert len(rows) == 1 + n, (table, rows)
    rows = list(csv.reader(io.StringIO(as_admin.get(f"{URL}account.csv{args}").get_data(as_text=True))))
    assert rows[1][0] == str(member.account_id)
    assert rows[1][1:] == ["4", "3", "75.0", "72", "3.6", "0.3300", "0.1000", "0.2000"]


def test_report_defaults_to_the_last_30_days(as_admin):
    html = page(as_admin, URL)
    assert html.count('class="day-row"') == 30
    assert 'id="chart-minutes"' in html


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ("start=2026-13-01", "Enter the Start date as year-month-day"),
        ("start=2026-03-02&end=2026-03-01", "The End date is before the Start date."),
        ("start=2024-01-01&end=2025-12-31", "Choose a range of at most 366 days."),
        ("account=12x", "Enter an account number"),
        ("account=%C2%B2", "Enter an account number"),  # a superscript two: a digit to str.isdigit
        ("account=1234567890", "Enter an account number"),
        ("carrier=999999999", "Choose a carrier from the list."),
    ],
)
def test_a_bad_range_or_filter_is_refused_with_its_reason(as_admin, args, message):
    response = as_admin.get(f"{URL}?{args}")
    assert response.status_code == 400
    assert any(message in e for e in errors_in(response)), errors_in(response)
    assert 'id="total-calls"' not in response.get_data(as_text=True)
    assert as_admin.get(f"{URL}day.csv?{args}").status_code == 400


def test_an_unknown_table_is_not_found(as_admin):
    assert as_admin.get(URL + "calls.csv").status_code == 404


def test_members_are_refused(client, make_member):
    sign_in(client, make_member())
    assert client.get(URL).status_code == 403
    assert client.get(URL + "day.csv").status_code == 403


def test_the_report_is_kept_a_minute(as_admin, factory, make_member, day):
    member = make_member()
    args = f"?start={day.isoformat()}&end={day.isoformat()}&account={member.account_id}"
    assert _text(page(as_admin, URL + args), "total-calls") == "0"
    _calls(factory, member, day)
    assert _text(page(as_admin, URL + args), "total-calls") == "0"  # kept
    reports_views.CACHE.clear()
    assert _text(page(as_admin, URL + args), "total-calls") == "3"


def test_an_old_report_is_served_while_it_is_computed_again(as_admin, factory, make_member, day, monkeypatch):
    member = make_member()
    args = f"?start={day.isoformat()}&end={day.isoformat()}&account={member.account_id}"
    monkeypatch.setattr(reports_views.CACHE, "ttl", 0.0)
    assert _text(page(as_admin, URL + args), "total-calls") == "0"  # computed in the request
    _calls(factory, member, day)
    assert _text(page(as_admin, URL + args), "total-calls") == "0"  # served, computed again meanwhile
    deadline = time.monotonic() + 10
    while reports_views.CACHE.refreshing() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _text(page(as_admin, URL + args), "total-calls") == "3"
    monkeypatch.setattr(reports_views.CACHE, "stale", 0.0)  # too old to serve: computed in the request
    assert _text(page(as_admin, URL + args), "total-calls") == "3"
