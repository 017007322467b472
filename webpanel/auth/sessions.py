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
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, delete, select, update
from sqlalchemy.orm import Session, joinedload

from db.models import PanelSession, User

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
# lookup's CPU): the session row's columns, not a PanelSession object (nothing else reads it),
# its user and the user's account
_LOAD = (
    select(
        User,
        PanelSession.user_id,
        PanelSession.revoked_at,
        PanelSession.created_at,
        PanelSession.last_seen_at,
    )
    .join(User, User.id == PanelSession.user_id)
    .options(joinedload(User.account))
    .where(PanelSession.token_hash == bindparam("token_hash"))
)


@functools.cache
def _load_with(extra: ColumnElement[Any]) -> Select[Any]:
    return _LOAD.add_columns(extra)  # built once per extra column: its cache key memoized


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
    to another user. One query: the row by primary key, its user and the user's account, and
    `extra` (a column correlated to users that every page reads: the navigation's buddies)."""
    now = now or dt.datetime.now(dt.UTC)
    if not token or len(token) > 100:
        return None, False, None
    statement = _LOAD if extra is None else _load_with(extra)
    row = session.execute(statement, {"token_hash": token_hash(token)}).first()
    if row is None:
        return None, False, None
    user, ps_user_id, revoked_at, created_at, last_seen_at = row[:5]
    if (
        ps_user_id != user_id
        or revoked_at is not None
        or created_at <= now - limits.lifetime
        or last_seen_at <= now - limits.idle
    ):
        return None, False, None
    return user, last_seen_at <= now - TOUCH_EVERY, row[5] if extra is not None else None


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
