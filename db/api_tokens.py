"""REST API tokens (table api_tokens): created and revoked in the panel (or by `voipctl api-token`),
shown once, kept only as their SHA-256.

A token is ``vt_`` + 43 characters of ``secrets.token_urlsafe(32)`` (256 random bits): a hash
without salt or stretching is enough for such a secret (nobody can guess it), and it lets one
indexed lookup (uq_api_tokens_token_hash) find the token of a request. Its first characters are
kept in clear (`prefix`) so that its owner can tell their tokens apart.

Scopes:
- ``read``: GET only, on the owner's data (a member's: their account; an operator's: everything);
- ``member``: read and write on the member's own account (a primary account holder's token);
- ``operator``: everything (an operator admin's token).

On the data floor (no Flask): the panel's pages, the API and `voipctl api-token` share it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import NamedTuple

from sqlalchemy import select, update
from sqlalchemy.orm import Session, joinedload

from db.audit import audit
from db.errors import ServiceError
from db.models import ApiToken, User

PREFIX = "vt_"
PREFIX_SHOWN = 10  # "vt_" and 7 characters: enough to recognise a token, useless to guess it
MEMBER_SCOPES = ("read", "member")
OPERATOR_SCOPES = ("read", "operator")
SCOPES = ("read", "member", "operator")
MAX_NAME = 80
MAX_DAYS = 3660  # an expiry at most ten years away
TOUCH_EVERY = dt.timedelta(minutes=1)  # last_used_at is written at most this often


@dataclass(frozen=True)
class Caller:
    """Who a request's token speaks for (read once per request, then used by every check)."""

    token_id: int
    user_id: int
    login: str
    role: str
    account_id: int | None  # None: an operator's token
    scope: str
    last_used_at: dt.datetime | None
    user: User = field(compare=False, repr=False)  # loaded with its account

    @property
    def operator(self) -> bool:
        return self.account_id is None

    @property
    def may_write(self) -> bool:
        return self.scope in ("member", "operator")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_secret() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def scopes_for(user: User) -> tuple[str, ...]:
    """The scopes `user` may give a token: an operator read or operator, a primary account holder
    read or member; nobody else (a secondary user) any."""
    if user.role == "admin":
        return OPERATOR_SCOPES
    if user.role == "primary" and user.account_id is not None:
        return MEMBER_SCOPES
    return ()


def create(
    session: Session,
    user: User,
    *,
    name: str,
    scope: str,
    expires_in_days: int | None = None,
    remote_addr: str = "",
    now: dt.datetime | None = None,
) -> tuple[ApiToken, str]:
    """A new token for `user`: (its row, the token itself, to show once)."""
    name = " ".join((name or "").split())
    if not name:
        raise ServiceError("Give the token a name (what will use it).")
    if len(name) > MAX_NAME:
        raise ServiceError(f"A token's name has at most {MAX_NAME} characters.")
    allowed = scopes_for(user)
    if scope not in allowed:
        raise ServiceError(
            "Choose the scope " + " or ".join(allowed) + "."
            if allowed
            else "This login cannot have API tokens."
        )
    expires_at = None
    if expires_in_days is not None:
        if isinstance(expires_in_days, bool) or not 1 <= expires_in_days <= MAX_DAYS:
            raise ServiceError(f"An expiry is 1 to {MAX_DAYS} days away.")
        expires_at = (now or dt.datetime.now(dt.UTC)) + dt.timedelta(days=expires_in_days)
    secret = new_secret()
    row = ApiToken(
        user_id=user.id,
        account_id=None if user.role == "admin" else user.account_id,
        name=name,
        scope=scope,
        token_hash=hash_token(secret),
        prefix=secret[:PREFIX_SHOWN],
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    audit(
        session,
        "api_token.create",
        actor=user,
        account_id=row.account_id,
        obj=row,
        details={"name": name, "scope": scope, "prefix": row.prefix, "expires_at": _iso(expires_at)},
        remote_addr=remote_addr,
    )
    return row, secret


def revoke(session: Session, actor: User, token: ApiToken, *, remote_addr: str = "") -> bool:
    """Revoke `token` (refused from the next request on); False when it already was."""
    if token.revoked_at is not None:
        return False
    token.revoked_at = dt.datetime.now(dt.UTC)
    session.flush()
    audit(
        session,
        "api_token.revoke",
        actor=actor,
        account_id=token.account_id,
        obj=token,
        details={"name": token.name, "prefix": token.prefix, "owner_user_id": token.user_id},
        remote_addr=remote_addr,
    )
    return True


def tokens_of(session: Session, user_id: int) -> list[ApiToken]:
    return list(
        session.scalars(select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id.desc()))
    )


def operator_tokens(session: Session) -> list[ApiToken]:
    """Every operator's tokens (account_id NULL), newest first."""
    return list(
        session.scalars(select(ApiToken).where(ApiToken.account_id.is_(None)).order_by(ApiToken.id.desc()))
    )


def state(token: ApiToken, now: dt.datetime | None = None) -> str:
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= (now or dt.datetime.now(dt.UTC)):
        return "expired"
    return "active"


class _TokenColumns(NamedTuple):
    """What `authenticate` reads of a token row."""

    id: int
    revoked_at: dt.datetime | None
    expires_at: dt.datetime | None
    account_id: int | None
    scope: str
    last_used_at: dt.datetime | None


def authenticate(session: Session, secret: str, now: dt.datetime | None = None) -> Caller | None:
    """The caller a presented token speaks for, or None: unknown, revoked, expired, or whose
    user may no longer use it (an operator no longer admin, a member whose account is not
    active or who is no longer its primary holder). One query by the unique hash, which also
    loads the user and their account (`Caller.user`)."""
    if not secret.startswith(PREFIX) or len(secret) > 100:
        return None
    # the token's columns, not an ApiToken object: read once, never changed here (cheaper)
    row = session.execute(
        select(
            User,
            ApiToken.id,
            ApiToken.revoked_at,
            ApiToken.expires_at,
            ApiToken.account_id,
            ApiToken.scope,
            ApiToken.last_used_at,
        )
        .join(User, User.id == ApiToken.user_id)
        .options(joinedload(User.account))
        .where(ApiToken.token_hash == hash_token(secret))
    ).one_or_none()
    if row is None:
        return None
    user, token = row[0], _TokenColumns(*row[1:])
    if token.revoked_at is not None:
        return None
    now = now or dt.datetime.now(dt.UTC)
    if token.expires_at is not None and token.expires_at <= now:
        return None
    if token.account_id is None:
        if user.role != "admin" or token.scope not in OPERATOR_SCOPES:
            return None
    elif (
        user.role != "primary"
        or user.account_id != token.account_id
        or user.account is None
        or user.account.status != "active"
        or token.scope not in MEMBER_SCOPES
    ):
        return None
    return Caller(
        token.id, user.id, user.login, user.role, token.account_id, token.scope, token.last_used_at, user
    )


def touch_due(caller: Caller, now: dt.datetime | None = None) -> bool:
    now = now or dt.datetime.now(dt.UTC)
    return caller.last_used_at is None or now - caller.last_used_at >= TOUCH_EVERY


def touch(session: Session, token_id: int) -> None:
    """last_used_at = now, unless another process just did (at most once a minute)."""
    session.execute(
        update(ApiToken)
        .where(
            ApiToken.id == token_id,
            (ApiToken.last_used_at.is_(None))
            | (ApiToken.last_used_at < dt.datetime.now(dt.UTC) - TOUCH_EVERY),
        )
        .values(last_used_at=dt.datetime.now(dt.UTC))
    )


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None
