"""Panel login with attempt limits per source address and per login (issue 13).

Three counters in the lockouts table, each over a fixed window (LoginLimits.window, 15 min):

- KIND_ADDRESS: attempts from one client address, all logins together (20). Beyond it that
  address gets "too many attempts from your network" and no password is checked.
- KIND_PAIR: attempts on one login from one address (5). Beyond it that address gets "this
  login is locked" for the rest of the window; the owner, from any other address, still gets in
  with the right password: a stranger cannot lock anyone out by hammering their login.
- KIND_LOGIN: attempts on one login from all addresses (50): the ceiling a botnet of many
  addresses meets. Beyond it the login is locked except from an address the user had a session
  from in the last 30 days (webpanel/auth/sessions.py); the owner's own password-reset link
  lifts it (recovery.reset_password calls `lift`), so the owner can always get in.

Race-free: `count_attempt` takes all three counters in ONE statement (a three-row INSERT ... ON
CONFLICT DO UPDATE ... RETURNING: increment and read back), and commits, BEFORE the password is
checked; `check_login` then decides on the numbers it got. A burst of concurrent attempts gets
the numbers 1, 2, 3, ... so at most the limit of them reach the password check. An attempt that
turns out right gives its slot back (`_refund`). An unknown login is counted exactly like a real
one (keys are hashes of the login), so no answer tells whether a login exists.

users.failed_logins / users.locked_until mirror the per-login count for the operator's account
page; the operator's password reset clears them and calls `lift` too.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import ipaddress
from dataclasses import dataclass

from sqlalchemy import and_, case, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, joinedload

from db import twofactor as db_twofactor
from db.accounts import authenticate
from db.audit import audit
from db.models import Lockout, User
from webpanel.auth import sessions

KIND_LOGIN = "panel_login"  # one login, every address (the kind older rows used too)
KIND_ADDRESS = "panel_login_addr"  # one address, every login
KIND_PAIR = "panel_login_pair"  # one login from one address
LOCKOUT_KIND = KIND_LOGIN


@dataclass(frozen=True)
class LoginLimits:
    per_address: int = 20
    per_login: int = 5  # from one address
    per_login_total: int = 50  # from all addresses
    window: dt.timedelta = dt.timedelta(minutes=15)

    @classmethod
    def from_settings(cls, settings) -> LoginLimits:
        return cls(
            per_address=settings.panel_login_per_address,
            per_login=settings.panel_login_per_login,
            per_login_total=settings.panel_login_per_login_total,
            window=dt.timedelta(minutes=settings.panel_login_window_minutes),
        )

    @property
    def minutes(self) -> int:
        return int(self.window.total_seconds() // 60)


DEFAULT_LIMITS = LoginLimits()


class Outcome(enum.Enum):
    OK = "ok"
    INVALID = "invalid"  # wrong login or password
    LOCKED = "locked"  # too many failures on this login: refused for the window
    ADDRESS_LIMITED = "address_limited"  # too many failures from this address
    INACTIVE = "inactive"  # right password, but the account is suspended or closed


@dataclass(frozen=True)
class LoginResult:
    outcome: Outcome
    user: User | None = None
    password_checked: bool = False


@dataclass(frozen=True)
class Attempt:
    """One attempt's numbers, taken before its password is checked."""

    login: str
    remote_addr: str
    address: int
    pair: int
    total: int
    limits: LoginLimits
    now: dt.datetime


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def lockout_key(login: str) -> str:
    """Lockout rows are keyed by a hash, never by what was typed (STYLE: no secrets in keys;
    someone may type a password into the login box)."""
    return _hash(f"{KIND_LOGIN}:{login.casefold()}")


def source(remote_addr: str) -> str:
    """What one client is, for the limits: its IPv4 address, or the /64 of its IPv6 address (one
    host, one subscriber line, gets a whole /64: counting single IPv6 addresses would give an
    attacker 2**64 fresh budgets)."""
    try:
        ip = ipaddress.ip_address((remote_addr or "").strip())
    except ValueError:
        return remote_addr or "?"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def address_key(remote_addr: str) -> str:
    return _hash(f"{KIND_ADDRESS}:{source(remote_addr)}")


def pair_key(login: str, remote_addr: str) -> str:
    # the login's own key first, so that `lift` finds every address's row of one login
    where = _hash(f"{KIND_PAIR}:{source(remote_addr)}")[:63]
    return f"{lockout_key(login)}:{where}"


def _keys(login: str, remote_addr: str) -> dict[str, str]:
    return {
        KIND_ADDRESS: address_key(remote_addr),
        KIND_PAIR: pair_key(login, remote_addr),
        KIND_LOGIN: lockout_key(login),
    }


def count_attempt(
    session: Session,
    login: str,
    *,
    remote_addr: str,
    limits: LoginLimits = DEFAULT_LIMITS,
    now: dt.datetime | None = None,
) -> Attempt:
    """Count one attempt on all three counters in one atomic statement and read them back.
    The caller commits at once (the rows' locks end; the count stays whatever happens next)."""
    now = now or dt.datetime.now(dt.UTC)
    login = (login or "").strip()
    keys = _keys(login, remote_addr)
    fresh = Lockout.first_failure_at <= now - limits.window
    stmt = insert(Lockout).values(
        [{"kind": kind, "key": key, "failures": 1, "first_failure_at": now} for kind, key in keys.items()]
    )
    rows = session.execute(
        stmt.on_conflict_do_update(
            index_elements=[Lockout.kind, Lockout.key],
            set_={
                "failures": case((fresh, 1), else_=Lockout.failures + 1),
                "first_failure_at": case((fresh, now), else_=Lockout.first_failure_at),
                "locked_until": None,
            },
        ).returning(Lockout.kind, Lockout.failures)
    ).all()
    counts = {kind: failures for kind, failures in rows}
    return Attempt(
        login, remote_addr, counts[KIND_ADDRESS], counts[KIND_PAIR], counts[KIND_LOGIN], limits, now
    )


def check_login(session: Session, attempt: Attempt, password: str) -> LoginResult:
    """Decide on the attempt's numbers; check the password only within every limit.
    The caller commits either way."""
    limits, login, addr = attempt.limits, attempt.login, attempt.remote_addr
    if attempt.address > limits.per_address:
        if attempt.address == limits.per_address + 1:
            audit(session, "auth.address_limited", details={"failures": limits.per_address}, remote_addr=addr)
        return LoginResult(Outcome.ADDRESS_LIMITED)
    if attempt.pair > limits.per_login:
        return LoginResult(Outcome.LOCKED)
    user = session.scalar(select(User).options(joinedload(User.account)).where(User.login == login))
    if attempt.total > limits.per_login_total and (
        user is None or not sessions.is_known_address(session, user.id, addr, now=attempt.now)
    ):
        return LoginResult(Outcome.LOCKED)

    if authenticate(session, login, password) is None or user is None:
        return _failed(session, attempt, user)

    _refund(session, attempt)
    if user.account is not None and user.account.status != "active":
        return LoginResult(Outcome.INACTIVE, password_checked=True)
    if attempt.total <= limits.per_login_total:
        user.failed_logins, user.locked_until = 0, None
    if not db_twofactor.is_on(user):
        # with two-factor login on, the password alone is no login: the code step records it
        # (record_login), so a wrong-code attempt never shows as one
        record_login(session, user, remote_addr=addr, now=attempt.now)
    session.flush()
    return LoginResult(Outcome.OK, user, password_checked=True)


def record_login(
    session: Session,
    user: User,
    *,
    remote_addr: str,
    now: dt.datetime | None = None,
    details: dict | None = None,
) -> None:
    """A completed login: users.last_login_at and the "auth.login" audit row."""
    user.last_login_at = now or dt.datetime.now(dt.UTC)
    audit(
        session,
        "auth.login",
        actor=user,
        account_id=user.account_id,
        obj=user,
        details=details,
        remote_addr=remote_addr,
    )
    session.flush()


def _failed(session: Session, attempt: Attempt, user: User | None) -> LoginResult:
    limits = attempt.limits
    locked_now = attempt.total >= limits.per_login_total
    if user is not None:
        # the operator's account page shows these (concurrent failures: the highest count stays)
        user.failed_logins = (
            attempt.total if attempt.total == 1 else func.greatest(User.failed_logins, attempt.total)
        )
        if locked_now:
            user.locked_until = attempt.now + limits.window
        audit(
            session,
            "auth.locked" if locked_now or attempt.pair >= limits.per_login else "auth.login_failed",
            actor=user,
            account_id=user.account_id,
            obj=user,
            details={"failures": attempt.pair, "all_addresses": attempt.total},
            remote_addr=attempt.remote_addr,
        )
        session.flush()
    if attempt.address >= limits.per_address:
        return LoginResult(Outcome.ADDRESS_LIMITED, password_checked=True)
    if attempt.pair >= limits.per_login or locked_now:
        return LoginResult(Outcome.LOCKED, password_checked=True)
    return LoginResult(Outcome.INVALID, password_checked=True)


def _refund(session: Session, attempt: Attempt) -> None:
    """A right password was no failure: its address and login slots are given back, and the
    count of this login from this address starts again."""
    # one row at a time, in count_attempt's order: concurrent statements lock the rows in the
    # same order, so they cannot deadlock
    for kind, key in _keys(attempt.login, attempt.remote_addr).items():
        failures = 0 if kind == KIND_PAIR else func.greatest(Lockout.failures - 1, 0)
        session.execute(
            update(Lockout)
            .where(Lockout.kind == kind, Lockout.key == key)
            .values(failures=failures)
            .execution_options(synchronize_session=False)
        )


def attempt_login(
    session: Session,
    login: str,
    password: str,
    *,
    remote_addr: str = "",
    limits: LoginLimits = DEFAULT_LIMITS,
    now: dt.datetime | None = None,
) -> LoginResult:
    """`count_attempt` then `check_login` in one transaction (the caller commits). The panel's
    view commits between the two instead, so that the counters' row locks are not held while
    argon2 runs."""
    attempt = count_attempt(session, login, remote_addr=remote_addr, limits=limits, now=now)
    return check_login(session, attempt, password)


def lift(session: Session, user: User) -> None:
    """Lift every login limit on `user`'s login (its password was reset by its owner's link or
    by an operator): the per-login counters, from every address, and the mirror on the user."""
    key = lockout_key(user.login)
    session.execute(
        delete(Lockout)
        .where(
            or_(
                and_(Lockout.kind == KIND_LOGIN, Lockout.key == key),
                and_(Lockout.kind == KIND_PAIR, Lockout.key.startswith(key + ":")),
            )
        )
        .execution_options(synchronize_session=False)
    )
    user.failed_logins, user.locked_until = 0, None
    session.flush()
