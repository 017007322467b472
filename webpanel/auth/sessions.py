"""Server-side panel sessions (issue 13).

Flask's session is a signed cookie: on its own, a cookie copied before logout would keep
working until it expires. So a login also writes a row in `panel_sessions` and the cookie
carries only that row's random token (256 bits; the table keeps its SHA-256). Every request
looks the row up (`load`: one query by primary key, joined to the user and the account) and
refuses a session that is revoked, older than the absolute lifetime (created_at, setting
VOIP_PANEL_SESSION_HOURS) or idle too long (last_seen_at, VOIP_PANEL_IDLE_MINUTES).

- logout revokes the row (`revoke`);
- a password change revokes every other session of the user, a password reset (recovery
  link, operator) every session (`revoke_all`); bumping users.session_version, which the
  cookie also carries, still ends every session at once too;
- last_seen_at is written at most once a minute per session (TOUCH_EVERY), so a page view
  costs one indexed read and, once a minute, one small write.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, delete, literal_column, select, update
from sqlalchemy.orm import Session, joinedload

from db.models import Account, PanelSession, User

TOKEN_BYTES = 32
TOUCH_EVERY = dt.timedelta(minutes=1)
KNOWN_ADDRESS_DAYS = 30


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Limits:
    lifetime: dt.timedelta  # absolute, from login
    idle: dt.timedelta  # since the last request


def start(
    session: Session, user: User, *, remote_addr: str, user_agent: str, now: dt.datetime | None = None
) -> str:
    """A new session row for `user`; returns the raw token for the cookie (the caller commits)."""
    now = now or dt.datetime.now(dt.UTC)
    # the user's rows older than is_known_address looks back are of no more use (every one
    # ended long ago): dropped here, so the table grows with the users, not with their logins
    session.execute(
        delete(PanelSession).where(
            PanelSession.user_id == user.id,
            PanelSession.created_at < now - dt.timedelta(days=KNOWN_ADDRESS_DAYS),
        )
    )
    token = secrets.token_urlsafe(TOKEN_BYTES)
    session.add(
        PanelSession(
            token_hash=token_hash(token),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            remote_addr=(remote_addr or "")[:45],
            user_agent=(user_agent or "")[:255],
        )
    )
    session.flush()
    return token


# every request's statement, built once (its construction and cache key were a tenth of the
# lookup's CPU): the session row's columns, and the row versions (PostgreSQL's xmin, new with
# every UPDATE of the row) of its user and the user's account, which say whether the User and
# Account kept from an earlier request (_kept) are still what the database holds
_CHECK: Select[Any] = (
    select(
        PanelSession.user_id,
        PanelSession.revoked_at,
        PanelSession.created_at,
        PanelSession.last_seen_at,
        literal_column("users.xmin::text"),
        literal_column("accounts.xmin::text"),
    )
    .select_from(PanelSession)
    .join(User, User.id == PanelSession.user_id)
    .outerjoin(Account, Account.id == User.account_id)
    .where(PanelSession.token_hash == bindparam("token_hash"))
)
# the user and their account, as ORM objects (on a miss only), and whether this transaction has
# written anything: a row version of its own (xmin) stays the same through its later writes, so
# what it reads then is not kept
_USER: Select[Any] = (
    select(User, literal_column("pg_current_xact_id_if_assigned() IS NOT NULL"))
    .options(joinedload(User.account))
    .where(User.id == bindparam("user_id"))
)

_KEPT_SIZE = 4096
_kept: OrderedDict[int, tuple[tuple[str, str | None], User]] = OrderedDict()
_kept_lock = threading.Lock()


@functools.cache
def _check_with(extra: ColumnElement[Any]) -> Select[Any]:
    return _CHECK.add_columns(extra)  # built once per extra column: its cache key memoized


def load(
    session: Session,
    token: str,
    user_id: int,
    limits: Limits,
    *,
    now: dt.datetime | None = None,
    extra: ColumnElement[Any] | None = None,
) -> tuple[User | None, bool, Any]:
    """(the session's user, whether last_seen_at is due a write, `extra`'s value), or
    (None, False, None) when the session is unknown, revoked, expired, idle too long or belongs
    to another user. One query: the session row by primary key with its user's and account's
    row versions, and `extra` (a column correlated to users that every page reads: the
    navigation's buddies). The User (with its Account) is then the one kept from an earlier
    request while both rows are unchanged, merged into `session` as loaded (no query: loading
    them as ORM objects was a quarter of a page's CPU), or loaded and kept anew."""
    now = now or dt.datetime.now(dt.UTC)
    if not token or len(token) > 100:
        return None, False, None
    statement = _CHECK if extra is None else _check_with(extra)
    row = session.connection().execute(statement, {"token_hash": token_hash(token)}).first()
    if row is None:
        return None, False, None
    ps_user_id, revoked_at, created_at, last_seen_at, user_version, account_version = row[:6]
    if (
        ps_user_id != user_id
        or revoked_at is not None
        or created_at <= now - limits.lifetime
        or last_seen_at <= now - limits.idle
    ):
        return None, False, None
    user = _user(session, ps_user_id, (user_version, account_version))
    if user is None:
        return None, False, None
    return user, last_seen_at <= now - TOUCH_EVERY, row[6] if extra is not None else None


def _user(session: Session, user_id: int, version: tuple[str, str | None]) -> User | None:
    with _kept_lock:
        hit = _kept.get(user_id)
        if hit is not None and hit[0] == version:
            _kept.move_to_end(user_id)
    if hit is None or hit[0] != version:
        # read in a Session of its own on this connection (the same transaction), so that the
        # kept objects are never the request's: each request gets its own copy below
        with Session(bind=session.connection()) as side:
            found = side.execute(_USER, {"user_id": user_id}).first()
            if found is None:
                return None
            loaded, own_writes = found
            side.expunge_all()
        if own_writes:  # read after this transaction's own writes: this request's only
            return session.merge(loaded, load=False)
        # a row changed between the check and this read carries a newer version than `version`:
        # the next request sees the difference and reads it again
        hit = (version, loaded)
        with _kept_lock:
            _kept[user_id] = hit
            while len(_kept) > _KEPT_SIZE:
                _kept.popitem(last=False)
    # a copy of the kept (detached, never changed) objects in this Session, as loaded: changes
    # made to it are flushed as to any loaded object
    return session.merge(hit[1], load=False)


def forget_kept_users() -> None:
    with _kept_lock:
        _kept.clear()


def touch(session: Session, token: str, *, now: dt.datetime | None = None) -> None:
    now = now or dt.datetime.now(dt.UTC)
    session.execute(
        update(PanelSession)
        .where(PanelSession.token_hash == token_hash(token), PanelSession.revoked_at.is_(None))
        .values(last_seen_at=now)
        .execution_options(synchronize_session=False)
    )


def revoke(session: Session, token: str, *, now: dt.datetime | None = None) -> None:
    """End one session (logout)."""
    if not token:
        return
    now = now or dt.datetime.now(dt.UTC)
    session.execute(
        update(PanelSession)
        .where(PanelSession.token_hash == token_hash(token), PanelSession.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )


def revoke_all(
    session: Session, user_id: int, *, except_token: str | None = None, now: dt.datetime | None = None
) -> int:
    """End every open session of the user, but `except_token`'s (a password change keeps the
    session it was made in). Returns how many ended. The operator's "end sessions" uses this."""
    now = now or dt.datetime.now(dt.UTC)
    stmt = update(PanelSession).where(PanelSession.user_id == user_id, PanelSession.revoked_at.is_(None))
    if except_token:
        stmt = stmt.where(PanelSession.token_hash != token_hash(except_token))
    result = session.execute(stmt.values(revoked_at=now).execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


def is_known_address(
    session: Session, user_id: int, remote_addr: str, *, now: dt.datetime | None = None
) -> bool:
    """Whether the user had a session from this address in the last KNOWN_ADDRESS_DAYS days
    (such an address still gets in while the login is locked for everyone else)."""
    now = now or dt.datetime.now(dt.UTC)
    if not remote_addr:
        return False
    found = session.scalar(
        select(PanelSession.token_hash)
        .where(
            PanelSession.user_id == user_id,
            PanelSession.remote_addr == remote_addr,
            PanelSession.created_at > now - dt.timedelta(days=KNOWN_ADDRESS_DAYS),
        )
        .limit(1)
    )
    return found is not None


__all__ = ["Limits", "is_known_address", "load", "revoke", "revoke_all", "start", "token_hash", "touch"]
