"""Recharge Call Credit: prepaid vouchers redeemed in the panel, and top-ups from the external
payment portal (webpanel.api). Either adds one pay-as-you-go credit lot.

Voucher codes are stored as a keyed hash (controller.rules.secrets.voucher_hmac with settings.pin_hmac_key,
like calling-card PINs), so a code can be looked up but the table cannot be read back. A code is
redeemed once: its row is locked (FOR UPDATE) while it is checked and marked used, so two
members typing the same code at the same moment get one lot between them. Refused codes are
counted per account in the audit log; MAX_FAILURES in FAILURE_WINDOW stops guessing for the
rest of the window (the account row is locked while counting, so parallel guesses count too).
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from controller.rules.secrets import voucher_hmac
from db.audit import audit
from db.errors import ServiceError
from db.models import Account, AuditLog, CreditLot, User, Voucher
from webpanel.filters import localdate
from webpanel.i18n import _

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud or typed from a card
CODE_LENGTH = 16
MAX_FAILURES = 5
FAILURE_WINDOW = dt.timedelta(minutes=15)
REDEEMED, REFUSED = "credit.voucher_redeemed", "credit.voucher_refused"
_CODE = re.compile(r"^[A-Z0-9]{6,32}$")


class VoucherRefused(ServiceError):
    """The code was refused; the failure is recorded in the session (commit it)."""


class TooManyAttempts(ServiceError):
    pass


def canonical_code(raw: str) -> str:
    """A code as printed (XXXX-XXXX-XXXX-XXXX, any case, spaces or dashes) in one spelling."""
    code = re.sub(r"[\s-]", "", raw or "").upper()
    if not _CODE.match(code):
        raise ServiceError(_("A voucher code is 6 to 32 letters and digits, such as ABCD-EFGH-JKLM-NPQR."))
    return code


def code_hmac(key: str, raw: str) -> str:
    """The stored hash of a voucher code typed by a member: refused with a message unless it is
    a well-formed code, then hashed in the one spelling (controller.rules.secrets.voucher_hmac)."""
    return voucher_hmac(key, canonical_code(raw))


def generate_code() -> str:
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(code[i : i + 4] for i in range(0, CODE_LENGTH, 4))


def create_voucher(
    session: Session, key: str, amount: Decimal, *, expires_at: dt.datetime | None = None
) -> tuple[Voucher, str]:
    """A new voucher worth `amount`; returns it with its code (shown once, never stored)."""
    amount = Decimal(amount)
    if amount <= 0:
        raise ServiceError(_("A voucher is worth more than $0."))
    code = generate_code()
    voucher = Voucher(code_hmac=code_hmac(key, code), amount=amount, expires_at=expires_at)
    session.add(voucher)
    session.flush()
    return voucher, code


def recent_failures(session: Session, account_id: int, now: dt.datetime) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(AuditLog)
            .where(
                AuditLog.account_id == account_id,
                AuditLog.action == REFUSED,
                AuditLog.at > now - FAILURE_WINDOW,
            )
        )
        or 0
    )


def redeem_voucher(
    session: Session,
    key: str,
    user: User,
    raw_code: str,
    *,
    remote_addr: str = "",
    now: dt.datetime | None = None,
) -> CreditLot:
    """Add the voucher's amount to the user's account as a credit lot. Raises TooManyAttempts,
    ServiceError (a malformed code: nothing recorded) or VoucherRefused (recorded: commit)."""
    now = now or dt.datetime.now(dt.UTC)
    account_id = user.account_id
    if account_id is None:
        raise ServiceError(_("Only members can redeem vouchers."))
    session.execute(select(Account.id).where(Account.id == account_id).with_for_update(key_share=True))
    if recent_failures(session, account_id, now) >= MAX_FAILURES:
        raise TooManyAttempts(
            _(
                "Too many voucher codes were refused. Please try again in %(minutes)s minutes.",
                minutes=int(FAILURE_WINDOW.total_seconds() // 60),
            )
        )
    code = canonical_code(raw_code)
    voucher = session.scalar(
        select(Voucher).where(Voucher.code_hmac == voucher_hmac(key, code)).with_for_update()
    )
    problem = None
    if voucher is None:
        problem, reason = _("That voucher code is not valid. Check the code and try again."), "unknown"
    elif voucher.redeemed_at is not None:
        problem, reason = _("That voucher has already been used."), "used"
    elif voucher.voided_at is not None:  # voiding also expires it: say which it was
        problem, reason = _("That voucher was voided."), "voided"
    elif voucher.expires_at is not None and voucher.expires_at <= now:
        problem, reason = (
            _("That voucher expired on %(day)s.", day=localdate(voucher.expires_at, "UTC")),
            "expired",
        )
    if problem is not None:
        audit(
            session,
            REFUSED,
            actor=user,
            account_id=account_id,
            details={"reason": reason, "voucher_id": voucher.id if voucher else None},
            remote_addr=remote_addr,
        )
        session.flush()
        raise VoucherRefused(problem)
    assert voucher is not None  # an unknown code is a problem above

    lot = CreditLot(
        account_id=account_id,
        original=voucher.amount,
        remaining=voucher.amount,
        source="voucher",
        reference=f"voucher {voucher.id}",
        purchased_at=now,
    )
    session.add(lot)
    session.flush()
    voucher.redeemed_at, voucher.redeemed_by_account_id, voucher.credit_lot_id = now, account_id, lot.id
    audit(
        session,
        REDEEMED,
        actor=user,
        account_id=account_id,
        obj=voucher,
        details={"amount": str(voucher.amount), "credit_lot_id": lot.id},
        remote_addr=remote_addr,
    )
    session.flush()
    return lot


def recent_recharges(session: Session, account_id: int, limit: int = 10) -> list[CreditLot]:
    return list(
        session.scalars(
            select(CreditLot)
            .where(CreditLot.account_id == account_id, CreditLot.source.in_(("voucher", "payment")))
            .order_by(CreditLot.purchased_at.desc(), CreditLot.id.desc())
            .limit(limit)
        )
    )
