"""Operator admin: accounts and users, DIDs, plans and subscriptions, vouchers, rate decks.

Each function takes an open Session and the acting admin, checks its input again (a bad value
never reaches the database whatever the path), writes one AuditLog row per change with the
admin as actor, and leaves the commit to the caller.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import false, func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement, Select

from controller.rules import amounts
from controller.rules import secrets as sec
from db import accounts as db_accounts
from db import rates as db_rates
from db.audit import audit
from db.errors import ServiceError
from db.models import (
    Account,
    AuditLog,
    CallingPlan,
    CreditLot,
    Did,
    PlanSubscription,
    Rate,
    RateDeck,
    User,
    VirtualNumber,
    Voucher,
)
from webpanel.admin.forms import MAX_PLAN_PRICE
from webpanel.converters import INT4_MAX
from webpanel.filters import zone
from webpanel.i18n import _
from webpanel.password.services import check_strength
from webpanel.recharge import services as recharge
from webpanel.validation import FieldErrors, check_amount, check_email

ACCOUNT_STATUSES = ("active", "suspended", "closed")
PAGE_SIZE = 50
MAX_VOUCHERS = 100
MAX_VOUCHER_AMOUNT = Decimal("1000")
CENTS_COLUMN = amounts.Column(12, 2)  # vouchers: whole cents, stored in a MONEY column (issue 13)
MAX_DECK_ERRORS = 100


# --- accounts and users --------------------------------------------------------------------


def search_accounts(q: str = "", status: str = "") -> Select:
    """Accounts whose id, name, company, email or one of whose virtual numbers or logins
    matches `q` (digits match numbers by prefix)."""
    query = select(Account)
    q = (q or "").strip()[:80]
    if q:
        like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        numbers = select(VirtualNumber.account_id).where(
            VirtualNumber.number.like(q + "%") if q.isascii() and q.isdigit() else false()
        )
        logins = select(User.account_id).where(User.login.ilike(like), User.account_id.is_not(None))
        conditions: list[ColumnElement[bool]] = [
            Account.first_name.ilike(like),
            Account.last_name.ilike(like),
            Account.company.ilike(like),
            Account.email.ilike(like),
            Account.id.in_(numbers),
            Account.id.in_(logins),
            (Account.first_name + " " + Account.last_name).ilike(like),
        ]
        if q.isascii() and q.isdigit() and len(q) <= 9:  # isdigit alone: ² too, int() refuses it
            conditions.append(Account.id == int(q))
        query = query.where(or_(*conditions))
    if status in ACCOUNT_STATUSES:
        query = query.where(Account.status == status)
    return query.order_by(Account.id.desc())


def check_new_account(session: Session, *, number: str, password: str, email: str) -> str:
    """Every problem of a new account's number, password and email at once (FieldErrors keyed
    by the New account form's fields, issue 16); returns the email as stored."""
    errors: dict[str, list[str]] = {}
    number = (number or "").strip()
    if not (number.isascii() and number.isdigit()) or not 4 <= len(number) <= 15:
        errors["number"] = [_("A virtual number is 4 to 15 digits.")]
    elif session.scalar(select(User.id).where(User.login == number)):
        errors["number"] = [_("%(login)s is already a login.", login=number)]
    problems = check_strength(password or "", number)
    if problems:
        errors["password"] = [" ".join(problems)]
    if email:
        try:
            email = check_email(email)
        except ServiceError as exc:
            errors["email"] = [str(exc)]
    if errors:
        raise FieldErrors(errors)
    return email


def create_account(
    session: Session,
    admin: User,
    *,
    number: str,
    password: str,
    first_name: str,
    last_name: str,
    email: str,
    realm: str,
    remote_addr: str = "",
    password_hash: str | None = None,
) -> Account:
    """`password_hash`: see db.accounts.create_account (the password's rules apply all the same)."""
    email = check_new_account(session, number=number, password=password, email=email)
    account, user, vn = db_accounts.create_account(
        session,
        login_number=number,
        password=password,
        first_name=first_name.strip()[:80],
        last_name=last_name.strip()[:80],
        email=email,
        realm=realm,
        password_hash=password_hash,
        actor=admin,
        remote_addr=remote_addr,
    )
    audit(
        session,
        "admin.account_create",
        actor=admin,
        account_id=account.id,
        obj=account,
        details={"number": vn.number, "primary_user_id": user.id},
        remote_addr=remote_addr,
    )
    return account


def set_account_status(
    session: Session, admin: User, account: Account, status: str, *, remote_addr: str = ""
) -> None:
    """Suspended or closed accounts cannot log in (access.load_logged_in_user ends their sessions).
    A suspended account's devices keep their endpoints in context `suspended`: 911 only, every
    other call refused and announced, calls to its numbers and DIDs refused (migration 0025);
    a closed account's endpoints are gone. Live on commit: the session's realtime-cache hook
    expires the account's numbers in Asterisk (controller/services/realtime_cache.py)."""
    if status not in ACCOUNT_STATUSES:
        raise ServiceError(_("Choose active, suspended or closed."))
    if account.status == status:
        raise ServiceError(_("The account is already %(status)s.", status=status))
    before, account.status = account.status, status
    session.flush()
    audit(
        session,
        "admin.account_status",
        actor=admin,
        account_id=account.id,
        obj=account,
        details={"from": before, "to": status},
        remote_addr=remote_addr,
    )


def add_number(
    session: Session, admin: User, account: Account, number: str, *, realm: str, remote_addr: str = ""
) -> VirtualNumber:
    vn = db_accounts.add_virtual_number(
        session, account, number, realm=realm, actor=admin, remote_addr=remote_addr
    )
    audit(
        session,
        "admin.number_add",
        actor=admin,
        account_id=account.id,
        obj=vn,
        details={"number": vn.number},
        remote_addr=remote_addr,
    )
    return vn


def check_secondary_user(
    session: Session, account: Account, number: str, password: str, email: str = ""
) -> tuple[VirtualNumber, str]:
    """Every problem of a new secondary user at once (FieldErrors keyed by the Add user form's
    fields, issue 16), or the number and the cleaned email."""
    errors: dict[str, list[str]] = {}
    vn = session.scalar(
        select(VirtualNumber).where(
            VirtualNumber.account_id == account.id, VirtualNumber.number == (number or "").strip()
        )
    )
    if vn is None:
        errors["number"] = [_("Choose one of this account's virtual numbers.")]
    problems = check_strength(password or "", vn.number if vn else (number or ""))
    if problems:
        errors["password"] = [" ".join(problems)]
    if email:
        try:
            email = check_email(email)
        except ServiceError as exc:
            errors["email"] = [str(exc)]
    if errors or vn is None:
        raise FieldErrors(errors)
    return vn, email


def add_secondary_user(
    session: Session,
    admin: User,
    account: Account,
    number: str,
    password: str,
    email: str = "",
    *,
    remote_addr: str = "",
) -> User:
    vn, email = check_secondary_user(session, account, number, password, email)
    user = db_accounts.add_secondary_user(session, vn, password, email, actor=admin, remote_addr=remote_addr)
    audit(
        session,
        "admin.user_create",
        actor=admin,
        account_id=account.id,
        obj=user,
        details={"login": user.login, "role": user.role},
        remote_addr=remote_addr,
    )
    return user


def reset_password(
    session: Session, admin: User, user: User, password: str, *, remote_addr: str = ""
) -> None:
    """A new password the admin gives the member (argon2-hashed like every panel password); every
    session of the user ends and a login lockout is lifted."""
    if user.role == "admin" and user.id != admin.id:
        raise ServiceError(_("An operator admin changes their own password on Change Password."))
    problems = check_strength(password or "", user.login)
    if problems:
        raise ServiceError(" ".join(problems))
    user.password_hash = sec.hash_password(password)
    user.session_version = user.session_version + 1
    # issue 13 (panel sessions): every session row ends, every login limit on the login is lifted
    from webpanel.auth import services as auth_services
    from webpanel.auth import sessions as auth_sessions

    auth_sessions.revoke_all(session, user.id)
    auth_services.lift(session, user)
    session.flush()
    audit(
        session,
        "admin.user_password_reset",
        actor=admin,
        account_id=user.account_id,
        obj=user,
        details={"login": user.login},
        remote_addr=remote_addr,
    )


# --- DIDs ----------------------------------------------------------------------------------


def search_dids(q: str = "") -> Select:
    query = select(Did)
    q = (q or "").strip()[:20]
    if q.isascii() and q.isdigit():
        query = query.where(or_(Did.number.like(q + "%"), Did.account_id == (int(q) if len(q) <= 9 else -1)))
    return query.order_by(Did.number)


def check_new_did(session: Session, number: str, account_id: int | None) -> str:
    """Every problem of a new DID at once (FieldErrors keyed by the form's fields, issue 16)."""
    errors: dict[str, list[str]] = {}
    number = (number or "").strip()
    if not (number.isascii() and number.isdigit()) or not 4 <= len(number) <= 15:
        errors["number"] = [_("A DID is 4 to 15 digits.")]
    elif session.scalar(select(Did.id).where(Did.number == number)):
        errors["number"] = [_("DID %(number)s already exists.", number=number)]
    if account_id is not None and (
        not 1 <= account_id <= INT4_MAX or session.get(Account, account_id) is None
    ):
        errors["account_id"] = [_("There is no account %(id)s.", id=account_id)]
    if errors:
        raise FieldErrors(errors)
    return number


def create_did(
    session: Session, admin: User, number: str, account_id: int | None, *, remote_addr: str = ""
) -> Did:
    number = check_new_did(session, number, account_id)
    did = Did(number=number, account_id=account_id, connection="none")
    session.add(did)
    session.flush()
    audit(
        session,
        "admin.did_create",
        actor=admin,
        account_id=account_id,
        obj=did,
        details={"number": number},
        remote_addr=remote_addr,
    )
    return did


def connect_did(
    session: Session,
    admin: User,
    did: Did,
    *,
    account_id: int | None,
    target: str,
    fax_email: str = "",
    remote_addr: str = "",
) -> None:
    """Assign the DID to an account (or to none) and connect it to one of that account's
    virtual numbers, to Fax to Email (with its address), or to nothing."""
    if account_id is not None and session.get(Account, account_id) is None:
        raise ServiceError(_("There is no account %(id)s.", id=account_id))
    target = (target or "").strip()
    before = {
        "account_id": did.account_id,
        "connection": did.connection,
        "virtual_number_id": did.virtual_number_id,
        "fax_email": did.fax_email,
    }
    if target == "fax_to_email":
        if account_id is None:
            raise ServiceError(_("Assign the DID to an account before connecting it."))
        did.fax_email = check_email(fax_email, "email address to receive faxes")
        did.connection, did.virtual_number_id = "fax_to_email", None
    elif target in ("", "none"):
        did.connection, did.virtual_number_id, did.fax_email = "none", None, None
    else:
        vn = session.scalar(select(VirtualNumber).where(VirtualNumber.number == target))
        if vn is None or account_id is None or vn.account_id != account_id:
            raise ServiceError(
                _(
                    "Virtual number %(number)s is not on account %(account)s.",
                    number=target,
                    account=account_id if account_id is not None else "—",
                )
            )
        did.connection, did.virtual_number_id, did.fax_email = "virtual_number", vn.id, None
    did.account_id = account_id
    session.flush()
    audit(
        session,
        "admin.did_connect",
        actor=admin,
        account_id=account_id,
        obj=did,
        details={"before": before, "connection": did.connection, "target": target or "none"},
        remote_addr=remote_addr,
    )


# --- plans and subscriptions --------------------------------------------------------------


@dataclass(frozen=True)
class PlanValues:
    name: str
    regional_minutes: int
    us_canada_minutes: int
    monthly_price: Decimal
    active: bool


def plan_name_errors(session: Session, name: str, plan_id: int | None = None) -> list[str]:
    name = " ".join((name or "").split())
    if not name or len(name) > 80:
        return [_("A plan name is 1 to 80 characters.")]
    taken = session.scalar(
        select(CallingPlan.id).where(
            func.lower(CallingPlan.name) == name.lower(), CallingPlan.id != (plan_id or -1)
        )
    )
    return [_("There is already a plan named %(name)s.", name=name)] if taken else []


def check_plan(session: Session, values: PlanValues, plan_id: int | None = None) -> PlanValues:
    """Every problem at once (FieldErrors keyed by the plan form's fields, issue 16)."""
    errors: dict[str, list[str]] = {}
    name = " ".join((values.name or "").split())
    if problems := plan_name_errors(session, name, plan_id):
        errors["name"] = problems
    for field_name, minutes in (
        ("regional_minutes", values.regional_minutes),
        ("us_canada_minutes", values.us_canada_minutes),
    ):
        if minutes is None or not 0 <= minutes <= 1_000_000:
            errors[field_name] = [_("Minutes are a whole number from 0 to 1,000,000.")]
    price = None
    if values.monthly_price is None or not values.monthly_price.is_finite():
        errors["monthly_price"] = [_("The monthly price is a positive amount.")]
    else:
        # issue 13 item 8: the strict parser again (what a form let through, or a caller without one)
        try:
            price = check_amount(
                format(values.monthly_price, "f"), amounts.MONEY, _("monthly price"), largest=MAX_PLAN_PRICE
            )
        except ServiceError as exc:
            errors["monthly_price"] = [str(exc)]
    if errors or price is None:
        raise FieldErrors(errors)
    return PlanValues(name, values.regional_minutes, values.us_canada_minutes, price, bool(values.active))


def save_plan(
    session: Session,
    admin: User,
    values: PlanValues,
    plan: CallingPlan | None = None,
    *,
    remote_addr: str = "",
) -> CallingPlan:
    values = check_plan(session, values, plan.id if plan else None)
    created = plan is None
    if plan is None:
        plan = CallingPlan()
        session.add(plan)
    plan.name, plan.regional_minutes, plan.us_canada_minutes = (
        values.name,
        values.regional_minutes,
        values.us_canada_minutes,
    )
    plan.monthly_price, plan.active = values.monthly_price, values.active
    session.flush()
    audit(
        session,
        "admin.plan_create" if created else "admin.plan_update",
        actor=admin,
        obj=plan,
        details={
            "name": plan.name,
            "regional_minutes": plan.regional_minutes,
            "us_canada_minutes": plan.us_canada_minutes,
            "monthly_price": str(plan.monthly_price),
            "active": plan.active,
        },
        remote_addr=remote_addr,
    )
    return plan


def delete_plan(session: Session, admin: User, plan: CallingPlan, *, remote_addr: str = "") -> None:
    used = session.scalar(
        select(func.count()).select_from(PlanSubscription).where(PlanSubscription.plan_id == plan.id)
    )
    if used:
        raise ServiceError(
            _("%(name)s has subscriptions; make it inactive instead of deleting it.", name=plan.name)
        )
    audit(
        session,
        "admin.plan_delete",
        actor=admin,
        obj=plan,
        details={"name": plan.name},
        remote_addr=remote_addr,
    )
    session.delete(plan)
    session.flush()


def account_today(account: Account, now: dt.datetime | None = None) -> dt.date:
    """Today on the account's calendar (its time zone), not the server's: a plan's renew date
    is a day the member reads in their zone."""
    return (now or dt.datetime.now(dt.UTC)).astimezone(zone(account.time_zone)).date()


def check_subscription(
    session: Session,
    account: Account,
    plan_id: int | None,
    renew_date: dt.date | None,
    enabled_number: str = "",
    *,
    now: dt.datetime | None = None,
) -> tuple[CallingPlan, int | None]:
    """Every problem of Subscribe to a plan at once (FieldErrors keyed by the form's fields,
    issue 16), or the plan and the enabled number's id."""
    errors: dict[str, list[str]] = {}
    plan = session.get(CallingPlan, plan_id) if plan_id is not None and 1 <= plan_id <= INT4_MAX else None
    if plan is None or not plan.active:
        errors["plan_id"] = [_("Choose an active calling plan.")]
    if renew_date is None or renew_date <= account_today(account, now):
        errors["renew_date"] = [_("The renew date is a date after today.")]
    vn_id = None
    if enabled_number:
        vn = session.scalar(
            select(VirtualNumber).where(
                VirtualNumber.account_id == account.id, VirtualNumber.number == enabled_number
            )
        )
        if vn is None:
            errors["enabled_number"] = [
                _("Choose one of this account's virtual numbers as the enabled phone.")
            ]
        else:
            vn_id = vn.id
    if errors or plan is None:
        raise FieldErrors(errors)
    return plan, vn_id


def subscribe(
    session: Session,
    admin: User,
    account: Account,
    plan_id: int,
    renew_date: dt.date,
    enabled_number: str = "",
    *,
    remote_addr: str = "",
    now: dt.datetime | None = None,
) -> PlanSubscription:
    plan, vn_id = check_subscription(session, account, plan_id, renew_date, enabled_number, now=now)
    sub = PlanSubscription(
        account_id=account.id,
        plan_id=plan.id,
        renew_date=renew_date,
        enabled_virtual_number_id=vn_id,
        regional_seconds_left=plan.regional_minutes * 60,
        us_canada_seconds_left=plan.us_canada_minutes * 60,
    )
    session.add(sub)
    session.flush()
    audit(
        session,
        "admin.subscription_create",
        actor=admin,
        account_id=account.id,
        obj=sub,
        details={"plan": plan.name, "renew_date": renew_date.isoformat(), "enabled_number": enabled_number},
        remote_addr=remote_addr,
    )
    return sub


def cancel_subscription(
    session: Session, admin: User, sub: PlanSubscription, *, remote_addr: str = ""
) -> None:
    if not sub.active:
        raise ServiceError(_("That subscription is already cancelled."))
    sub.active = False
    session.flush()
    audit(
        session,
        "admin.subscription_cancel",
        actor=admin,
        account_id=sub.account_id,
        obj=sub,
        remote_addr=remote_addr,
    )


# --- vouchers ------------------------------------------------------------------------------


def parse_amount(raw: str, what: str = "amount") -> Decimal:
    # issue 13 item 8: the strict parser (no 1e2, NaN, full-width digits); in cents
    text = (raw or "").strip()
    try:
        amount = amounts.parse_amount(text[1:] if text.startswith("$") else text, CENTS_COLUMN)
    except amounts.AmountError as exc:
        if exc.reason == amounts.FORMAT:
            raise ServiceError(_("Enter the %(what)s in dollars, such as 10 or 12.50.", what=what)) from None
        amount = None
    if amount is None or amount <= 0 or amount > MAX_VOUCHER_AMOUNT:
        raise ServiceError(
            _(
                "The %(what)s is more than $0 and at most $%(max)s, in cents.",
                what=what,
                max=MAX_VOUCHER_AMOUNT,
            )
        )
    return amount


def check_vouchers(count: int | None, amount_text: str, expires_on: dt.date | None) -> Decimal:
    """Every problem of Generate vouchers at once (FieldErrors keyed by the form's fields,
    issue 16), or the amount."""
    errors: dict[str, list[str]] = {}
    amount = None
    if count is None or not 1 <= count <= MAX_VOUCHERS:
        errors["count"] = [_("Generate 1 to %(max)s vouchers at a time.", max=MAX_VOUCHERS)]
    try:
        amount = parse_amount(amount_text)
    except ServiceError as exc:
        errors["amount"] = [str(exc)]
    if expires_on is not None and expires_on <= dt.datetime.now(dt.UTC).date():
        errors["expires_on"] = [_("The expiry date is a date after today.")]
    if errors or amount is None:
        raise FieldErrors(errors)
    return amount


def generate_vouchers(
    session: Session,
    admin: User,
    key: str,
    count: int,
    amount: Decimal,
    expires_on: dt.date | None,
    *,
    remote_addr: str = "",
) -> list[tuple[Voucher, str]]:
    """`count` vouchers worth `amount` each; their codes are returned once and never stored."""
    if count is None or not 1 <= count <= MAX_VOUCHERS:
        raise ServiceError(_("Generate 1 to %(max)s vouchers at a time.", max=MAX_VOUCHERS))
    expires_at = None
    if expires_on is not None:
        if expires_on <= dt.datetime.now(dt.UTC).date():  # it expires at the end of that UTC day
            raise ServiceError(_("The expiry date is a date after today."))
        expires_at = dt.datetime.combine(expires_on, dt.time(23, 59, 59), tzinfo=dt.UTC)
    made = [recharge.create_voucher(session, key, amount, expires_at=expires_at) for _i in range(count)]
    audit(
        session,
        "admin.vouchers_generate",
        actor=admin,
        details={
            "count": count,
            "amount": str(amount),
            "voucher_ids": [v.id for v, _c in made],
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
        remote_addr=remote_addr,
    )
    return made


VOUCHER_STATES = ("unused", "redeemed", "expired", "voided")


def voucher_state(v: Voucher, now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.UTC)
    if v.voided_at is not None:
        return "voided"
    if v.redeemed_at is not None:
        return "redeemed"
    if v.expires_at is not None and v.expires_at <= now:
        return "expired"
    return "unused"


def search_vouchers(state: str = "") -> Select:
    query = select(Voucher)
    now = func.now()
    if state == "voided":
        query = query.where(Voucher.voided_at.is_not(None))
    elif state == "redeemed":
        query = query.where(Voucher.redeemed_at.is_not(None), Voucher.voided_at.is_(None))
    elif state == "expired":
        query = query.where(
            Voucher.redeemed_at.is_(None), Voucher.voided_at.is_(None), Voucher.expires_at <= now
        )
    elif state == "unused":
        query = query.where(
            Voucher.redeemed_at.is_(None),
            Voucher.voided_at.is_(None),
            or_(Voucher.expires_at.is_(None), Voucher.expires_at > now),
        )
    return query.order_by(Voucher.id.desc())


def void_voucher(session: Session, admin: User, voucher_id: int, *, remote_addr: str = "") -> Voucher:
    """An unused voucher stops being redeemable: voided (the redemption path refuses it as
    voided), and expired as of now (so anything that only looks at expiry refuses it too). The
    row is locked like a redemption locks it."""
    voucher = session.scalar(select(Voucher).where(Voucher.id == voucher_id).with_for_update())
    if voucher is None:
        raise LookupError(voucher_id)
    state = voucher_state(voucher)
    if state != "unused":
        raise ServiceError(_("Voucher %(id)s is %(state)s and cannot be voided.", id=voucher.id, state=state))
    now = dt.datetime.now(dt.UTC)
    voucher.voided_at = now
    voucher.expires_at = now
    session.flush()
    audit(
        session,
        "admin.voucher_void",
        actor=admin,
        obj=voucher,
        details={"amount": str(voucher.amount)},
        remote_addr=remote_addr,
    )
    return voucher


# --- rate decks ----------------------------------------------------------------------------

_LINE = re.compile(r"^Line \d+: ")


def deck_problems(text: str) -> list[str]:
    """Every problem of a CSV rate deck, each naming its line, with the very checks of
    `voipctl rates import` (db.rates.parse_deck, run on each row), plus prefixes repeated."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        return [_("The rate deck is empty.")]
    except csv.Error as exc:
        return [_("Line 1: %(error)s", error=str(exc))]
    fields = [h.strip() for h in header]
    if not {"prefix", "rate_per_minute"} <= set(fields):
        return [_("The rate deck needs a header with at least prefix and rate_per_minute.")]
    problems: list[str] = []
    first_line: dict[str, int] = {}
    rows = 0
    while len(problems) < MAX_DECK_ERRORS:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(_("Line %(line)s: %(error)s", line=start, error=str(exc)))
            break
        if not any(cell.strip() for cell in row):
            continue
        rows += 1
        one = io.StringIO()
        csv.writer(one).writerows([fields, row])
        one.seek(0)
        try:
            db_rates.parse_deck(one)
        except ServiceError as exc:
            problems.append(_("Line %(line)s: %(error)s", line=start, error=_LINE.sub("", str(exc))))
            continue
        prefix = row[fields.index("prefix")].strip() if fields.index("prefix") < len(row) else ""
        if prefix in first_line:
            problems.append(
                _(
                    "Line %(line)s: prefix %(prefix)s appears twice (first on line %(first)s).",
                    line=start,
                    prefix=prefix,
                    first=first_line[prefix],
                )
            )
        else:
            first_line[prefix] = start
    if not problems and not rows:
        problems.append(_("The rate deck has a header but no rates."))
    return problems


def import_rate_deck(
    session: Session, admin: User, name: str, text: str, activate: bool, *, remote_addr: str = ""
) -> tuple[RateDeck | None, list[str]]:
    """Import the deck whole, or nothing at all: (deck, []) or (None, every problem)."""
    name = " ".join((name or "").split())
    if not name or len(name) > 80:
        return None, [_("Give the rate deck a name of 1 to 80 characters.")]
    try:
        rows = db_rates.parse_deck(io.StringIO(text))
    except ServiceError:
        return None, deck_problems(text) or [_("The rate deck could not be read.")]
    deck = db_rates.import_deck(session, name, rows, activate=activate, actor=admin, remote_addr=remote_addr)
    audit(
        session,
        "admin.rates_import",
        actor=admin,
        obj=deck,
        details={"name": name, "prefixes": len(rows), "activated": activate},
        remote_addr=remote_addr,
    )
    return deck, []


def activate_deck(session: Session, admin: User, deck: RateDeck, *, remote_addr: str = "") -> None:
    if deck.active:
        raise ServiceError(_("%(name)s is already the active rate deck.", name=deck.name))
    session.execute(update(RateDeck).where(RateDeck.active.is_(True)).values(active=False))
    session.flush()
    deck.active = True
    session.flush()
    audit(
        session,
        "admin.rates_activate",
        actor=admin,
        obj=deck,
        details={"name": deck.name},
        remote_addr=remote_addr,
    )


def deck_sizes(session: Session) -> dict[int, int]:
    rows = session.execute(select(Rate.deck_id, func.count()).group_by(Rate.deck_id))
    return {deck_id: count for deck_id, count in rows}


# --- what an account page shows ------------------------------------------------------------


def account_credit(session: Session, account_id: int) -> Decimal:
    return session.scalar(
        select(func.coalesce(func.sum(CreditLot.remaining), 0)).where(CreditLot.account_id == account_id)
    ) or Decimal("0")


def audit_entries(action: str = "", account_id: int | None = None) -> Select:
    query = select(AuditLog, User.login).outerjoin(User, User.id == AuditLog.actor_user_id)
    if action:
        query = query.where(AuditLog.action.like(action.replace("%", "").replace("_", "\\_") + "%"))
    if account_id is not None:
        query = query.where(AuditLog.account_id == account_id)
    return query.order_by(AuditLog.id.desc())
