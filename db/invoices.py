"""Invoices (issue 15): an account's monthly statement, numbered, immutable once issued.

An invoice covers one calendar month in the account's time zone: period_start is the month's
first day and period_end the next month's (local dates); the ledger (db.ledger.statement) is
read over the two local midnights turned into UTC instants. Its figures, lines and PDF are
written in the one INSERT and never change after (migration 0024's trigger refuses UPDATE and
DELETE, except recording the email: emailed_at, email_error).

Continuity: an invoice opens on the account's previous invoice's closing balance. The ledger dates
a charge at its call's start, so a call rated after its month was invoiced (a rater backlog, a
call longer than the round's grace, an operator issuing at 00:01) is dated inside a month already
invoiced: the next invoice carries it as a line marked "late" (every ledger entry dated before its
period that no invoice lists), so it closes on the ledger's balance at its end and nothing is lost
or counted twice. A month older than the account's latest invoice can then no longer be issued.

Issuing is idempotent: the same account and month give back the invoice already issued,
unchanged. Two issuers of one account's month queue on an advisory lock, so one number is drawn.
A month that has not ended in the account's time zone is refused.

The PDF is drawn above this floor (controller/services/invoicing.py passes `render`), since the
data floor does not know the operator's letterhead.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, defer

from db import ledger
from db.audit import audit
from db.errors import ServiceError
from db.models import Account, Invoice, User

log = logging.getLogger("db.invoices")

NUMBER_FORMAT = "INV-{year:04d}{month:02d}-{seq:06d}"
LOCK_CLASS = 1_500_015  # pg_advisory_xact_lock(LOCK_CLASS, account_id): one issuer per account
EMAIL_REJECTED = "rejected: "  # email_error prefix of a failure retrying cannot fix

# what the PDF renderer gets: the invoice (not yet flushed, number and figures set) and its account
Renderer = Callable[[Invoice, Account], bytes]


@dataclass(frozen=True)
class Period:
    """One month of an account: local dates and the UTC instants of their midnights."""

    start: dt.date  # first day of the month
    end: dt.date  # first day of the next month (exclusive)
    time_zone: str
    start_at: dt.datetime  # UTC
    end_at: dt.datetime  # UTC


def check_month(year: int, month: int) -> None:
    if not (2000 <= year <= 2999 and 1 <= month <= 12):
        raise ServiceError(f"Not a month: {year}-{month:02d}.")


def parse_month(value: str) -> tuple[int, int]:
    """'2026-11' -> (2026, 11); anything else is a ServiceError."""
    raw = (value or "").strip()
    year_s, sep, month_s = raw.partition("-")
    if not (sep and year_s.isdigit() and month_s.isdigit() and len(year_s) == 4 and len(month_s) <= 2):
        raise ServiceError(f"Not a month (YYYY-MM): {raw[:20]!r}.")
    year, month = int(year_s), int(month_s)
    check_month(year, month)
    return year, month


def previous_month(today: dt.date) -> tuple[int, int]:
    first = today.replace(day=1) - dt.timedelta(days=1)
    return first.year, first.month


def period_of(time_zone: str, year: int, month: int) -> Period:
    check_month(year, month)
    try:
        zone = ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ServiceError(f"Unknown time zone {time_zone!r}.") from exc
    start = dt.date(year, month, 1)
    end = dt.date(year + 1, 1, 1) if month == 12 else dt.date(year, month + 1, 1)

    def midnight(day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(), tzinfo=zone).astimezone(dt.UTC)

    return Period(start, end, time_zone, midnight(start), midnight(end))


def _json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    return value


def _line(line: ledger.StatementLine) -> dict[str, Any]:
    return {
        "at": _json(line.at),
        "kind": line.kind,
        "description": line.description,
        "amount": _json(line.amount),
        "balance": _json(line.balance),
        "entry_id": line.entry_id,
        "reference": line.reference,
    }


def _late_lines(session: Session, account_id: int, before: dt.datetime) -> list[ledger.StatementLine]:
    """The ledger entries dated before `before` that no invoice of the account lists: charges
    rated after their month was invoiced (the ledger dates a charge at its call's start), in
    (at, id) order. Read only when the ledger before the month differs from the last invoice's
    closing balance, so a month without late entries costs nothing here."""
    covered = set(
        session.scalars(
            text(
                "SELECT (l->>'entry_id')::bigint FROM invoices i"
                " CROSS JOIN LATERAL jsonb_array_elements(i.lines) l WHERE i.account_id = :a"
            ),
            {"a": account_id},
        )
    )
    first = session.scalar(
        select(Invoice)
        .options(defer(Invoice.pdf), defer(Invoice.lines))
        .where(Invoice.account_id == account_id)
        .order_by(Invoice.period_start)
        .limit(1)
    )
    assert first is not None
    # the first invoice's opening holds every entry before its month
    since = period_of(first.time_zone, first.period_start.year, first.period_start.month).start_at
    return [
        line
        for line in ledger.statement_lines(session, account_id, since, before, ledger.ZERO)
        if line.entry_id not in covered
    ]


def _rebalance(
    opening: Decimal, late: list[ledger.StatementLine], lines: list[ledger.StatementLine]
) -> list[dict[str, Any]]:
    """The invoice's lines: the late entries (marked "late") then the month's, each with the
    running balance from `opening`."""
    out = []
    running = opening
    for i, line in enumerate(late + lines):
        running += line.amount
        row = _line(line)
        row["balance"] = _json(running)
        if i < len(late):
            row["late"] = True
        out.append(row)
    return out


def _totals(lines: list[dict[str, Any]]) -> dict[str, Decimal]:
    def total(*kinds: str) -> Decimal:
        return sum((Decimal(line["amount"]) for line in lines if line["kind"] in kinds), ledger.ZERO)

    return {
        "charges": -total("charge"),
        "plan_fees": -total("plan_fee"),
        "credit_bought": total("voucher", "payment", "admin", "demo"),
        "payments": total("payment"),
        "adjustments": total("credit", "debit", "refund"),
    }


def get_invoice(session: Session, invoice_id: int) -> Invoice | None:
    return session.get(Invoice, invoice_id)


def find(session: Session, account_id: int, year: int, month: int) -> Invoice | None:
    check_month(year, month)
    return session.scalar(
        select(Invoice).where(
            Invoice.account_id == account_id, Invoice.period_start == dt.date(year, month, 1)
        )
    )


def list_invoices(session: Session, account_id: int, *, limit: int = 240, offset: int = 0) -> list[Invoice]:
    """The account's invoices, newest month first (the PDF and the lines load only when read)."""
    return list(
        session.scalars(
            select(Invoice)
            .options(defer(Invoice.pdf), defer(Invoice.lines))
            .where(Invoice.account_id == account_id)
            .order_by(Invoice.period_start.desc(), Invoice.id.desc())
            .limit(limit)
            .offset(offset)
        )
    )


def count_invoices(session: Session, account_id: int | None = None) -> int:
    query = select(func.count()).select_from(Invoice)
    if account_id is not None:
        query = query.where(Invoice.account_id == account_id)
    return int(session.scalar(query) or 0)


def issue(
    session: Session,
    account_id: int,
    year: int,
    month: int,
    *,
    render: Renderer | None = None,
    now: dt.datetime | None = None,
    actor: User | None = None,
    remote_addr: str = "",
) -> Invoice:
    """The account's invoice for the month: the one already issued, else a new one (flushed,
    not committed). Raises ServiceError for an unknown account or a month not over yet."""
    check_month(year, month)
    now = now or dt.datetime.now(dt.UTC)
    # one issuer per account at a time; the second finds the first's invoice once it commits
    session.execute(text("SELECT pg_advisory_xact_lock(:c, :a)"), {"c": LOCK_CLASS, "a": account_id})
    existing = session.scalar(
        select(Invoice)
        .where(Invoice.account_id == account_id, Invoice.period_start == dt.date(year, month, 1))
        .execution_options(populate_existing=True)
    )
    if existing is not None:
        return existing
    later = session.scalar(
        select(Invoice.number)
        .where(Invoice.account_id == account_id, Invoice.period_start > dt.date(year, month, 1))
        .order_by(Invoice.period_start)
        .limit(1)
    )
    if later is not None:  # its entries are on the later invoice (carried): never count them twice
        raise ServiceError(
            f"{year}-{month:02d} cannot be invoiced: a later month is invoiced already ({later})."
        )
    account = session.get(Account, account_id)
    if account is None:
        raise ServiceError(f"No account {account_id}.")
    period = period_of(account.time_zone, year, month)
    if now < period.end_at:
        raise ServiceError(
            f"{year}-{month:02d} has not ended yet in the account's time zone ({account.time_zone})."
        )
    start_at = period.start_at
    previous = session.scalar(
        select(Invoice)
        .options(defer(Invoice.pdf), defer(Invoice.lines))
        .where(Invoice.account_id == account_id, Invoice.period_start < period.start)
        .order_by(Invoice.period_start.desc())
        .limit(1)
    )
    if (
        previous is not None
        and previous.period_end == period.start
        and previous.time_zone != account.time_zone
    ):
        # the zone changed since: start where the last invoice ended, so none is counted twice
        start_at = period_of(
            previous.time_zone, previous.period_start.year, previous.period_start.month
        ).end_at
    st = ledger.statement(session, account_id, start_at, period.end_at)
    opening, late = st.opening_balance, list[ledger.StatementLine]()
    if previous is not None and st.opening_balance != previous.closing_balance:
        opening, late = previous.closing_balance, _late_lines(session, account_id, start_at)
        carried = sum((line.amount for line in late), ledger.ZERO)
        if opening + carried != st.opening_balance:
            raise ServiceError(
                f"The ledger before {year}-{month:02d} differs from invoice {previous.number}'s closing"
                f" balance by {st.opening_balance - opening}, and the entries not invoiced yet"
                f" explain {carried} of it: not issued."
            )
    lines = _rebalance(opening, late, st.lines)
    totals = _totals(lines)
    seq = session.scalar(text("SELECT nextval('invoice_number_seq')"))
    invoice = Invoice(
        number=NUMBER_FORMAT.format(year=year, month=month, seq=seq),
        account_id=account_id,
        period_start=period.start,
        period_end=period.end,
        time_zone=account.time_zone,
        issued_at=now,
        currency="USD",
        opening_balance=opening,
        **totals,
        closing_balance=st.closing_balance,
        lines=lines,
        email_error="",
    )
    if render is not None:
        invoice.pdf = render(invoice, account)
    session.add(invoice)
    session.flush()
    audit(
        session,
        "invoice.issue",
        actor=actor,
        account_id=account_id,
        obj=invoice,
        details={
            "number": invoice.number,
            "period": f"{year}-{month:02d}",
            "closing_balance": str(invoice.closing_balance),
        },
        remote_addr=remote_addr,
    )
    return invoice


DUE_ACCOUNTS = text(
    """
    SELECT a.id FROM accounts a
    CROSS JOIN LATERAL (
        SELECT (CAST(:start AS date)::timestamp AT TIME ZONE a.time_zone) AS start_at,
               (CAST(:end AS date)::timestamp AT TIME ZONE a.time_zone) AS end_at
    ) p
    WHERE p.end_at + make_interval(secs => :grace) <= :now
      AND a.created_at < p.end_at
      AND NOT EXISTS (SELECT 1 FROM invoices i WHERE i.account_id = a.id AND i.period_start = :start)
      AND (a.status = 'active'
           OR EXISTS (SELECT 1 FROM ledger_entries l
                      WHERE l.account_id = a.id AND l.at >= p.start_at AND l.at < p.end_at))
    ORDER BY a.id
    """
)


def due_accounts(
    session: Session, year: int, month: int, now: dt.datetime | None = None, *, grace_s: float = 0
) -> list[int]:
    """Accounts still owed an invoice for the month whose month has ended in their time zone
    (`grace_s` ago: a call up at midnight is charged at its start, once it is rated): the
    active ones (that existed before the month ended) and any with ledger activity in it.
    One query; nothing due is an empty list, cheaply."""
    check_month(year, month)
    start = dt.date(year, month, 1)
    end = dt.date(year + 1, 1, 1) if month == 12 else dt.date(year, month + 1, 1)
    now = now or dt.datetime.now(dt.UTC)
    params = {"start": start, "end": end, "now": now, "grace": grace_s}
    return list(session.scalars(DUE_ACCOUNTS, params))


def issue_month(
    session: Session,
    year: int,
    month: int,
    *,
    render: Renderer | None = None,
    now: dt.datetime | None = None,
    actor: User | None = None,
    remote_addr: str = "",
    account_ids: Sequence[int] | None = None,
) -> tuple[list[Invoice], dict[int, str]]:
    """Issue the month for every due account (or the given ones), each in a savepoint so one
    account's failure leaves the others issued. Returns (the invoices issued, {account: error})."""
    ids = list(account_ids) if account_ids is not None else due_accounts(session, year, month, now)
    issued: list[Invoice] = []
    failed: dict[int, str] = {}
    for account_id in ids:
        try:
            with session.begin_nested():
                issued.append(
                    issue(
                        session,
                        account_id,
                        year,
                        month,
                        render=render,
                        now=now,
                        actor=actor,
                        remote_addr=remote_addr,
                    )
                )
        except ServiceError as exc:
            failed[account_id] = str(exc)
        except Exception as exc:  # one account's trouble (a bad time zone...) must not stop the month
            log.exception("invoice not issued", extra={"account_id": account_id})
            failed[account_id] = f"{exc.__class__.__name__}: {exc}"[:300]
    return issued, failed


# --- email state (the only columns the immutability trigger lets change) -------------------


def pending_email(session: Session, *, limit: int = 100, account_id: int | None = None) -> list[int]:
    """Invoices not emailed yet whose last failure (if any) may pass on a retry."""
    query = (
        select(Invoice.id)
        .where(Invoice.emailed_at.is_(None), ~Invoice.email_error.startswith(EMAIL_REJECTED))
        .order_by(Invoice.id)
        .limit(limit)
    )
    if account_id is not None:
        query = query.where(Invoice.account_id == account_id)
    return list(session.scalars(query))


def lock_for_email(session: Session, invoice_id: int) -> Invoice | None:
    """The invoice row-locked for sending, or None if another sender holds it or it was sent."""
    return session.scalar(
        select(Invoice)
        .where(Invoice.id == invoice_id, Invoice.emailed_at.is_(None))
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )


def record_email(session: Session, invoice: Invoice, *, sent_at: dt.datetime | None, error: str = "") -> None:
    session.execute(
        text("UPDATE invoices SET emailed_at = :at, email_error = :err WHERE id = :id"),
        {"at": sent_at, "err": error[:300], "id": invoice.id},
    )
    session.expire(invoice, ["emailed_at", "email_error"])


def reset_email(
    session: Session, invoice: Invoice, *, actor: User | None = None, remote_addr: str = ""
) -> None:
    """An operator asks for the invoice to be sent again (even after a permanent failure)."""
    session.execute(
        text("UPDATE invoices SET emailed_at = NULL, email_error = '' WHERE id = :id"), {"id": invoice.id}
    )
    session.expire(invoice, ["emailed_at", "email_error"])
    audit(
        session,
        "invoice.email_again",
        actor=actor,
        account_id=invoice.account_id,
        obj=invoice,
        details={"number": invoice.number},
        remote_addr=remote_addr,
    )
