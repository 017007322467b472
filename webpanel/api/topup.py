"""The top-up API's rules, apart from HTTP: signature, request parsing, the idempotent credit.

Signing (what the payment portal does): X-Timestamp is the Unix time in seconds; X-Signature is
the hex HMAC-SHA256, keyed with VOIP_TOPUP_SECRET, of the timestamp, a dot, and the raw body
bytes: hmac(secret, f"{timestamp}.".encode() + body). The timestamp is inside what is signed,
so a captured request cannot be given a fresh timestamp; one older (or newer) than
TOLERANCE is refused. A request the portal retries (same payment_id) within or after that
window never credits twice: payments.provider_payment_id is unique, and a replay answers what
the first request answered.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from controller.rules import amounts
from db.audit import audit
from db.models import Account, CreditLot, Payment, VirtualNumber

TOLERANCE = dt.timedelta(minutes=5)
MAX_BODY = 4096
CURRENCY = "USD"
_PAYMENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,119}$")
_NUMBER = re.compile(r"^[0-9]{4,15}$")
_HEX = re.compile(r"^[0-9a-fA-F]{64}$")


class TopupError(Exception):
    """A refused request: HTTP status, a stable error code, a message for the portal's logs."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field

    def body(self) -> dict[str, Any]:
        out = {"error": self.code, "message": self.message}
        if self.field:
            out["field"] = self.field
        return out


@dataclass(frozen=True)
class TopupRequest:
    payment_id: str
    account: str  # a virtual number of the account to credit
    amount: Decimal


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """What X-Signature must be (the portal's side, and the tests')."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(
    secret: str, timestamp: str | None, signature: str | None, body: bytes, now: dt.datetime | None = None
) -> None:
    now = now or dt.datetime.now(dt.UTC)
    if not timestamp or not timestamp.strip().isdigit() or len(timestamp.strip()) > 12:
        raise TopupError(401, "bad_timestamp", "X-Timestamp must be the Unix time in seconds.")
    sent = dt.datetime.fromtimestamp(int(timestamp.strip()), dt.UTC)
    if abs(now - sent) > TOLERANCE:
        raise TopupError(
            401,
            "stale_timestamp",
            "X-Timestamp is more than 5 minutes from the server's clock; sign the request again.",
        )
    given = (signature or "").strip()
    if given.lower().startswith("sha256="):
        given = given[7:]
    if not _HEX.match(given):
        raise TopupError(
            401, "bad_signature", "X-Signature must be the hex HMAC-SHA256 of '<X-Timestamp>.<body>'."
        )
    expected = sign(secret, timestamp.strip(), body)
    if not hmac.compare_digest(expected, given.lower()):
        raise TopupError(401, "bad_signature", "X-Signature does not match the request.")


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def parse(body: bytes, max_amount: Decimal) -> TopupRequest:
    try:
        data = json.loads(body.decode("utf-8"), parse_float=Decimal, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError):
        raise TopupError(400, "bad_json", "The body is not a JSON object.") from None
    if not isinstance(data, dict):
        raise TopupError(400, "bad_json", "The body is not a JSON object.")
    unknown = set(data) - {"payment_id", "account", "amount", "currency"}
    if unknown:
        raise TopupError(400, "unknown_field", f"Unknown field {sorted(unknown)[0]!r}.", sorted(unknown)[0])

    payment_id = data.get("payment_id")
    if not isinstance(payment_id, str) or not _PAYMENT_ID.match(payment_id):
        raise TopupError(
            400,
            "invalid_field",
            "payment_id is 1 to 120 letters, digits, '_', '.', ':' or '-'.",
            "payment_id",
        )
    account = data.get("account")
    if not isinstance(account, str) or not _NUMBER.match(account):
        raise TopupError(
            400, "invalid_field", "account is a virtual number: 4 to 15 digits, as a string.", "account"
        )
    if data.get("currency") != CURRENCY:
        raise TopupError(400, "invalid_field", "currency must be 'USD'.", "currency")
    amount = _amount(data.get("amount"), max_amount)
    return TopupRequest(payment_id, account, amount)


def _amount(raw: Any, max_amount: Decimal) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, (str, int, Decimal)):
        raise TopupError(
            400, "invalid_field", 'amount is a decimal number of US dollars, such as "25.00".', "amount"
        )
    # a string is read by the one strict parser (controller/rules/amounts.py): no exponent,
    # NaN, sign or non-ASCII digits; more decimals than cents are refused below
    try:
        amount = amounts.parse_amount(raw, amounts.MONEY) if isinstance(raw, str) else Decimal(raw)
    except (InvalidOperation, amounts.AmountError):
        amount = None
    if amount is None or not amount.is_finite():
        raise TopupError(
            400, "invalid_field", 'amount is a decimal number of US dollars, such as "25.00".', "amount"
        )
    if amount <= 0:
        raise TopupError(400, "invalid_field", "amount must be more than 0.", "amount")
    if amount > max_amount:
        raise TopupError(400, "invalid_field", f"amount must be at most {max_amount}.", "amount")
    if amount != amount.quantize(Decimal("0.01")):
        raise TopupError(400, "invalid_field", "amount has at most 2 decimals (cents).", "amount")
    return amount.quantize(Decimal("0.01"))


def _result(payment: Payment, account: str) -> dict[str, Any]:
    return {
        "status": "credited",
        "payment_id": payment.provider_payment_id,
        "account": account,
        "amount": f"{payment.amount:.2f}",
        "currency": CURRENCY,
        "credit_lot_id": payment.credit_lot_id,
        "credited_at": payment.received_at.astimezone(dt.UTC).isoformat(),
    }


def _replay(session: Session, payment: Payment, req: TopupRequest) -> tuple[dict[str, Any], bool]:
    vn_account = session.scalar(select(VirtualNumber.account_id).where(VirtualNumber.number == req.account))
    if vn_account != payment.account_id or payment.amount != req.amount:
        raise TopupError(
            409,
            "payment_id_conflict",
            "This payment_id was already used for another account or amount.",
            "payment_id",
        )
    return _result(payment, req.account), True


def apply(session: Session, req: TopupRequest, *, remote_addr: str = "") -> tuple[dict[str, Any], bool]:
    """Credit the payment once. Returns (result, replayed); the caller commits."""
    existing = session.scalar(select(Payment).where(Payment.provider_payment_id == req.payment_id))
    if existing is not None:
        return _replay(session, existing, req)
    vn = session.scalar(select(VirtualNumber).where(VirtualNumber.number == req.account))
    if vn is None:
        raise TopupError(404, "unknown_account", "No account has this virtual number.", "account")
    status = session.scalar(select(Account.status).where(Account.id == vn.account_id))
    # a suspended account may be paid into (paying is often how it comes back); a closed one not
    if status == "closed":
        raise TopupError(409, "account_closed", "This account is closed.", "account")

    lot = CreditLot(
        account_id=vn.account_id,
        original=req.amount,
        remaining=req.amount,
        source="payment",
        reference=f"payment {req.payment_id}"[:120],
    )
    session.add(lot)
    session.flush()
    # a concurrent request with the same payment_id waits here on the unique index, then
    # inserts nothing: its lot is rolled back and it answers as a replay
    payment_id = session.scalar(
        insert(Payment)
        .values(
            provider_payment_id=req.payment_id,
            account_id=vn.account_id,
            amount=req.amount,
            credit_lot_id=lot.id,
        )
        .on_conflict_do_nothing(index_elements=["provider_payment_id"])
        .returning(Payment.id)
    )
    if payment_id is None:
        session.rollback()
        existing = session.scalars(select(Payment).where(Payment.provider_payment_id == req.payment_id)).one()
        return _replay(session, existing, req)
    audit(
        session,
        "credit.topup",
        account_id=vn.account_id,
        obj=lot,
        details={"payment_id": req.payment_id, "amount": str(req.amount)},
        remote_addr=remote_addr,
    )
    return _result(session.get_one(Payment, payment_id), req.account), False
