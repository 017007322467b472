"""The ledger: every change of an account's credit balance, and money moved by hand (issue 15).

ledger_entries is kept by the triggers of migration 0024 (never written from Python):
- a credit lot inserted (voucher, payment, admin, demo) adds +original, kind = the lot's source,
  unless an adjustment made the lot (its reference starts with "adjustment:"): the adjustment's
  own entry counts it, once;
- a credit_debits row (the rater paying a charge from a lot) adds -amount, kind 'charge', with
  the charge's id, at the CDR's time (its call's start);
- an account_adjustments row adds its signed amount, kind credit / debit / refund.
So for every account sum(ledger_entries.amount) = sum(credit_lots.remaining)
(tests/billing/test_ledger.py).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from controller.rules import amounts, money
from db import billing
from db.audit import audit
from db.errors import ServiceError
from db.models import Account, AccountAdjustment, User

ZERO = Decimal("0")


@dataclass(frozen=True)
class StatementLine:
    """One ledger entry of the period, in order (at, id)."""

    at: dt.datetime  # UTC instant (timestamptz)
    kind: str  # voucher, payment, admin, demo, charge, plan_fee, credit, debit, refund
    description: str  # plain English, e.g. "Call to +44 20 ... (120 s)", "Credit: <reason>"
    amount: Decimal  # signed: + adds to the balance, - takes from it
    balance: Decimal  # the running balance after this line
    entry_id: int = 0
    reference: str = ""
    # the description's own words, no English around them (a panel in another language shows
    # its label of `kind` and this): the number called and seconds, the adjustment's reason,
    # the lot's reference
    detail: str = ""


@dataclass(frozen=True)
class Statement:
    """An account's money over [start, end). All amounts Decimal, 4 places.

    closing_balance = opening_balance + credit_bought + adjustments - charges - plan_fees
                    = opening_balance + sum(line.amount for line in lines), exactly.
    `payments` is the part of credit_bought that came from the payment portal (informational:
    it is already inside credit_bought, do not add it again)."""

    account_id: int
    start: dt.datetime
    end: dt.datetime
    opening_balance: Decimal  # sum of the entries before start
    charges: Decimal  # calls charged, as a positive number (minus the 'charge' entries)
    plan_fees: Decimal  # plan fees, as a positive number (minus the 'plan_fee' entries)
    credit_bought: Decimal  # voucher + payment + admin + demo lots (positive)
    payments: Decimal  # the 'payment' entries alone (inside credit_bought)
    adjustments: Decimal  # signed: credit + refund - debit (manual, with a reason)
    closing_balance: Decimal
    lines: list[StatementLine] = field(default_factory=list)


def statement(session: Session, account_id: int, start: dt.datetime, end: dt.datetime) -> Statement:
    """The account's statement for [start, end), instants with a time zone (compare in UTC;
    a month in the account's zone is the caller's to turn into two instants).

    Reads ledger_entries only (one sum for the opening, the period's rows in (at, id) order),
    so it equals the balance: closing_balance is the balance the account had at `end` (= the
    current sum(credit_lots.remaining) when end is now or later). Read-only, no locks.
    Run it in a REPEATABLE READ transaction (or accept that an entry committed between its
    two statements may be in the lines but not the opening) when the account is live."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("statement() takes instants with a time zone")
    opening = Decimal(
        session.scalar(
            text("SELECT coalesce(sum(amount), 0) FROM ledger_entries WHERE account_id = :a AND at < :s"),
            {"a": account_id, "s": start},
        )
    )
    lines = statement_lines(session, account_id, start, end, opening)

    def total(*kinds: str) -> Decimal:
        return sum((line.amount for line in lines if line.kind in kinds), ZERO)

    closing = opening + sum((line.amount for line in lines), ZERO)
    return Statement(
        account_id=account_id,
        start=start,
        end=end,
        opening_balance=opening,
        charges=-total("charge"),
        plan_fees=-total("plan_fee"),
        credit_bought=total("voucher", "payment", "admin", "demo"),
        payments=total("payment"),
        adjustments=total("credit", "debit", "refund"),
        closing_balance=closing,
        lines=lines,
    )


# ---------------------------------------------------------------------------------------------
# Money by hand

KINDS = ("credit", "debit", "refund")
MAX_AMOUNT = Decimal("100000")  # one adjustment; a bigger sum is a typo or several adjustments
MAX_REASON = 500
PLACES = Decimal("0.0001")
# C0 and C1 controls, and the invisible marks that reorder or hide text shown to the member
# (bidi embeddings, overrides and isolates; zero-width space; BOM). Line breaks and tabs are
# turned into spaces first (the form's field is a textarea).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]")
_BREAKS = re.compile(r"[ \t]*[\r\n\t]+[ \t]*")


class AdjustmentError(ServiceError):
    """A refused adjustment (nothing was changed). `msgid` and `params` let the panel say it
    in the operator's language; str() is the English message."""

    def __init__(self, msgid: str, **params: Any) -> None:
        self.msgid = msgid
        self.params = params
        super().__init__(msgid % params if params else msgid)


# every message adjust() raises (the panel marks them for translation: webpanel/admin/money_views.py)
MESSAGES = (
    "Choose credit, debit or refund.",
    "Enter an amount greater than zero, such as 5 or 12.50.",
    "An amount has at most 4 decimal places.",
    "An amount is at most %(max)s.",
    "A reason is required.",
    "A reason has at most 500 characters.",
    "A reason may not contain control characters.",
    "No such account.",
    "Only an operator can move money by hand.",
    "Charge %(charge)s is not a charge of this account.",
    "A refund of charge %(charge)s can be at most %(left)s (its cost minus earlier refunds).",
    "Only a refund names a charge.",
    "A debit of %(amount)s is more than the available balance of %(available)s.",
)


@dataclass(frozen=True)
class Adjusted:
    adjustment_id: int
    kind: str
    amount: Decimal
    credit_lot_id: int | None  # a credit's or refund's new lot
    balance: Decimal  # the account's balance (sum of its lots) after it


def parse_amount(value: object) -> Decimal:
    """An adjustment's amount: > 0, at most 4 decimal places, at most MAX_AMOUNT.

    Text goes through the one strict parser (controller.rules.amounts, issue 13 item 8): ASCII
    digits and one dot only, so "12,50" is refused rather than read as 1250, and "1e100",
    "Infinity", "١٢" are refused too. A Decimal (the REST API's schema) is checked for size
    before it is rounded (quantizing 1E+100 raises); a float is never money."""
    if isinstance(value, Decimal):
        if not value.is_finite() or value <= 0:
            raise AdjustmentError("Enter an amount greater than zero, such as 5 or 12.50.")
        if value > MAX_AMOUNT:
            raise AdjustmentError("An amount is at most %(max)s.", max=f"{MAX_AMOUNT:,.2f}")
        if value != value.quantize(PLACES, rounding=ROUND_DOWN):
            raise AdjustmentError("An amount has at most 4 decimal places.")
        return value.quantize(PLACES)
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise AdjustmentError("Enter an amount greater than zero, such as 5 or 12.50.")
    try:
        return amounts.parse_amount(str(value), amounts.MONEY, largest=MAX_AMOUNT, allow_zero=False)
    except amounts.AmountError as exc:
        if exc.reason == amounts.TOO_PRECISE:
            raise AdjustmentError("An amount has at most 4 decimal places.") from None
        if exc.reason == amounts.TOO_LARGE:
            raise AdjustmentError("An amount is at most %(max)s.", max=f"{MAX_AMOUNT:,.2f}") from None
        raise AdjustmentError("Enter an amount greater than zero, such as 5 or 12.50.") from None


def parse_reason(value: object) -> str:
    reason = _BREAKS.sub(" ", str(value or "").strip())
    if not reason:
        raise AdjustmentError("A reason is required.")
    if len(reason) > MAX_REASON:
        raise AdjustmentError("A reason has at most 500 characters.")
    if _CONTROL.search(reason):
        raise AdjustmentError("A reason may not contain control characters.")
    return reason


def refundable(session: Session, charge_id: int, *, lock: bool = False) -> tuple[int | None, Decimal]:
    """The charge's account and what may still be refunded of it: its cost minus the refunds
    that named it. `lock` row-locks the charge (two refunds of one charge queue up)."""
    row = session.execute(
        text(
            "SELECT account_id, cost FROM cdr_charges WHERE id = :c" + (" FOR NO KEY UPDATE" if lock else "")
        ),
        {"c": charge_id},
    ).one_or_none()
    if row is None:
        return None, ZERO
    refunded = session.scalar(
        text(
            "SELECT coalesce(sum(amount), 0) FROM account_adjustments WHERE cdr_charge_id = :c AND kind = 'refund'"
        ),
        {"c": charge_id},
    )
    return row.account_id, max(ZERO, Decimal(row.cost) - Decimal(refunded))


def adjust(
    session: Session,
    admin: User,
    account_id: int,
    kind: str,
    amount: object,
    reason: object,
    *,
    cdr_charge_id: int | None = None,
    remote_addr: str = "",
) -> Adjusted:
    """Move money by hand on the account, in the caller's transaction (the caller commits):

    - credit: a new credit lot (source 'admin', reference 'adjustment:<id>');
    - refund: the same, kind refund; naming a charge of the account (`cdr_charge_id`) it is at
      most that charge's cost minus the earlier refunds of it (the charge row-locked meanwhile);
    - debit: taken from the lots oldest first under the rater's locks (db.billing.lock_accounts:
      the account's subscriptions then its lots, by id), so it never races a rating, a hold or
      another debit; refused when more than the available balance (the lots minus the credit
      the open holds reserve).

    The ledger entry is the trigger's (migration 0024); the audit entry is admin.credit_adjust
    with the kind, amount and reason. Raises AdjustmentError, with nothing changed, on bad input."""
    if admin is None or getattr(admin, "role", None) != "admin":
        raise AdjustmentError("Only an operator can move money by hand.")
    if kind not in KINDS:
        raise AdjustmentError("Choose credit, debit or refund.")
    value = parse_amount(amount)
    why = parse_reason(reason)
    if session.get(Account, account_id) is None:
        raise AdjustmentError("No such account.")
    if cdr_charge_id is not None and kind != "refund":
        raise AdjustmentError("Only a refund names a charge.")
    details: dict[str, Any] = {"kind": kind, "amount": str(value), "reason": why}
    lot_id: int | None = None
    adj_id = int(session.scalar(text("SELECT nextval('account_adjustments_id_seq')")) or 0)
    if kind == "refund" and cdr_charge_id is not None:
        owner, left = refundable(session, cdr_charge_id, lock=True)
        if owner != account_id:
            raise AdjustmentError("Charge %(charge)s is not a charge of this account.", charge=cdr_charge_id)
        if value > left:
            raise AdjustmentError(
                "A refund of charge %(charge)s can be at most %(left)s (its cost minus earlier refunds).",
                charge=cdr_charge_id,
                left=f"{left:.4f}",
            )
        details["cdr_charge_id"] = cdr_charge_id
    if kind == "debit":
        locked = billing.lock_accounts(session, [account_id])
        _, state = billing.money_state(session, account_id, None)
        # only the lots locked above can be taken from: a lot committed while this waited for
        # the locks is in the state's sum (a later snapshot) but not in `locked`
        state = dataclasses.replace(state, lots_remaining=locked.lots_remaining(account_id))
        available = money.credit_available(state)
        if value > available:
            raise AdjustmentError(
                "A debit of %(amount)s is more than the available balance of %(available)s.",
                amount=f"{value:.4f}",
                available=f"{available:.4f}",
            )
        taken: list[list[Any]] = []
        want = value
        for lot in locked.lots.get(account_id, ()):
            part = min(want, lot.remaining)
            if part <= 0:
                continue
            session.execute(
                text(
                    "UPDATE credit_lots SET remaining = remaining - :amt, last_used_at = now() WHERE id = :id"
                ),
                {"amt": part, "id": lot.id},
            )
            lot.remaining -= part
            want -= part
            taken.append([lot.id, str(part)])
            if want <= 0:
                break
        if want > 0:  # cannot happen: available <= the lots' sum, all locked
            raise AdjustmentError(
                "A debit of %(amount)s is more than the available balance of %(available)s.",
                amount=f"{value:.4f}",
                available=f"{available:.4f}",
            )
        details["lots"] = taken
    else:
        lot_id = session.scalar(
            text(
                "INSERT INTO credit_lots (account_id, original, remaining, source, reference)"
                " VALUES (:a, :amt, :amt, 'admin', :ref) RETURNING id"
            ),
            {"a": account_id, "amt": value, "ref": f"adjustment:{adj_id}"},
        )
        details["credit_lot_id"] = lot_id
    session.execute(
        text(
            "INSERT INTO account_adjustments (id, account_id, kind, amount, reason, actor_user_id,"
            " remote_addr, cdr_charge_id, credit_lot_id)"
            " VALUES (:id, :a, :k, :amt, :r, :u, :ip, :c, :l)"
        ),
        {
            "id": adj_id,
            "a": account_id,
            "k": kind,
            "amt": value,
            "r": why,
            "u": admin.id,
            "ip": (remote_addr or "")[:64],
            "c": cdr_charge_id,
            "l": lot_id,
        },
    )
    audit(
        session,
        "admin.credit_adjust",
        actor=admin,
        account_id=account_id,
        object_type="account_adjustments",
        object_id=adj_id,
        details=details,
        remote_addr=remote_addr,
    )
    return Adjusted(adj_id, kind, value, lot_id, balance(session, account_id))


# ---------------------------------------------------------------------------------------------
# Reading


def balance(session: Session, account_id: int) -> Decimal:
    """sum(credit_lots.remaining): the balance (= the sum of the account's ledger entries)."""
    return Decimal(
        session.scalar(
            text("SELECT coalesce(sum(remaining), 0) FROM credit_lots WHERE account_id = :a"),
            {"a": account_id},
        )
    )


def ledger_sum(session: Session, account_id: int) -> Decimal:
    return Decimal(
        session.scalar(
            text("SELECT coalesce(sum(amount), 0) FROM ledger_entries WHERE account_id = :a"),
            {"a": account_id},
        )
    )


_LINES = """
    SELECT e.id, e.at, e.kind, e.amount, e.reference, e.cdr_charge_id, adj.reason, adj.cdr_charge_id AS refunded,
           coalesce(nullif(c.dialed, ''), c.dst, '') AS dialed, ch.billable_seconds, ch.call_type
      FROM ledger_entries e
      LEFT JOIN account_adjustments adj ON adj.id = e.adjustment_id
      LEFT JOIN cdr_charges ch ON ch.id = e.cdr_charge_id AND e.kind = 'charge'
      LEFT JOIN cdr c ON c.id = ch.cdr_id
     WHERE e.account_id = :a AND e.at >= :start AND e.at < :end
     ORDER BY e.at, e.id"""

_LOT_WORDS = {
    "voucher": "Voucher",
    "payment": "Payment",
    "admin": "Credit added by the operator",
    "demo": "Demo credit",
    "plan_fee": "Plan fee",
}


def _detail(r: Any) -> str:
    if r.kind == "charge":
        return f"{r.dialed or '?'} ({r.billable_seconds or 0} s)"
    if r.kind in KINDS:
        return (f"#{r.refunded} " if r.kind == "refund" and r.refunded is not None else "") + (r.reason or "")
    return "" if r.reference.startswith("adjustment:") else r.reference


def _describe(r: Any) -> str:
    if r.kind == "charge":
        return f"Call to {r.dialed or 'unknown'} ({r.billable_seconds or 0} s)"
    if r.kind in KINDS:
        head = {"credit": "Credit", "debit": "Debit", "refund": "Refund"}[r.kind]
        if r.kind == "refund" and r.refunded is not None:
            head += f" of charge {r.refunded}"
        return f"{head}: {r.reason}" if r.reason else head
    word = _LOT_WORDS.get(r.kind, r.kind)
    return f"{word} ({r.reference})" if r.reference else word


def statement_lines(
    session: Session, account_id: int, start: dt.datetime, end: dt.datetime, opening: Decimal
) -> list[StatementLine]:
    out = []
    running = opening
    for r in session.execute(text(_LINES), {"a": account_id, "start": start, "end": end}):
        running += r.amount
        out.append(
            StatementLine(r.at, r.kind, _describe(r), r.amount, running, r.id, r.reference, _detail(r))
        )
    return out


def entries(session: Session, account_id: int, limit: int = 20) -> list[StatementLine]:
    """The account's latest ledger entries, newest first, with the balance after each."""
    now_end = dt.datetime.max.replace(tzinfo=dt.UTC)
    rows = session.execute(
        text(_LINES.replace("ORDER BY e.at, e.id", "ORDER BY e.at DESC, e.id DESC LIMIT :n")),
        {"a": account_id, "start": dt.datetime.min.replace(tzinfo=dt.UTC), "end": now_end, "n": limit},
    ).all()
    running = ledger_sum(session, account_id)
    out = []
    for r in rows:
        out.append(
            StatementLine(r.at, r.kind, _describe(r), r.amount, running, r.id, r.reference, _detail(r))
        )
        running -= r.amount
    return out


def adjustments(session: Session, account_id: int, limit: int = 50) -> list[AccountAdjustment]:
    """The account's manual adjustments, newest first (the member sees them with the reason)."""
    return list(
        session.scalars(
            select(AccountAdjustment)
            .where(AccountAdjustment.account_id == account_id)
            .order_by(AccountAdjustment.at.desc(), AccountAdjustment.id.desc())
            .limit(limit)
        )
    )


def account_charges(session: Session, account_id: int, limit: int = 50) -> list[Any]:
    """The account's latest charges with a cost, for the refund form's choice: id, when,
    number dialed, cost, what may still be refunded."""
    return list(
        session.execute(
            text(
                "SELECT ch.id, coalesce(c.start, ch.rated_at) AS at, coalesce(nullif(c.dialed, ''), c.dst, '')"
                " AS dialed, ch.cost, ch.cost - coalesce((SELECT sum(a.amount) FROM account_adjustments a"
                "  WHERE a.cdr_charge_id = ch.id AND a.kind = 'refund'), 0) AS refundable"
                " FROM cdr_charges ch LEFT JOIN cdr c ON c.id = ch.cdr_id"
                " WHERE ch.account_id = :a AND ch.cost > 0 ORDER BY ch.rated_at DESC, ch.id DESC LIMIT :n"
            ),
            {"a": account_id, "n": limit},
        ).all()
    )
