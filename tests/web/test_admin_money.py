"""Money by hand in the operator admin (issue 15): the account page's form credits, debits and
refunds with a required reason (webpanel/admin/money_views.py over db.ledger.adjust); bad input
gets a clear message next to its field and changes nothing; a debit over the available balance
is refused; each change is audited with the operator and the reason; the member sees it with
the reason on Plans & Credit; a member cannot post it."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from sqlalchemy import select, text

from db import accounts, ledger
from db.models import AccountAdjustment, AuditLog
from db.session import transaction

from .conftest import csrf_token, errors_in, flashes, page, sign_in, sign_in_user

D = Decimal


@pytest.fixture()
def admin(factory):
    with transaction(factory) as s:
        return accounts.create_admin(s, f"admin-{time.time_ns()}", "Admin-pass-2026").id


@pytest.fixture()
def as_admin(client, admin):
    sign_in_user(client, admin)
    return client


@pytest.fixture()
def m(factory, make_member):
    return make_member(credit=["2.00"])


def url(member):
    return f"/admin/accounts/{member.account_id}/money"


def post(client, member, **data):
    token = csrf_token(client, f"/admin/accounts/{member.account_id}")
    return client.post(url(member), data={"csrf_token": token, "charge": "", **data})


def adjustments(factory, account_id):
    with factory() as s:
        return list(s.scalars(select(AccountAdjustment).where(AccountAdjustment.account_id == account_id)))


def balance(factory, account_id):
    with factory() as s:
        return ledger.balance(s, account_id)


def test_account_page_shows_balance_ledger_and_the_form(as_admin, m):
    html = page(as_admin, f"/admin/accounts/{m.account_id}")
    assert 'id="money-form"' in html and 'name="reason"' in html
    assert 'id="money-balance">$2.00<' in html
    assert "ledger-table" in html  # the member's first lot is an entry


def test_credit_then_debit_audited_and_shown_to_the_member(factory, client, as_admin, admin, m):
    r = post(as_admin, m, kind="credit", amount="5.25", reason="Goodwill: outage on 3 Dec")
    assert r.status_code == 302, errors_in(r)
    followed = as_admin.get(r.headers["Location"])
    assert any("balance is now $7.25" in f for f in flashes(followed))
    r = post(as_admin, m, kind="debit", amount="1.5", reason="Porting fee")
    assert r.status_code == 302, errors_in(r)
    assert balance(factory, m.account_id) == D("5.75")
    html = page(as_admin, f"/admin/accounts/{m.account_id}")
    assert 'id="money-balance">$5.75<' in html and '<td data-label="Details">Porting fee</td>' in html
    with factory() as s:
        rows = list(
            s.scalars(
                select(AuditLog)
                .where(AuditLog.action == "admin.credit_adjust", AuditLog.account_id == m.account_id)
                .order_by(AuditLog.id)
            )
        )
        assert [
            (a.actor_user_id, a.details["kind"], a.details["amount"], a.details["reason"]) for a in rows
        ] == [
            (admin, "credit", "5.2500", "Goodwill: outage on 3 Dec"),
            (admin, "debit", "1.5000", "Porting fee"),
        ]
        assert ledger.ledger_sum(s, m.account_id) == D("5.75")
    # the member sees both, with the reasons
    sign_in(client, m)
    mine = page(client, "/plans/")
    assert "Goodwill: outage on 3 Dec" in mine and "Porting fee" in mine
    assert "+$5.25" in mine and "−$1.50" in mine


@pytest.mark.parametrize(
    "data, message",
    [
        (
            dict(kind="credit", amount="", reason="x"),
            "Enter an amount greater than zero, such as 5 or 12.50.",
        ),
        (
            dict(kind="credit", amount="-3", reason="x"),
            "Enter an amount greater than zero, such as 5 or 12.50.",
        ),
        (dict(kind="credit", amount="1.23456", reason="x"), "An amount has at most 4 decimal places."),
        (dict(kind="credit", amount="1000000", reason="x"), "An amount is at most 100,000.00."),
        (dict(kind="credit", amount="3", reason="   "), "A reason is required."),
        (dict(kind="credit", amount="3", reason="y" * 501), "A reason has at most 500 characters."),
        (dict(kind="gift", amount="3", reason="x"), "Choose credit, debit or refund."),
        (
            dict(kind="debit", amount="2.01", reason="x"),
            "A debit of 2.0100 is more than the available balance of 2.0000.",
        ),
        (
            dict(kind="refund", amount="1", reason="x", charge="abc"),
            "Charge abc is not a charge of this account.",
        ),
    ],
)
def test_bad_input_gets_a_clear_message_and_changes_nothing(factory, as_admin, m, data, message):
    r = post(as_admin, m, **data)
    assert r.status_code == 400
    assert message in errors_in(r)
    assert adjustments(factory, m.account_id) == []
    assert balance(factory, m.account_id) == D("2.00")


def test_refund_of_a_charge_at_most_its_cost(factory, as_admin, m):
    with transaction(factory) as s:
        cdr = s.scalar(
            text(
                "INSERT INTO cdr (accountcode, start, billsec, disposition, dialed) VALUES"
                " (:a, now(), 60, 'ANSWERED', '447700900123') RETURNING id"
            ),
            {"a": str(m.account_id)},
        )
        charge = s.scalar(
            text(
                "INSERT INTO cdr_charges (cdr_id, account_id, call_type, cost) VALUES (:c, :a, 'I', 0.75) RETURNING id"
            ),
            {"c": cdr, "a": m.account_id},
        )
    html = page(as_admin, f"/admin/accounts/{m.account_id}")
    assert f'<option value="{charge}">' in html  # offered in the refund's choice
    r = post(as_admin, m, kind="refund", amount="0.80", reason="dropped", charge=str(charge))
    assert r.status_code == 400
    assert any("can be at most $0.75" in e or "at most 0.75" in e for e in errors_in(r)), errors_in(r)
    r = post(as_admin, m, kind="refund", amount="0.75", reason="dropped call", charge=str(charge))
    assert r.status_code == 302, errors_in(r)
    (adj,) = adjustments(factory, m.account_id)
    assert (adj.kind, adj.amount, adj.cdr_charge_id) == ("refund", D("0.75"), charge)
    assert balance(factory, m.account_id) == D("2.75")


def test_csrf_is_required(factory, as_admin, m):
    r = as_admin.post(url(m), data={"kind": "credit", "amount": "5", "reason": "x"})
    assert r.status_code == 400
    assert adjustments(factory, m.account_id) == []


def test_a_member_cannot_post_it_even_on_their_own_account(factory, client, m):
    sign_in(client, m)
    token = csrf_token(client, "/plans/")
    r = client.post(url(m), data={"csrf_token": token, "kind": "credit", "amount": "100", "reason": "free"})
    assert r.status_code == 403
    assert client.get(f"/admin/accounts/{m.account_id}").status_code == 403
    assert adjustments(factory, m.account_id) == []
    assert balance(factory, m.account_id) == D("2.00")


def test_another_account_sees_none_of_it(factory, client, as_admin, m, make_member):
    other = make_member()
    assert post(as_admin, m, kind="credit", amount="1", reason="Only for m").status_code == 302
    sign_in(client, other)
    assert "Only for m" not in page(client, "/plans/")


@pytest.mark.parametrize(
    "amount, message",
    [
        ("12,50", "Enter an amount greater than zero, such as 5 or 12.50."),  # never 1250
        ("1e100", "Enter an amount greater than zero, such as 5 or 12.50."),  # was a 500
        ("Infinity", "Enter an amount greater than zero, such as 5 or 12.50."),
        ("\uff15", "Enter an amount greater than zero, such as 5 or 12.50."),  # full-width 5
        ("9" * 30, "An amount is at most 100,000.00."),
    ],
)
def test_amount_text_is_strict(factory, as_admin, m, amount, message):
    r = post(as_admin, m, kind="credit", amount=amount, reason="x")
    assert r.status_code == 400
    assert message in errors_in(r)
    assert adjustments(factory, m.account_id) == []
    assert balance(factory, m.account_id) == D("2.00")


def test_a_refund_of_another_accounts_charge_is_refused(factory, as_admin, m, make_member):
    other = make_member(credit=["1.00"])
    with transaction(factory) as s:
        cdr = s.scalar(
            text(
                "INSERT INTO cdr (accountcode, start, billsec, disposition, dialed) VALUES"
                " (:a, now(), 60, 'ANSWERED', '447700900123') RETURNING id"
            ),
            {"a": str(other.account_id)},
        )
        charge = s.scalar(
            text(
                "INSERT INTO cdr_charges (cdr_id, account_id, call_type, cost) VALUES (:c, :a, 'I', 0.75) RETURNING id"
            ),
            {"c": cdr, "a": other.account_id},
        )
    assert f'<option value="{charge}">' not in page(as_admin, f"/admin/accounts/{m.account_id}")
    r = post(as_admin, m, kind="refund", amount="0.50", reason="x", charge=str(charge))
    assert r.status_code == 400
    assert f"Charge {charge} is not a charge of this account." in errors_in(r)
    assert adjustments(factory, m.account_id) == [] and adjustments(factory, other.account_id) == []


def test_a_secondary_user_cannot_post_it(factory, client, m, make_secondary):
    second = make_secondary(m)
    sign_in(client, second)
    token = csrf_token(client, "/plans/")
    r = client.post(url(m), data={"csrf_token": token, "kind": "credit", "amount": "100", "reason": "free"})
    assert r.status_code == 403
    assert adjustments(factory, m.account_id) == []


def test_a_reason_with_markup_is_shown_as_text(factory, client, as_admin, m):
    # (no " on...=" in it: tests/web/test_every_route.py looks for inline handlers on every page)
    reason = '<script>alert(1)</script><b title="x">bold</b> & co'
    shown = "&lt;script&gt;alert(1)&lt;/script&gt;&lt;b title=&#34;x&#34;&gt;bold&lt;/b&gt; &amp; co"
    assert post(as_admin, m, kind="credit", amount="1", reason=reason).status_code == 302
    for html in (page(as_admin, f"/admin/accounts/{m.account_id}"), page(as_admin, "/admin/audit/")):
        assert "<script>alert(1)" not in html and '<b title="x">' not in html
    assert shown in page(as_admin, f"/admin/accounts/{m.account_id}")
    sign_in(client, m)
    mine = page(client, "/plans/")
    assert "<script>alert(1)" not in mine and '<b title="x">' not in mine
    assert shown in mine


@pytest.mark.parametrize("charge", ["\u00b2", "\u0661", "-1", "1" * 19, "0x10"])
def test_a_charge_that_is_not_a_plain_number_is_refused_not_a_500(factory, as_admin, m, charge):
    r = post(as_admin, m, kind="refund", amount="0.10", reason="x", charge=charge)
    assert r.status_code == 400
    assert any(e.endswith("is not a charge of this account.") for e in errors_in(r)), errors_in(r)
    assert adjustments(factory, m.account_id) == []
