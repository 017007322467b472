"""Invoices in the panel (issue 15): the primary account holder lists the account's invoices and
downloads each PDF; another account's invoice is a 404; a secondary user is told only the holder
sees them and gets 403 on a PDF; the operator lists every account's invoices, downloads them,
issues a month (idempotent, audited; a month not over is refused with a message) and emails one
again. Members get 403 on every admin invoice route."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import re
import time
from html import unescape

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from controller.services import invoicing
from db import accounts, invoices
from db.models import AuditLog, Invoice
from db.session import transaction
from tests.support.smtp import smtp_server  # noqa: F401

from .conftest import csrf_token, errors_in, flashes, sign_in, sign_in_user

JAN = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)  # the members' credit was bought before last month


def last_month() -> tuple[int, int]:
    return invoices.previous_month(dt.datetime.now(dt.UTC).date())


def issue(factory, settings, account_id: int) -> Invoice:
    with transaction(factory) as s:
        return invoicing.issue(s, settings, account_id, *last_month())


@pytest.fixture()
def admin(factory):
    with transaction(factory) as s:
        return accounts.create_admin(s, f"admin-{time.time_ns()}", "Admin-pass-2026").id


def test_the_holder_lists_and_downloads_the_accounts_invoices(client, factory, database, make_member):
    member = make_member(credit=["7.25"], credit_since=JAN, email="holder@example.com")
    inv = issue(factory, database, member.account_id)
    sign_in(client, member)
    html = client.get("/invoices/").get_data(as_text=True)
    assert inv.number in html and "$7.25" in html
    assert 'href="/invoices/"' in client.get("/").get_data(as_text=True)  # in the navigation
    response = client.get(f"/invoices/{inv.id}/pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert f'filename="{inv.number}.pdf"' in response.headers["Content-Disposition"]
    assert response.data == inv.pdf
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(response.data)).pages)
    assert inv.number in text and "$7.25" in text


def test_another_accounts_invoice_is_a_404(client, factory, database, make_member):
    owner, other = make_member(), make_member()
    inv = issue(factory, database, owner.account_id)
    sign_in(client, other)
    assert client.get(f"/invoices/{inv.id}/pdf").status_code == 404
    assert client.get("/invoices/999999999/pdf").status_code == 404
    assert inv.number not in client.get("/invoices/").get_data(as_text=True)


def test_a_secondary_user_does_not_see_the_accounts_invoices(
    client, factory, database, make_member, make_secondary
):
    member = make_member()
    second = make_secondary(member)
    inv = issue(factory, database, member.account_id)
    sign_in(client, second)
    response = client.get("/invoices/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert inv.number not in html and "Only the primary account holder" in html
    assert 'href="/invoices/"' not in client.get("/").get_data(as_text=True)
    assert client.get(f"/invoices/{inv.id}/pdf").status_code == 403


def test_the_operator_lists_downloads_and_issues_invoices(client, factory, database, make_member, admin):
    member = make_member(credit=["3.00"], credit_since=JAN, first_name="Grace", last_name="Hopper")
    year, month = last_month()
    sign_in_user(client, admin)
    assert "No invoice" in client.get(f"/admin/invoices/?account_id={member.account_id}").get_data(
        as_text=True
    )
    token = csrf_token(client, "/admin/invoices/")
    data = {"csrf_token": token, "month": f"{year:04d}-{month:02d}", "account_id": str(member.account_id)}
    response = client.post("/admin/invoices/issue", data=data, follow_redirects=True)
    assert response.status_code == 200
    with factory() as s:
        inv = invoices.find(s, member.account_id, year, month)
        assert inv is not None and inv.closing_balance == 3
        entry = s.scalar(
            select(AuditLog).where(AuditLog.action == "invoice.issue", AuditLog.object_id == str(inv.id))
        )
        assert entry.actor_user_id == admin
    assert any(inv.number in f for f in flashes(response))
    html = client.get(f"/admin/invoices/?account_id={member.account_id}").get_data(as_text=True)
    assert inv.number in html and "Grace Hopper" in html
    assert client.get(f"/admin/invoices/{inv.id}/pdf").data == inv.pdf
    # issuing again: the same invoice
    client.post("/admin/invoices/issue", data=data)
    with factory() as s:
        assert [i.id for i in invoices.list_invoices(s, member.account_id)] == [inv.id]
    # this month is not over: refused, with the reason, nothing issued
    today = dt.datetime.now(dt.UTC).date()
    refused = client.post(
        "/admin/invoices/issue", data={**data, "month": f"{today.year:04d}-{today.month:02d}"}
    )
    assert refused.status_code == 400 and any("has not ended" in e for e in errors_in(refused))
    for bad in ("2026-13", "next month", ""):
        response = client.post("/admin/invoices/issue", data={**data, "month": bad})
        assert response.status_code == 400 and errors_in(response), bad
    missing = client.post("/admin/invoices/issue", data={**data, "account_id": "2000000000"})
    assert missing.status_code == 400
    with factory() as s:
        assert invoices.count_invoices(s, member.account_id) == 1
    assert client.get("/admin/invoices/999999999/pdf").status_code == 404


def test_the_operator_emails_an_invoice_again(client, factory, database, make_member, admin, smtp_server):
    member = make_member(email="again@example.com")
    inv = issue(factory, database, member.account_id)
    sign_in_user(client, admin)
    token = csrf_token(client, "/admin/invoices/")
    response = client.post(
        f"/admin/invoices/{inv.id}/email", data={"csrf_token": token}, follow_redirects=True
    )
    assert response.status_code == 200
    assert any("was emailed" in unescape(f) for f in flashes(response))
    assert len(smtp_server.messages) == 1
    [(name, content, _)] = smtp_server.messages[0].attachments()
    assert name == f"{inv.number}.pdf" and content == inv.pdf
    with factory() as s:
        assert s.get(Invoice, inv.id).emailed_at is not None
        assert s.scalar(
            select(AuditLog).where(
                AuditLog.action == "invoice.email_again", AuditLog.object_id == str(inv.id)
            )
        )
    assert client.post(f"/admin/invoices/{inv.id}/email", data={}).status_code == 400  # no CSRF token


def test_members_get_403_on_the_admin_invoice_routes(client, factory, database, make_member):
    member = make_member()
    inv = issue(factory, database, member.account_id)
    sign_in(client, member)
    token = csrf_token(client, "/")
    assert client.get("/admin/invoices/").status_code == 403
    assert client.get(f"/admin/invoices/{inv.id}/pdf").status_code == 403
    assert (
        client.post("/admin/invoices/issue", data={"csrf_token": token, "month": "2026-01"}).status_code
        == 403
    )
    assert client.post(f"/admin/invoices/{inv.id}/email", data={"csrf_token": token}).status_code == 403


def test_the_cli_issues_a_month(factory, database, make_member, monkeypatch):
    from click.testing import CliRunner

    from controller import cli

    member = make_member()
    year, month = last_month()
    for field in dataclasses.fields(database):
        if field.name.startswith("db_"):
            monkeypatch.setenv(f"VOIP_{field.name.upper()}", str(getattr(database, field.name)))
    runner = CliRunner()
    result = runner.invoke(
        cli.main,
        ["invoices", "issue", "--month", f"{year:04d}-{month:02d}", "--account", str(member.account_id)],
    )
    assert result.exit_code == 0, result.output
    number = re.search(r"issued (INV-\d{6}-\d{6})", result.output).group(1)
    with factory() as s:
        assert invoices.find(s, member.account_id, year, month).number == number
    again = runner.invoke(
        cli.main,
        ["invoices", "issue", "--month", f"{year:04d}-{month:02d}", "--account", str(member.account_id)],
    )
    assert again.exit_code == 0 and number in again.output
    bad = runner.invoke(cli.main, ["invoices", "issue", "--month", "2026-13"])
    assert bad.exit_code == 2 and "Not a month" in bad.output  # a usage error, not a traceback
