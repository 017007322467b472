"""The ledger (migration 0024, db/ledger.py) on real PostgreSQL: ledger_entries kept by the
triggers so that for every account sum(ledger_entries.amount) = sum(credit_lots.remaining) after
vouchers, payments (the top-up API's apply), real rater charges and manual credit, debit and
refund; a debit refused over the available balance (a hold counts); concurrent debits and
ratings never drive a balance negative; a statement's closing = opening + its entries = the
balance at its end; issued invoices immutable."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from controller.services.rater import rate_pending
from db import accounts, ledger
from db.models import AccountAdjustment, AuditLog, User
from db.session import transaction
from tests.billing.conftest import DECK, insert_cdr, lots
from webpanel.api import topup
from webpanel.recharge import services as recharge

D = Decimal
KEY = "ledger-test-voucher-key"


@pytest.fixture()
def admin_id(bfactory):
    with transaction(bfactory) as s:
        return accounts.create_admin(s, f"ledger-admin-{time.time_ns()}", "Admin-pass-2026").id


def adjust(bfactory, admin_id, account_id, kind, amount, reason="test", **kw):
    with transaction(bfactory) as s:
        return ledger.adjust(s, s.get(User, admin_id), account_id, kind, amount, reason, **kw)


def assert_invariant(s, account_id):
    assert ledger.ledger_sum(s, account_id) == ledger.balance(s, account_id) == sum(lots(s, account_id), D(0))


def assert_invariant_everywhere(s):
    bad = s.execute(
        text(
            "SELECT a.id, coalesce((SELECT sum(amount) FROM ledger_entries e WHERE e.account_id = a.id), 0) AS led,"
            " coalesce((SELECT sum(remaining) FROM credit_lots l WHERE l.account_id = a.id), 0) AS bal"
            " FROM accounts a"
        )
    ).all()
    assert [r for r in bad if r.led != r.bal] == []


def voucher(bfactory, member, amount):
    with transaction(bfactory) as s:
        _, code = recharge.create_voucher(s, KEY, D(amount))
    with transaction(bfactory) as s:
        return recharge.redeem_voucher(s, KEY, s.get(User, member.user_id), code).id


def pay(bfactory, member, amount):
    with transaction(bfactory) as s:
        result, replayed = topup.apply(
            s, topup.TopupRequest(f"pay-{uuid.uuid4().hex}", member.number, D(amount))
        )
    assert not replayed
    return result


def test_invariant_after_vouchers_payments_charges_and_adjustments(bfactory, member, admin_id):
    m = member(credit=["1.00"])
    voucher(bfactory, m, "2.50")
    pay(bfactory, m, "10.00")
    with transaction(bfactory) as s:
        cdrs = [insert_cdr(s, member=m, call_class="I", dialed="447700900123", billsec=30) for _ in range(3)]
        cdrs.append(insert_cdr(s, member=m, call_class="D", dialed="13125550100", billsec=61))
    rate_pending(bfactory)
    credit = adjust(bfactory, admin_id, m.account_id, "credit", "3.25", "goodwill after an outage")
    with bfactory() as s:
        charge_id = s.scalar(text("SELECT id FROM cdr_charges WHERE cdr_id = :c"), {"c": cdrs[0]})
        cost = s.scalar(text("SELECT cost FROM cdr_charges WHERE id = :c"), {"c": charge_id})
    refund = adjust(bfactory, admin_id, m.account_id, "refund", cost, "call dropped", cdr_charge_id=charge_id)
    debit = adjust(bfactory, admin_id, m.account_id, "debit", "1.1111", "setup fee")
    with bfactory() as s:
        assert_invariant(s, m.account_id)
        kinds = dict(
            s.execute(
                text("SELECT kind, sum(amount) FROM ledger_entries WHERE account_id = :a GROUP BY kind"),
                {"a": m.account_id},
            ).all()
        )
        charged = s.scalar(text("SELECT sum(cost) FROM cdr_charges WHERE cdr_id = ANY(:ids)"), {"ids": cdrs})
        # each thing once: the adjustment's lots are not counted again as 'admin' lots
        assert kinds == {
            "admin": D("1.00"),
            "voucher": D("2.50"),
            "payment": D("10.00"),
            "charge": -charged,
            "credit": D("3.25"),
            "refund": cost,
            "debit": D("-1.1111"),
        }
        assert ledger.balance(s, m.account_id) == D("13.50") - charged + D("3.25") + cost - D("1.1111")
        assert credit.credit_lot_id and refund.credit_lot_id and debit.credit_lot_id is None
        lot = s.execute(
            text("SELECT source, reference FROM credit_lots WHERE id = :l"), {"l": refund.credit_lot_id}
        ).one()
        assert lot == ("admin", f"adjustment:{refund.adjustment_id}")
        entry = s.execute(
            text("SELECT kind, cdr_charge_id, credit_lot_id FROM ledger_entries WHERE adjustment_id = :a"),
            {"a": refund.adjustment_id},
        ).one()
        assert entry == ("refund", charge_id, refund.credit_lot_id)
        rows = s.execute(
            text(
                "SELECT actor_user_id, details FROM audit_log WHERE action = 'admin.credit_adjust'"
                " AND account_id = :a ORDER BY id"
            ),
            {"a": m.account_id},
        ).all()
        assert [r.actor_user_id for r in rows] == [admin_id] * 3
        assert [(r.details["kind"], r.details["reason"]) for r in rows] == [
            ("credit", "goodwill after an outage"),
            ("refund", "call dropped"),
            ("debit", "setup fee"),
        ]
        assert_invariant_everywhere(s)


def test_refund_never_more_than_the_charge_minus_earlier_refunds(bfactory, member, admin_id):
    m, other = member(credit=["5.00"]), member(credit=["5.00"])
    with transaction(bfactory) as s:
        cdr = insert_cdr(s, member=m, call_class="I", dialed="99912345", billsec=60)  # 1.00
    rate_pending(bfactory)
    with bfactory() as s:
        charge_id = s.scalar(text("SELECT id FROM cdr_charges WHERE cdr_id = :c"), {"c": cdr})
    adjust(bfactory, admin_id, m.account_id, "refund", "0.40", "partial", cdr_charge_id=charge_id)
    with pytest.raises(ledger.AdjustmentError, match="at most 0.6000"):
        adjust(bfactory, admin_id, m.account_id, "refund", "0.61", "too much", cdr_charge_id=charge_id)
    with pytest.raises(ledger.AdjustmentError, match="not a charge of this account"):
        adjust(
            bfactory, admin_id, other.account_id, "refund", "0.10", "wrong account", cdr_charge_id=charge_id
        )
    with pytest.raises(ledger.AdjustmentError, match="Only a refund"):
        adjust(bfactory, admin_id, m.account_id, "credit", "0.10", "x", cdr_charge_id=charge_id)
    adjust(bfactory, admin_id, m.account_id, "refund", "0.60", "the rest", cdr_charge_id=charge_id)
    with bfactory() as s:
        assert ledger.refundable(s, charge_id) == (m.account_id, D(0))
        assert ledger.balance(s, m.account_id) == D("5.00")
        assert_invariant(s, m.account_id)


@pytest.mark.parametrize(
    "amount, reason, message",
    [
        ("0", "r", "greater than zero"),
        ("-1", "r", "greater than zero"),
        ("abc", "r", "greater than zero"),
        ("NaN", "r", "greater than zero"),
        ("1.00001", "r", "4 decimal places"),
        ("100000.01", "r", "at most 100,000.00"),
        ("1", "   ", "reason is required"),
        ("1", "x" * 501, "at most 500 characters"),
        ("1", "bad\x07", "control characters"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(bfactory, member, admin_id, amount, reason, message):
    m = member(credit=["2.00"])
    with pytest.raises(ledger.AdjustmentError, match=message):
        adjust(bfactory, admin_id, m.account_id, "credit", amount, reason)
    with pytest.raises(ledger.AdjustmentError, match="credit, debit or refund"):
        adjust(bfactory, admin_id, m.account_id, "gift", "1", "r")
    with bfactory() as s:
        assert (
            s.scalar(
                text("SELECT count(*) FROM account_adjustments WHERE account_id = :a"), {"a": m.account_id}
            )
            == 0
        )
        assert ledger.balance(s, m.account_id) == D("2.00")
        assert_invariant(s, m.account_id)


def test_a_member_cannot_adjust(bfactory, member):
    m = member(credit=["2.00"])
    with pytest.raises(ledger.AdjustmentError, match="Only an operator"):
        with transaction(bfactory) as s:
            ledger.adjust(s, s.get(User, m.user_id), m.account_id, "credit", "5", "free money")


def test_debit_refused_over_the_available_balance_a_hold_counting(bfactory, member, admin_id):
    m = member(credit=["1.00", "2.00"])
    with transaction(bfactory) as s:
        s.execute(
            text(
                "INSERT INTO call_authorizations (uniqueid, account_id, virtual_number_id, call_class, dialed,"
                " max_seconds, held_credit, expires_at) VALUES (:u, :a, :vn, 'I', '99912345', 60, 1.25,"
                " now() + interval '10 minutes')"
            ),
            {"u": f"ledger-{uuid.uuid4().hex}", "a": m.account_id, "vn": m.vn_id},
        )
    with pytest.raises(ledger.AdjustmentError, match="more than the available balance of 1.7500"):
        adjust(bfactory, admin_id, m.account_id, "debit", "1.7501", "too much")
    with bfactory() as s:
        assert lots(s, m.account_id) == [D("1.00"), D("2.00")]  # nothing changed
        assert (
            s.scalar(
                text("SELECT count(*) FROM account_adjustments WHERE account_id = :a"), {"a": m.account_id}
            )
            == 0
        )
    done = adjust(bfactory, admin_id, m.account_id, "debit", "1.75", "all that is free")
    assert done.balance == D("1.25")
    with bfactory() as s:
        assert lots(s, m.account_id) == [D("0"), D("1.25")]  # oldest lot first
        assert_invariant(s, m.account_id)
    with pytest.raises(ledger.AdjustmentError, match="available balance of 0.0000"):
        adjust(bfactory, admin_id, m.account_id, "debit", "0.01", "nothing left")


def test_concurrent_debits_and_ratings_never_drive_a_balance_negative(bfactory, member, admin_id):
    """Eight debit threads and four rater threads (each its own connections) on one balance
    of 5.00: no lot below zero, every refused debit changed nothing, the ledger = the lots."""
    m = member(credit=["1.00", "1.50", "2.50"])
    with transaction(bfactory) as s:
        cdrs = [
            insert_cdr(s, member=m, call_class="I", dialed="99812345", billsec=20 + i % 5) for i in range(30)
        ]
    errors: list[BaseException] = []
    done: list[Decimal] = []
    refused: list[str] = []
    barrier = threading.Barrier(12)

    def debit():
        try:
            barrier.wait()
            for _ in range(3):
                try:
                    done.append(adjust(bfactory, admin_id, m.account_id, "debit", "0.35", "race").amount)
                except ledger.AdjustmentError as exc:
                    refused.append(str(exc))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def rate():
        try:
            barrier.wait()
            rate_pending(bfactory, batch=3)
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=debit) for _ in range(8)] + [
        threading.Thread(target=rate) for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert len(done) + len(refused) == 24
    assert done and refused  # 30 calls of ~0.22 and 24 debits of 0.35 on 5.00: both kinds met the end
    with bfactory() as s:
        remaining = lots(s, m.account_id)
        assert all(r >= 0 for r in remaining)
        charged = s.scalar(
            text(
                "SELECT coalesce(sum(d.amount), 0) FROM credit_debits d JOIN credit_lots l ON l.id = d.credit_lot_id"
                " WHERE l.account_id = :a"
            ),
            {"a": m.account_id},
        )
        assert charged + sum(done, D(0)) + sum(remaining, D(0)) == D("5.00")
        assert (
            s.scalar(text("SELECT count(*) FROM cdr_charges WHERE cdr_id = ANY(:ids)"), {"ids": cdrs}) == 30
        )
        assert_invariant(s, m.account_id)


def test_statement_closing_is_opening_plus_entries_and_the_balance_at_its_end(bfactory, member, admin_id):
    m = member(credit=["4.00"])  # bought 2026-01-01
    pay(bfactory, m, "6.00")
    with transaction(bfactory) as s:
        for _ in range(2):
            insert_cdr(s, member=m, call_class="I", dialed="447700900123", billsec=30)
    rate_pending(bfactory)
    adjust(bfactory, admin_id, m.account_id, "credit", "1.00", "sorry")
    adjust(bfactory, admin_id, m.account_id, "debit", "0.50", "fee")
    with bfactory() as s:
        mid = s.scalar(
            text("SELECT min(at) FROM ledger_entries WHERE account_id = :a AND kind = 'payment'"),
            {"a": m.account_id},
        )
        end = s.scalar(text("SELECT now()")) + dt.timedelta(seconds=1)
        start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        whole = ledger.statement(s, m.account_id, start, end)
        later = ledger.statement(s, m.account_id, mid, end)
        before = ledger.statement(s, m.account_id, start, mid)
        balance = ledger.balance(s, m.account_id)
    assert whole.opening_balance == 0
    assert whole.closing_balance == balance == whole.opening_balance + sum(x.amount for x in whole.lines)
    assert whole.closing_balance == (
        whole.opening_balance + whole.credit_bought + whole.adjustments - whole.charges - whole.plan_fees
    )
    assert whole.credit_bought == D("10.00") and whole.payments == D("6.00")
    assert whole.adjustments == D("0.50") and whole.charges == D("0.26")
    assert before.closing_balance == later.opening_balance == D("4.00")
    assert later.closing_balance == balance
    assert [x.balance for x in whole.lines][-1] == balance
    assert [x.kind for x in whole.lines] == ["admin", "payment", "charge", "charge", "credit", "debit"]
    assert whole.lines[4].description == "Credit: sorry"
    assert (whole.lines[4].detail, whole.lines[1].detail) == ("sorry", whole.lines[1].reference)
    assert whole.lines[2].detail == "447700900123 (30 s)"
    assert whole.lines[2].description.startswith("Call to 447700900123")
    with pytest.raises(ValueError):
        ledger.statement(s, m.account_id, dt.datetime(2026, 1, 1), end)


def test_adjustments_and_ledger_entries_are_not_rewritten(bfactory, member, admin_id):
    m = member(credit=["1.00"])
    a = adjust(bfactory, admin_id, m.account_id, "credit", "2.00", "keep")
    for sql in (
        "UPDATE account_adjustments SET amount = 5 WHERE id = :id",
        "DELETE FROM account_adjustments WHERE id = :id",
    ):
        with pytest.raises(DBAPIError, match="part of the ledger"), transaction(bfactory) as s:
            s.execute(text(sql), {"id": a.adjustment_id})
    # a lot cannot pretend to be an adjustment's to hide from the ledger
    with pytest.raises(DBAPIError, match="is not that adjustment's lot"), transaction(bfactory) as s:
        s.execute(
            text(
                "INSERT INTO credit_lots (account_id, original, remaining, source, reference)"
                " VALUES (:a, 9, 9, 'admin', :r)"
            ),
            {"a": m.account_id, "r": f"adjustment:{a.adjustment_id}"},
        )
    with bfactory() as s:
        assert_invariant(s, m.account_id)


def test_issued_invoice_cannot_be_deleted_or_changed_but_its_mail_state_and_first_pdf_can(bfactory, member):
    m = member()
    with transaction(bfactory) as s:
        inv = s.scalar(
            text(
                "INSERT INTO invoices (number, account_id, period_start, period_end, time_zone, opening_balance,"
                " closing_balance) VALUES (:n, :a, '2026-01-01', '2026-02-01', 'UTC', 0, 0) RETURNING id"
            ),
            {"n": f"TEST-{uuid.uuid4().hex[:12]}", "a": m.account_id},
        )
    with transaction(bfactory) as s:
        s.execute(
            text("UPDATE invoices SET pdf = 'pdf1', emailed_at = now(), email_error = 'x' WHERE id = :i"),
            {"i": inv},
        )
    with transaction(bfactory) as s:
        s.execute(text("UPDATE invoices SET email_error = '', emailed_at = now() WHERE id = :i"), {"i": inv})
    for sql, message in (
        ("UPDATE invoices SET closing_balance = 5 WHERE id = :i", "only emailed_at"),
        ("UPDATE invoices SET lines = '[1]' WHERE id = :i", "only emailed_at"),
        ("UPDATE invoices SET pdf = 'pdf2' WHERE id = :i", "already has its PDF"),
        ("DELETE FROM invoices WHERE id = :i", "cannot be deleted"),
    ):
        with pytest.raises(DBAPIError, match=message), transaction(bfactory) as s:
            s.execute(text(sql), {"i": inv})
    with bfactory() as s:
        assert s.scalar(text("SELECT pdf FROM invoices WHERE id = :i"), {"i": inv}) == b"pdf1"


def test_audit_rows_name_the_operator(bfactory, member, admin_id):
    m = member(credit=["1.00"])
    a = adjust(bfactory, admin_id, m.account_id, "credit", "0.5", "typo fix", remote_addr="192.0.2.7")
    with bfactory() as s:
        row = s.query(AuditLog).filter_by(action="admin.credit_adjust", object_id=str(a.adjustment_id)).one()
        assert (row.actor_user_id, row.account_id, row.remote_addr) == (admin_id, m.account_id, "192.0.2.7")
        assert row.details["amount"] == "0.5000" and row.details["reason"] == "typo fix"


def test_an_account_deleted_takes_its_adjustments_and_ledger_with_it(bfactory, member, admin_id):
    m = member(credit=["1.00"])
    adjust(bfactory, admin_id, m.account_id, "credit", "2.00", "bye")
    with transaction(bfactory) as s:
        s.execute(text("DELETE FROM accounts WHERE id = :a"), {"a": m.account_id})
    with bfactory() as s:
        assert (
            s.scalar(text("SELECT count(*) FROM ledger_entries WHERE account_id = :a"), {"a": m.account_id})
            == 0
        )


def test_backfill_records_existing_lots_and_debits_once(billing_db):
    """Migration 0024 on a database with money in it: every lot and debit recorded, a lot
    changed by hand before the ledger corrected by one entry, the invariant true after."""
    import dataclasses

    import psycopg

    from db import migrate

    scratch = dataclasses.replace(billing_db, db_name=billing_db.db_name + "_ledger")
    migrate.create_database(scratch, drop_first=True)
    try:
        migrate.upgrade(scratch, "0023")
        url = scratch.database_url.replace("postgresql+psycopg", "postgresql")
        with psycopg.connect(url) as conn:
            a = conn.execute("INSERT INTO accounts DEFAULT VALUES RETURNING id").fetchone()[0]
            b = conn.execute("INSERT INTO accounts DEFAULT VALUES RETURNING id").fetchone()[0]
            l1, l2, l3 = (
                conn.execute(
                    "INSERT INTO credit_lots (account_id, original, remaining, source, purchased_at)"
                    " VALUES (%s, %s, %s, %s, %s) RETURNING id",
                    (acc, orig, rem, src, dt.datetime(2026, 1, day, tzinfo=dt.UTC)),
                ).fetchone()[0]
                for acc, orig, rem, src, day in (
                    (a, D("5"), D("3.5"), "voucher", 1),
                    (a, D("2"), D("2"), "payment", 2),
                    (b, D("9"), D("4"), "demo", 3),  # 5 gone with no debit: changed by hand
                )
            )
            cdr = conn.execute(
                "INSERT INTO cdr (start, billsec, disposition, dialed) VALUES (%s, 60, 'ANSWERED', '4420')"
                " RETURNING id",
                (dt.datetime(2026, 1, 5, tzinfo=dt.UTC),),
            ).fetchone()[0]
            ch = conn.execute(
                "INSERT INTO cdr_charges (cdr_id, account_id, call_type, cost) VALUES (%s, %s, 'I', 1.5) RETURNING id",
                (cdr, a),
            ).fetchone()[0]
            conn.execute(
                "INSERT INTO credit_debits (charge_id, credit_lot_id, amount) VALUES (%s, %s, 1.5)", (ch, l1)
            )
        migrate.upgrade(scratch, "0024")
        with psycopg.connect(url) as conn:
            rows = conn.execute(
                "SELECT account_id, kind, amount, credit_lot_id, cdr_charge_id, at FROM ledger_entries ORDER BY id"
            ).fetchall()
            assert [(r[0], r[1], r[2], r[3], r[4]) for r in rows] == [
                (a, "voucher", D("5"), l1, None),
                (a, "payment", D("2"), l2, None),
                (b, "demo", D("9"), l3, None),
                (a, "charge", D("-1.5"), l1, ch),
                (b, "debit", D("-5"), l3, None),
            ]
            assert rows[3][5] == dt.datetime(2026, 1, 5, tzinfo=dt.UTC)  # the call's time
            bad = conn.execute(
                "SELECT a.id FROM accounts a WHERE (SELECT coalesce(sum(amount), 0) FROM ledger_entries e"
                " WHERE e.account_id = a.id) <> (SELECT coalesce(sum(remaining), 0) FROM credit_lots l"
                " WHERE l.account_id = a.id)"
            ).fetchall()
            assert bad == []
        migrate.downgrade(scratch, "0023")
    finally:
        migrate.drop_database(scratch)


@pytest.mark.parametrize(
    "amount, message",
    [
        ("12,50", "greater than zero"),  # a decimal comma is not a thousands separator: never 1250
        ("1,2", "greater than zero"),
        ("1,000", "greater than zero"),  # no separators at all (controller.rules.amounts)
        ("1_000", "greater than zero"),
        ("1e5", "greater than zero"),
        ("1E+2", "greater than zero"),
        ("Infinity", "greater than zero"),
        ("-Infinity", "greater than zero"),
        ("sNaN", "greater than zero"),
        ("-0", "greater than zero"),
        ("+5", "greater than zero"),
        ("\uff11\uff12", "greater than zero"),  # full-width 12
        ("\u0661\u0662", "greater than zero"),  # Arabic-Indic 12
        ("0.00001", "4 decimal places"),
        ("0.0000", "greater than zero"),
        ("1e100", "greater than zero"),  # was an uncaught InvalidOperation (a 500)
        ("1" + "0" * 30, "at most 100,000.00"),
        ("1" + "0" * 60, "greater than zero"),
        (D("1E+100"), "at most 100,000.00"),  # a Decimal (the REST API's schema) too
        (D("1E-100"), "4 decimal places"),
        (D("-1"), "greater than zero"),
        (D("NaN"), "greater than zero"),
        (1.5, "greater than zero"),  # a float is never money
        (True, "greater than zero"),
    ],
)
def test_amount_is_written_strictly_or_refused(bfactory, member, admin_id, amount, message):
    m = member(credit=["2.00"])
    with pytest.raises(ledger.AdjustmentError, match=message):
        adjust(bfactory, admin_id, m.account_id, "credit", amount, "r")
    with bfactory() as s:
        assert ledger.balance(s, m.account_id) == D("2.00")
        assert_invariant(s, m.account_id)


@pytest.mark.parametrize(
    "amount, value",
    [(" 12.50 ", D("12.5")), ("0.0001", D("0.0001")), (".5", D("0.5")), ("100000", D("100000")), (7, D(7))],
)
def test_plain_amounts_are_taken_exactly(amount, value):
    assert ledger.parse_amount(amount) == value


def test_two_refunds_of_one_charge_at_once_never_pass_its_cost(bfactory, member, admin_id):
    """Six threads each refund the whole cost of one charge at once: exactly one succeeds."""
    m = member(credit=["5.00"])
    with transaction(bfactory) as s:
        cdr = insert_cdr(s, member=m, call_class="I", dialed="99912345", billsec=60)  # 1.00
    rate_pending(bfactory)
    with bfactory() as s:
        charge_id, cost = s.execute(
            text("SELECT id, cost FROM cdr_charges WHERE cdr_id = :c"), {"c": cdr}
        ).one()
    barrier = threading.Barrier(6)
    ok: list[int] = []
    refused: list[str] = []
    errors: list[BaseException] = []

    def refund():
        try:
            barrier.wait()
            ok.append(
                adjust(
                    bfactory, admin_id, m.account_id, "refund", cost, "race", cdr_charge_id=charge_id
                ).adjustment_id
            )
        except ledger.AdjustmentError as exc:
            refused.append(str(exc))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=refund) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [] and len(ok) == 1 and len(refused) == 5
    with bfactory() as s:
        assert ledger.refundable(s, charge_id) == (m.account_id, D(0))
        assert_invariant(s, m.account_id)


def test_statement_periods_are_half_open_and_an_empty_one_carries_the_balance(bfactory, member, admin_id):
    """An entry exactly at a period's start is in it, exactly at its end is in the next; a
    month in a zone with a DST change (America/New_York, March 2026) is two instants apart by
    30 days and 23 hours, and its statement is still opening + lines = closing."""
    import zoneinfo

    m = member()
    ny = zoneinfo.ZoneInfo("America/New_York")
    start = dt.datetime(2026, 3, 1, tzinfo=ny)
    end = dt.datetime(2026, 4, 1, tzinfo=ny)
    assert end.astimezone(dt.UTC) - start.astimezone(dt.UTC) == dt.timedelta(days=30, hours=23)
    with transaction(bfactory) as s:
        for at, amount in ((start, "1.00"), (end, "2.00"), (end - dt.timedelta(microseconds=1), "0.25")):
            s.execute(
                text(
                    "INSERT INTO credit_lots (account_id, original, remaining, source, purchased_at)"
                    " VALUES (:a, :v, :v, 'voucher', :t)"
                ),
                {"a": m.account_id, "v": D(amount), "t": at},
            )
    with bfactory() as s:
        march = ledger.statement(s, m.account_id, start, end)
        april = ledger.statement(s, m.account_id, end, end + dt.timedelta(days=30))
        before = ledger.statement(s, m.account_id, start - dt.timedelta(days=28), start)
        assert_invariant(s, m.account_id)
    assert (before.opening_balance, before.closing_balance, before.lines) == (0, 0, [])
    assert [x.amount for x in march.lines] == [D("1.00"), D("0.25")]
    assert (march.opening_balance, march.closing_balance, march.credit_bought) == (0, D("1.25"), D("1.25"))
    assert (april.opening_balance, april.closing_balance) == (D("1.25"), D("3.25"))
    assert [x.amount for x in april.lines] == [D("2.00")]


def test_a_debit_waiting_for_the_lots_decides_on_the_lots_it_locked(bfactory, member, admin_id):
    """A debit that waits for the lots' locks (a rating holds them) while a voucher adds a new
    lot: it may take only from the lots it locked, and says so; it never reports an available
    balance bigger than the amount it then refuses."""
    m = member(credit=["2.00"])
    holder = bfactory()
    holder.execute(
        text("SELECT id FROM credit_lots WHERE account_id = :a FOR NO KEY UPDATE"), {"a": m.account_id}
    )
    outcome: list[object] = []

    def debit():
        try:
            outcome.append(adjust(bfactory, admin_id, m.account_id, "debit", "2.50", "waits"))
        except BaseException as exc:
            outcome.append(exc)

    t = threading.Thread(target=debit)
    t.start()
    try:
        deadline = time.monotonic() + 30
        while True:  # a new session each time: pg_stat_activity is a snapshot per transaction
            with bfactory() as s:
                waiting = s.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                        " AND query LIKE '%FROM credit_lots%' AND datname = current_database()"
                    )
                )
            if waiting:
                break
            assert time.monotonic() < deadline, ("the debit never waited for the lots", outcome)
            time.sleep(0.05)
        with transaction(bfactory) as s:
            s.execute(
                text(
                    "INSERT INTO credit_lots (account_id, original, remaining, source) VALUES (:a, 1, 1, 'voucher')"
                ),
                {"a": m.account_id},
            )
    finally:
        holder.commit()
        holder.close()
        t.join(30)
    (result,) = outcome
    if isinstance(result, ledger.AdjustmentError):
        assert str(result) == "A debit of 2.5000 is more than the available balance of 2.0000."
    else:  # taking from the new lot too would be right as well
        assert isinstance(result, ledger.Adjusted) and result.balance == D("0.50"), result
    with bfactory() as s:
        assert_invariant(s, m.account_id)
        assert all(x >= 0 for x in lots(s, m.account_id))


def test_a_multi_line_reason_is_kept_on_one_line_and_invisible_controls_refused(bfactory, member, admin_id):
    m = member(credit=["1.00"])
    done = adjust(bfactory, admin_id, m.account_id, "credit", "1", "Outage on 3 Dec\r\n  (ticket 42)\tsorry")
    with bfactory() as s:
        assert s.get(AccountAdjustment, done.adjustment_id).reason == "Outage on 3 Dec (ticket 42) sorry"
    for bad in ("refund \u202egnp.exe", "a\u0085b", "zero\u200bwidth"):
        with pytest.raises(ledger.AdjustmentError, match="control characters"):
            adjust(bfactory, admin_id, m.account_id, "credit", "1", bad)


def test_the_ledger_and_an_adjustments_reason_cannot_be_rewritten(bfactory, member, admin_id):
    m = member(credit=["1.00"])
    a = adjust(bfactory, admin_id, m.account_id, "credit", "2.00", "keep")
    for sql, params in (
        ("UPDATE account_adjustments SET reason = 'rewritten' WHERE id = :id", {"id": a.adjustment_id}),
        ("UPDATE account_adjustments SET remote_addr = '10.0.0.1' WHERE id = :id", {"id": a.adjustment_id}),
        (
            "UPDATE account_adjustments SET actor_user_id = :u WHERE id = :id",
            {"id": a.adjustment_id, "u": m.user_id},
        ),
        ("UPDATE ledger_entries SET amount = 100 WHERE account_id = :a", {"a": m.account_id}),
        (
            "UPDATE ledger_entries SET at = now() - interval '1 year' WHERE account_id = :a",
            {"a": m.account_id},
        ),
        ("DELETE FROM ledger_entries WHERE account_id = :a", {"a": m.account_id}),
    ):
        with pytest.raises(DBAPIError, match="part of the ledger"), transaction(bfactory) as s:
            s.execute(text(sql), params)
    with transaction(bfactory) as s:  # the foreign keys' SET NULL still works: a user deleted
        s.execute(text("DELETE FROM users WHERE id = :u"), {"u": admin_id})
    with bfactory() as s:
        assert s.get(AccountAdjustment, a.adjustment_id).actor_user_id is None
        assert s.get(AccountAdjustment, a.adjustment_id).reason == "keep"
        assert_invariant(s, m.account_id)


async def test_debits_racing_hot_path_holds_never_take_held_money(bfactory, billing_db, member, admin_id):
    """Debits (db.ledger.adjust, db.billing.lock_accounts) and call authorizations (db.hotpath,
    voip_lock_money: the same rows in the same order), optimistic and locked, at once on one
    balance: the open holds never reserve more than the lots hold, no lot goes below zero."""
    import asyncio

    from controller.rules.rating import Rate
    from db import hotpath

    p, dest, country, per_minute, fee, minimum, step = next(r for r in DECK if r[0] == "999")
    rate = Rate(p, per_minute, fee, minimum, step, dest, country)  # 1.00 a minute
    m = member(credit=["3.00", "2.00"])
    hot = hotpath.HotDB(billing_db, min_size=1, max_size=12)
    await hot.open()
    token = hotpath.HOLD_SLICE.set(60)  # each call holds one minute: 1.00
    try:

        async def call(i: int):
            async with hot.connection() as conn:
                state = None
                if i % 2:
                    ctx = await hotpath.decision_context(conn, m.number, [], "700", f"race-{i}")
                    state = ctx.money_state
                return await hotpath.authorize(
                    conn,
                    account_id=m.account_id,
                    virtual_number_id=m.vn_id,
                    call_class="I",
                    dialed="99912345",
                    uniqueid=f"race-{i}",
                    rate=rate,
                    call_group=f"race-{i}",
                    money_state=state,
                )

        def debit():
            try:
                return adjust(bfactory, admin_id, m.account_id, "debit", "0.70", "race").amount
            except ledger.AdjustmentError:
                return D(0)

        results = await asyncio.gather(
            *[call(i) for i in range(8)], *[asyncio.to_thread(debit) for _ in range(6)]
        )
    finally:
        hotpath.HOLD_SLICE.reset(token)
        await hot.close()
    auths, debits = results[:8], results[8:]
    held = sum((a.held_credit for a in auths if a.auth_id is not None), D(0))
    with bfactory() as s:
        remaining = lots(s, m.account_id)
        open_held = s.scalar(
            text(
                "SELECT coalesce(sum(held_credit), 0) FROM call_authorizations"
                " WHERE account_id = :a AND settled_at IS NULL AND expires_at > now()"
            ),
            {"a": m.account_id},
        )
        assert_invariant(s, m.account_id)
    assert all(r >= 0 for r in remaining)
    assert open_held == held
    assert held <= sum(remaining, D(0)), (held, remaining, debits)
    assert held + sum(debits, D(0)) <= D("5.00")
    assert any(a.auth_id for a in auths) and any(debits)  # both kinds got some of it
