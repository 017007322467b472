"""Bulk import of accounts, numbers and DIDs (issue 15, webpanel/admin/bulk.py) on the real
database: the dry run shows every row and every problem with its line and column and changes
nothing (row counts and the audit log are the same after it); apply is all or nothing, refuses
a changed file and a second submit; duplicates inside the file and against the database and
the size limits are clear errors; no member reaches any of it."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import time
from html import unescape

import pytest
from sqlalchemy import func, select

from db import accounts
from db.models import Account, AuditLog, Did, ForwardingRule, User, VirtualNumber
from db.session import transaction
from tests.support.realparts import unique_number
from webpanel.admin import bulk

from .conftest import csrf_token, errors_in, log_in, sign_in, sign_in_user

TABLES = (Account, User, VirtualNumber, Did, ForwardingRule, AuditLog)


@pytest.fixture()
def admin(factory):
    with transaction(factory) as s:
        return accounts.create_admin(s, f"admin-{time.time_ns()}", "Admin-pass-2026").id


@pytest.fixture()
def as_admin(client, admin):
    sign_in_user(client, admin)
    return client


def counts(factory) -> dict[str, int]:
    with factory() as s:
        return {m.__tablename__: s.scalar(select(func.count()).select_from(m)) for m in TABLES}


def dry_run(client, content: str, *, as_file: bool = True):
    token = csrf_token(client, "/admin/bulk-import/")
    data: dict = {"csrf_token": token}
    if as_file:
        data["file"] = (io.BytesIO(content.encode("utf-8")), "accounts.csv")
    else:
        data["pasted"] = content
    return client.post("/admin/bulk-import/dry-run", data=data, content_type="multipart/form-data")


def apply_fields(response) -> dict[str, str]:
    html = response.get_data(as_text=True)
    content = re.search(r'name="content" type="hidden" value="([^"]*)"', html)
    digest = re.search(r'name="digest" type="hidden" value="([^"]*)"', html)
    assert content and digest, "no Apply form on the dry run"
    return {"content": unescape(content.group(1)), "digest": digest.group(1)}


def apply(client, fields: dict[str, str]):
    token = csrf_token(client, "/admin/bulk-import/")
    return client.post("/admin/bulk-import/apply", data={"csrf_token": token, **fields})


def encoded(content: str, app=None, admin_id: int = 0) -> dict[str, str]:
    """Apply's fields for `content` without its dry run: sealed as the dry run would for
    `admin_id` when the app is given (bulk.seal), else a bare SHA-256 (which apply refuses)."""
    digest = hashlib.sha256(content.encode()).hexdigest()
    return {
        "content": base64.b64encode(content.encode()).decode(),
        "digest": bulk.seal(app.secret_key, admin_id, digest) if app is not None else digest,
    }


def problems(response) -> list[tuple[str, str, str]]:
    html = response.get_data(as_text=True)
    table = re.search(r'<table class="table" id="bulk-problems">(.*?)</table>', html, re.S)
    if not table:
        return []
    rows = re.findall(r"<tr class=\"row-error\">(.*?)</tr>", table.group(1), re.S)
    found = []
    for row in rows:
        cells = [
            unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        found.append((cells[0], cells[1], cells[2]))
    return found


def good_file() -> tuple[str, dict[str, str]]:
    n = {
        k: unique_number(p)
        for k, p in (
            ("a", "1700"),
            ("a2", "1700"),
            ("b", "1700"),
            ("d1", "1555"),
            ("d2", "1555"),
            ("d3", "1555"),
        )
    }
    content = (
        "account_ref,first_name,last_name,company,email,country,time_zone,language,login,password,numbers,dids\n"
        f"C-1,Ada,Lovelace,Engines Ltd,ada@example.com,GB,Europe/London,fr,{n['a']},Bulk-pass-2026,{n['a2']},"
        f"{n['d1']}={n['a2']};{n['d2']}=fax_to_email:fax@example.com\n"
        f"C-2,Alan,Turing,,alan@example.com,,,,{n['b']},generate,,{n['d3']}\n"
    )
    return content, n


def test_a_dry_run_shows_every_row_and_changes_nothing_then_apply_creates_everything(
    as_admin, admin, factory, app
):
    content, n = good_file()
    before = counts(factory)
    r = dry_run(as_admin, content)
    assert r.status_code == 200, errors_in(r)
    assert r.headers["Cache-Control"] == "no-store"
    html = r.get_data(as_text=True)
    assert "Apply would create 2 accounts, 3 virtual numbers and 3 DIDs." in html
    for number in n.values():
        assert number in html
    assert "would be created" in html and "generated at apply" in html and "Engines Ltd" in html
    assert counts(factory) == before  # nothing stored, not even an audit entry

    # the same file pasted gives the same dry run
    r2 = dry_run(as_admin, content, as_file=False)
    assert r2.status_code == 200 and apply_fields(r2)["digest"] == apply_fields(r)["digest"]
    assert counts(factory) == before

    fields = apply_fields(r)
    r = apply(as_admin, fields)
    assert r.status_code == 200, problems(r)
    assert r.headers["Cache-Control"] == "no-store"
    html = r.get_data(as_text=True)
    assert "2 accounts were created." in html
    generated = re.search(rf'data-login="{n["b"]}">([^<]+)</code>', html)
    assert generated, "the generated password is shown once"
    after = counts(factory)
    assert after["accounts"] == before["accounts"] + 2
    assert after["virtual_numbers"] == before["virtual_numbers"] + 3
    assert after["dids"] == before["dids"] + 3
    with factory() as s:
        a = s.scalar(select(Account).join(User).where(User.login == n["a"]))
        assert (a.first_name, a.company, a.country, a.time_zone, a.language) == (
            "Ada",
            "Engines Ltd",
            "GB",
            "Europe/London",
            "fr",
        )
        b = s.scalar(select(Account).join(User).where(User.login == n["b"]))
        assert (b.country, b.time_zone, b.language) == ("US", "America/New_York", "en")
        vn_a2 = s.scalar(select(VirtualNumber).where(VirtualNumber.number == n["a2"]))
        assert vn_a2.account_id == a.id
        d1 = s.scalar(select(Did).where(Did.number == n["d1"]))
        d2 = s.scalar(select(Did).where(Did.number == n["d2"]))
        d3 = s.scalar(select(Did).where(Did.number == n["d3"]))
        assert (d1.account_id, d1.connection, d1.virtual_number_id) == (a.id, "virtual_number", vn_a2.id)
        assert (d2.connection, d2.fax_email) == ("fax_to_email", "fax@example.com")
        assert (d3.account_id, d3.connection) == (b.id, "none")
        summary = s.scalars(
            select(AuditLog).where(AuditLog.action == "admin.bulk_import", AuditLog.actor_user_id == admin)
        ).all()
        assert len(summary) == 1
        assert summary[0].details["sha256"] == hashlib.sha256(content.encode()).hexdigest()
        assert summary[0].details["account_ids"] == [a.id, b.id]
        created = s.scalars(
            select(AuditLog.action).where(
                AuditLog.actor_user_id == admin, AuditLog.account_id.in_([a.id, b.id])
            )
        ).all()
        assert sorted(set(created)) == [
            "account.create",
            "admin.account_create",
            "admin.did_connect",
            "admin.did_create",
            "admin.number_add",
            "virtual_number.add",  # the number's own row names the operator too (issue 16)
        ]
    # the primary holders log in: with the given password and with the generated one
    assert log_in(app.test_client(), n["a"], "Bulk-pass-2026").status_code == 302
    assert log_in(app.test_client(), n["b"], unescape(generated.group(1))).status_code == 302

    # a double submit: refused, nothing written again
    again = counts(factory)
    r = apply(as_admin, fields)
    assert r.status_code == 400
    assert any("already imported" in p[2] for p in problems(r))
    assert counts(factory) == again
    assert generated.group(1) not in r.get_data(as_text=True)


def test_apply_is_all_or_nothing_when_the_last_row_fails(as_admin, admin, factory, app):
    content, n = good_file()
    r = dry_run(as_admin, content)
    assert r.status_code == 200
    fields = apply_fields(r)
    # between the dry run and the apply, the last row's login is taken elsewhere
    with transaction(factory) as s:
        accounts.create_account(s, login_number=n["b"], password="Other-pass-2026", realm="test")
    before = counts(factory)
    r = apply(as_admin, fields)
    assert r.status_code == 400
    found = problems(r)
    assert [(line, column) for line, column, _m in found] == [("3", "login")]
    assert n["b"] in found[0][2]
    assert "Nothing was stored" in r.get_data(as_text=True)
    assert counts(factory) == before  # the first row's account, numbers and DIDs are not there
    with factory() as s:
        assert s.scalar(select(VirtualNumber.id).where(VirtualNumber.number == n["a"])) is None
        assert s.scalar(select(Did.id).where(Did.number == n["d1"])) is None

    # a file with an error in its last row posted straight to apply: the same, nothing written
    fresh, m = good_file()
    bad = fresh.replace(m["d3"], "12")
    r = apply(as_admin, encoded(bad, app, admin))
    assert r.status_code == 400
    assert ("3", "dids", "A DID is 4 to 15 digits.") in problems(r)
    assert counts(factory) == before


def test_apply_refuses_a_content_that_is_not_the_dry_run_s(as_admin, factory):
    content, _n = good_file()
    fields = apply_fields(dry_run(as_admin, content))
    before = counts(factory)
    tampered = dict(
        fields, content=base64.b64encode((content + "C-3,,,,,,,,17009999999,x,,\n").encode()).decode()
    )
    r = apply(as_admin, tampered)
    assert r.status_code == 400
    assert "The file changed since its dry run; run the dry run again." in errors_in(r)
    r = apply(as_admin, {"content": "not base64!", "digest": "0" * 64})
    assert r.status_code == 400 and "Run the dry run first, then apply its result." in errors_in(r)
    assert counts(factory) == before


def test_duplicates_in_the_file_and_in_the_database_are_errors_with_line_and_column(
    as_admin, factory, make_member
):
    member = make_member()
    existing_did = unique_number("1555")
    with transaction(factory) as s:
        s.add(Did(number=existing_did, account_id=member.account_id, connection="none"))
    x, y, z = unique_number("1700"), unique_number("1700"), unique_number("1555")
    content = (
        "account_ref,login,password,numbers,dids,country,email\n"
        f"R1,{x},Bulk-pass-2026,{y},{z},US,\n"
        f"R1,{y},Bulk-pass-2026,,{z},US,\n"  # ref, login (= a number above) and DID repeated
        f"R3,{member.number},Bulk-pass-2026,,,US,\n"  # a login that exists
        f"R4,{unique_number('1700')},Bulk-pass-2026,,{existing_did},US,\n"  # a DID that exists
        f"R5,{unique_number('1700')},short,,,ZZ,not-an-email\n"  # password, country
        f"R6,{unique_number('1700')},Bulk-pass-2026,,,US,not-an-email\n"  # email
        f"R7,{unique_number('1700')},Bulk-pass-2026,,{unique_number('1555')}={member.number},US,\n"
    )
    before = counts(factory)
    r = dry_run(as_admin, content)
    assert r.status_code == 400
    found = problems(r)
    cells = {(line, column) for line, column, _m in found}
    assert {("3", "account_ref"), ("3", "login"), ("3", "dids")} <= cells, found
    assert ("6", "country") in cells and ("8", "dids") in cells, found
    text = " ".join(m for _l, _c, m in found)
    assert f"{y} appears twice in the file (first on line 2, column numbers)." in text
    # the shape problems stop the run before the database is read; fix them and run again
    assert counts(factory) == before

    content = (
        "login,password,dids,email\n"
        f"{member.number},Bulk-pass-2026,,\n"
        f"{unique_number('1700')},Bulk-pass-2026,{existing_did},\n"
        f"{unique_number('1700')},short,,\n"
        f"{unique_number('1700')},Bulk-pass-2026,,not-an-email\n"
    )
    r = dry_run(as_admin, content)
    assert r.status_code == 400
    found = problems(r)
    assert [(line, column) for line, column, _m in found] == [
        ("2", "login"),
        ("3", "dids"),
        ("4", "password"),
        ("5", "email"),
    ], found
    assert f"{member.number} is already a login." in found[0][2]
    assert f"DID {existing_did} already exists." in found[1][2]
    assert "Apply" not in re.findall(r"<button[^>]*>([^<]*)</button>", r.get_data(as_text=True))
    assert counts(factory) == before


def test_the_size_limits_and_the_file_s_shape_have_clear_messages(as_admin, factory):
    before = counts(factory)
    many = "login\n" + "".join(f"1700{i:07d}\n" for i in range(bulk.MAX_ROWS + 1))
    r = dry_run(as_admin, many)
    assert r.status_code == 400
    assert any(f"The file has more than {bulk.MAX_ROWS_TEXT} rows" in m for _l, _c, m in problems(r))

    big = "login,first_name\n" + ("17000000000," + "x" * 70 + "\n") * (bulk.MAX_BYTES // 80 + 10)
    r = dry_run(as_admin, big)
    assert r.status_code == 400 and "The file is larger than 2 MB; split it into smaller files." in errors_in(
        r
    )

    token = csrf_token(as_admin, "/admin/bulk-import/")
    r = as_admin.post(
        "/admin/bulk-import/dry-run",
        data={"csrf_token": token, "file": (io.BytesIO("login\n1700\xe9".encode("latin-1")), "a.csv")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 400 and "The file is not UTF-8 text (save the CSV as UTF-8)." in errors_in(r)

    r = dry_run(as_admin, "first_name,phone\nAda,1\n")
    found = problems(r)
    assert r.status_code == 400
    assert any("Unknown columns: phone" in m for _l, _c, m in found)
    r = dry_run(as_admin, "first_name\nAda\n")
    assert ("1", "login", "The header has no login column.") in problems(r)
    r = dry_run(as_admin, "login\n")
    assert any("header but no rows" in m for _l, _c, m in problems(r))
    r = dry_run(as_admin, "   ", as_file=False)
    assert r.status_code == 400 and "Choose a CSV file or paste its lines." in errors_in(r)
    assert counts(factory) == before


def test_no_member_reaches_the_bulk_import(client, make_member, factory):
    member = make_member()
    sign_in(client, member)
    token = csrf_token(client, "/")
    before = counts(factory)
    assert client.get("/admin/bulk-import/").status_code == 403
    content, _n = good_file()
    r = client.post(
        "/admin/bulk-import/dry-run",
        data={"csrf_token": token, "pasted": content},
    )
    assert r.status_code == 403
    assert (
        client.post("/admin/bulk-import/apply", data={"csrf_token": token, **encoded(content)}).status_code
        == 403
    )
    assert counts(factory) == before
    assert "/admin/bulk-import/" not in client.get("/").get_data(as_text=True)


def test_a_time_zone_without_a_canonical_name_is_refused_an_alias_is_not(as_admin, factory):
    """Reviewer R-FORMS (issue 16: only canonical zones): Etc/GMT+5 (a zoneinfo name with no
    canonical zone) would be stored as it is and show on the Account page as no choice of the
    picker; it is refused with its line and column. US/Central (an alias) is fine."""
    a, b = unique_number("1700"), unique_number("1700")
    content = (
        "account_ref,first_name,last_name,company,email,country,time_zone,language,login,password,numbers,dids\n"
        f"C-1,Ada,Lovelace,,ada@example.com,US,Etc/GMT+5,en,{a},Bulk-pass-2026,,\n"
        f"C-2,Alan,Turing,,alan@example.com,US,US/Central,en,{b},Bulk-pass-2026,,\n"
    )
    r = dry_run(as_admin, content)
    found = problems(r)
    assert [(line, column) for line, column, _m in found] == [("2", "time_zone")], found
