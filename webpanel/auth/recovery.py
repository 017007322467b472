"""Account recovery ("Forgot password" on the login page).

A member types a virtual number or an email address; every matching member login with an
active account and an email address gets a link, valid `settings.password_reset_minutes` (30)
minutes, that works once. The answer is the same whether anything matched or not, and as fast:
the request only counts itself against the per-address limit (`allow_address`) and redirects
to the same page; the lookup, the link and the email (`request_reset`) run afterwards, in a
background job (webpanel/auth/mailbox.py), so neither the database work of a match nor the
SMTP conversation shows in the answer's timing.

- The link's token is 256 random bits; only its SHA-256 is stored (db.models.PasswordReset).
  A new request voids the user's older links; a reset, or any password change, voids them all
  (the link remembers the user's session_version).
- Rate limits (counted in the lockouts table, keys hashed like the login's): at most
  PER_ADDRESS requests per REQUEST_WINDOW from one client address (beyond that the page says
  so: it tells nothing about any account), and at most PER_LOGIN emails per LOGIN_WINDOW for one
  login (beyond that nothing is sent, and the answer stays the same). An unknown number or
  address is counted too, so both cost the same database work.
- The reset sets the new password, bumps session_version and revokes every panel session of
  the user (every session ends), lifts every login limit on the login (per login, from every
  address: auth/services.lift), and is audited. Operator admins are not recovered here (voipctl).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import case, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, joinedload

from controller.rules import secrets as sec
from db.audit import audit
from db.models import Account, Lockout, PasswordReset, User
from webpanel.auth import services, sessions

PER_ADDRESS = 10
REQUEST_WINDOW = dt.timedelta(minutes=15)
PER_LOGIN = 3
LOGIN_WINDOW = dt.timedelta(hours=1)
KIND_ADDRESS = "reset_addr"  # lockouts.kind is at most 16 characters
KIND_LOGIN = "reset_login"
MEMBER_ROLES = ("primary", "secondary")
TOKEN_BYTES = 32
MAX_IDENTIFIER = 254
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


@dataclass(frozen=True)
class ResetLink:
    """One email to send: where, for which login, in which language, and the raw token."""

    user_id: int
    login: str
    email: str
    language: str
    token: str


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _key(kind: str, value: str) -> str:
    return hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()


def _count(session: Session, kind: str, key: str, limit: int, window: dt.timedelta, now: dt.datetime) -> bool:
    """Count one request in the lockouts table; True while `limit` per `window` is not exceeded."""
    fresh = Lockout.first_failure_at < now - window
    count = session.scalars(
        insert(Lockout)
        .values(kind=kind, key=key, failures=1, first_failure_at=now)
        .on_conflict_do_update(
            index_elements=[Lockout.kind, Lockout.key],
            set_={
                "failures": case((fresh, 1), else_=Lockout.failures + 1),
                "first_failure_at": case((fresh, now), else_=Lockout.first_failure_at),
            },
        )
        .returning(Lockout.failures)
    ).one()
    return count <= limit


def normalize(identifier: str) -> tuple[str, str]:
    """("email", address) or ("number", digits) or ("", "") for anything else."""
    text = (identifier or "").strip()[:MAX_IDENTIFIER]
    if "@" in text:
        return ("email", text.casefold()) if _EMAIL.match(text) else ("", "")
    digits = re.sub(r"[\s().+-]", "", text)
    return ("number", digits) if digits.isdigit() and 4 <= len(digits) <= 15 else ("", "")


def _matching_users(session: Session, kind: str, value: str) -> list[User]:
    stmt = (
        select(User)
        .join(Account, Account.id == User.account_id)
        .options(joinedload(User.account))
        .where(User.role.in_(MEMBER_ROLES), Account.status == "active")
    )
    if kind == "number":
        stmt = stmt.where(User.login == value)
    else:
        stmt = stmt.where(
            or_(
                func.lower(User.email) == value,
                (User.role == "primary") & (func.lower(Account.email) == value),
            )
        )
    return list(session.scalars(stmt.order_by(User.id).limit(10)).unique())


def recovery_email(user: User) -> str:
    """Where a user's link goes: the login's own email, else (primary holder) the account's."""
    if user.email.strip():
        return user.email.strip()
    if user.role == "primary" and user.account is not None:
        return user.account.email.strip()
    return ""


def allow_address(session: Session, remote_addr: str, *, now: dt.datetime | None = None) -> bool:
    """Count one request from `remote_addr`; False once it made PER_ADDRESS in REQUEST_WINDOW.
    The only work done while the requester waits (the same for every request)."""
    now = now or dt.datetime.now(dt.UTC)
    return _count(
        session, KIND_ADDRESS, _key(KIND_ADDRESS, remote_addr or "?"), PER_ADDRESS, REQUEST_WINDOW, now
    )


def request_reset(
    session: Session,
    identifier: str,
    *,
    remote_addr: str,
    lifetime: dt.timedelta,
    now: dt.datetime | None = None,
) -> tuple[ResetLink, ...]:
    """A link for each matching login that is not over its limit (none when nothing matched).
    The caller commits, then sends the emails."""
    now = now or dt.datetime.now(dt.UTC)
    kind, value = normalize(identifier)
    users = _matching_users(session, kind, value) if kind else []
    if not users:
        # counted too: the same limit for a login that does not exist
        _count(session, KIND_LOGIN, _key(KIND_LOGIN, f"{kind}:{value}"), PER_LOGIN, LOGIN_WINDOW, now)
        return ()
    links = []
    for user in users:
        email = recovery_email(user)
        allowed = _count(
            session, KIND_LOGIN, _key(KIND_LOGIN, f"user:{user.id}"), PER_LOGIN, LOGIN_WINDOW, now
        )
        if not email or not allowed:
            audit(
                session,
                "user.password_reset_not_sent",
                actor=None,
                account_id=user.account_id,
                obj=user,
                details={"reason": "no email" if not email else "rate limited"},
                remote_addr=remote_addr,
            )
            continue
        # only the newest link works
        session.execute(
            update(PasswordReset)
            .where(PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None))
            .values(used_at=now)
        )
        token = secrets.token_urlsafe(TOKEN_BYTES)
        session.add(
            PasswordReset(
                user_id=user.id,
                token_hash=token_hash(token),
                session_version=user.session_version,
                created_at=now,
                expires_at=now + lifetime,
            )
        )
        audit(
            session,
            "user.password_reset_requested",
            actor=None,
            account_id=user.account_id,
            obj=user,
            remote_addr=remote_addr,
        )
        language = user.account.language if user.account is not None else ""  # members: always set
        links.append(ResetLink(user.id, user.login, email, language or "en", token))
    session.flush()
    return tuple(links)


def find_valid(
    session: Session, token: str, *, now: dt.datetime | None = None, for_update: bool = False
) -> PasswordReset | None:
    """The link's row if it can still reset a password: unused, not expired, issued for the
    user's current password, and the user's account still active."""
    now = now or dt.datetime.now(dt.UTC)
    if not token or len(token) > 100:
        return None
    stmt = select(PasswordReset).where(PasswordReset.token_hash == token_hash(token))
    if for_update:
        stmt = stmt.with_for_update()
    reset = session.scalar(stmt)
    if reset is None or reset.used_at is not None or reset.expires_at <= now:
        return None
    user = reset.user
    if (
        user.session_version != reset.session_version
        or user.role not in MEMBER_ROLES
        or user.account is None
        or user.account.status != "active"
    ):
        return None
    return reset


def reset_password(
    session: Session,
    reset: PasswordReset,
    new_password: str,
    *,
    remote_addr: str,
    now: dt.datetime | None = None,
) -> User:
    """Set the new password (already checked by the caller), end every session of the user,
    void every open link of the user, clear the login lockout; audited."""
    now = now or dt.datetime.now(dt.UTC)
    user = reset.user
    user.password_hash = sec.hash_password(new_password)
    user.session_version += 1
    # every session ends server-side too, and every login limit on this login is lifted: the
    # owner's own link always lets them in, whoever hammered their login (auth/services.py)
    sessions.revoke_all(session, user.id, now=now)
    services.lift(session, user)
    session.execute(
        update(PasswordReset)
        .where(PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None))
        .values(used_at=now)
    )
    audit(
        session,
        "user.password_reset",
        actor=user,
        account_id=user.account_id,
        obj=user,
        remote_addr=remote_addr,
    )
    session.flush()
    return user


__all__ = [
    "PER_ADDRESS",
    "PER_LOGIN",
    "ResetLink",
    "allow_address",
    "find_valid",
    "normalize",
    "recovery_email",
    "request_reset",
    "reset_password",
    "token_hash",
]
