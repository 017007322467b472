"""Panel login with attempt limiting.

Five failed attempts lock a login for 15 minutes. For an existing login the count lives in
users.failed_logins / users.locked_until; for a login that does not exist it lives in the
lockouts table (kind "panel_login", keyed by a hash of the login), so both answer exactly
alike and the lock message never tells whether a login exists. A locked login is refused
before its password is checked, so guessing stops even with the right password.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
from dataclasses import dataclass

from sqlalchemy import case, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from db.accounts import authenticate
from db.audit import audit
from db.models import Lockout, User

MAX_FAILURES = 5
LOCK_DURATION = dt.timedelta(minutes=15)
LOCKOUT_KIND = "panel_login"


class Outcome(enum.Enum):
    OK = "ok"
    INVALID = "invalid"  # wrong login or password
    LOCKED = "locked"  # too many failures: refused for LOCK_DURATION
    INACTIVE = "inactive"  # right password, but the account is suspended or closed


@dataclass(frozen=True)
class LoginResult:
    outcome: Outcome
    user: User | None = None


def attempt_login(
    session: Session, login: str, password: str, *, remote_addr: str = "", now: dt.datetime | None = None
) -> LoginResult:
    """Check a login and count the failure; the caller commits either way."""
    now = now or dt.datetime.now(dt.UTC)
    login = (login or "").strip()
    # the row lock serializes attempts on one login, so concurrent guesses are all counted
    user = session.scalar(select(User).where(User.login == login).with_for_update())
    if user is None:
        return _attempt_unknown_login(session, login, password, now)

    if user.locked_until is not None:
        if user.locked_until > now:
            return LoginResult(Outcome.LOCKED)
        user.failed_logins, user.locked_until = 0, None  # the lock ran out: count afresh

    if authenticate(session, login, password) is None:
        user.failed_logins += 1
        if user.failed_logins >= MAX_FAILURES:
            user.locked_until = now + LOCK_DURATION
            audit(
                session,
                "auth.locked",
                actor=user,
                account_id=user.account_id,
                obj=user,
                details={"failures": user.failed_logins},
                remote_addr=remote_addr,
            )
            session.flush()
            return LoginResult(Outcome.LOCKED)
        audit(
            session,
            "auth.login_failed",
            actor=user,
            account_id=user.account_id,
            obj=user,
            remote_addr=remote_addr,
        )
        session.flush()
        return LoginResult(Outcome.INVALID)

    if user.account is not None and user.account.status != "active":
        return LoginResult(Outcome.INACTIVE)
    user.failed_logins, user.locked_until, user.last_login_at = 0, None, now
    audit(session, "auth.login", actor=user, account_id=user.account_id, obj=user, remote_addr=remote_addr)
    session.flush()
    return LoginResult(Outcome.OK, user)


def _attempt_unknown_login(session: Session, login: str, password: str, now: dt.datetime) -> LoginResult:
    key = lockout_key(login)
    row = session.get(Lockout, (LOCKOUT_KIND, key), with_for_update=True)
    if row is not None and row.locked_until is not None and row.locked_until > now:
        return LoginResult(Outcome.LOCKED)
    authenticate(session, login, password)  # spends the same argon2 time as a real login

    expired = Lockout.locked_until.is_not(None) & (Lockout.locked_until <= now)
    failures = session.scalars(
        insert(Lockout)
        .values(kind=LOCKOUT_KIND, key=key, failures=1, first_failure_at=now)
        .on_conflict_do_update(
            index_elements=[Lockout.kind, Lockout.key],
            set_={
                "failures": case((expired, 1), else_=Lockout.failures + 1),
                "first_failure_at": case((expired, now), else_=Lockout.first_failure_at),
                "locked_until": case((expired, None), else_=Lockout.locked_until),
            },
        )
        .returning(Lockout.failures)
    ).one()
    if failures >= MAX_FAILURES:
        session.execute(
            update(Lockout)
            .where(Lockout.kind == LOCKOUT_KIND, Lockout.key == key)
            .values(locked_until=now + LOCK_DURATION)
            .execution_options(synchronize_session=False)  # a plain UPDATE, as on the table
        )
        return LoginResult(Outcome.LOCKED)
    return LoginResult(Outcome.INVALID)


def lockout_key(login: str) -> str:
    """Lockout rows are keyed by a hash, never by what was typed (STYLE: no secrets in keys;
    someone may type a password into the login box)."""
    return hashlib.sha256(f"{LOCKOUT_KIND}:{login.casefold()}".encode()).hexdigest()
