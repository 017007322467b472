"""Attempt counters for guessable secrets (calling-card PINs, conference PINs, voicemail
passwords). Keys are hashes, never the secret or the raw caller ID.

record_failure counts after the fact (voicemail); take/give_back are the race-free form the
PIN model uses (issue 13): the attempt is counted and judged in one statement BEFORE the secret
is compared, so a burst of concurrent attempts gets no more than the limit through."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from sqlalchemy import and_, case, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from db.models import Lockout


def key_for(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


async def is_locked(session: AsyncSession, kind: str, key: str) -> bool:
    until = await session.scalar(select(Lockout.locked_until).where(Lockout.kind == kind, Lockout.key == key))
    return until is not None and until > dt.datetime.now(dt.UTC)


async def record_failure(
    session: AsyncSession,
    kind: str,
    key: str,
    *,
    max_failures: int,
    window: dt.timedelta,
    lock_for: dt.timedelta,
) -> bool:
    """Count one failure; returns True when this failure locked the key. Failures older than
    `window` are forgotten (the count restarts)."""
    now = dt.datetime.now(dt.UTC)
    stmt = insert(Lockout).values(kind=kind, key=key, failures=1, first_failure_at=now)
    fresh = Lockout.first_failure_at < now - window
    upsert = stmt.on_conflict_do_update(
        index_elements=[Lockout.kind, Lockout.key],
        set_={
            "failures": _case(fresh, 1, Lockout.failures + 1),
            "first_failure_at": _case(fresh, now, Lockout.first_failure_at),
        },
    ).returning(Lockout.failures)
    failures = (await session.execute(upsert)).scalar_one()
    if failures >= max_failures:
        row = await session.get(Lockout, (kind, key))  # the upsert above made it
        if row is not None:
            row.locked_until = now + lock_for
        return True
    return False


async def clear(session: AsyncSession, kind: str, key: str) -> None:
    row = await session.get(Lockout, (kind, key))
    if row is not None and (row.locked_until is None or row.locked_until <= dt.datetime.now(dt.UTC)):
        await session.delete(row)


def _case(cond, a, b):
    return case((cond, a), else_=b)


# --- issue 13 (PIN model): limits taken before the secret is compared ------------------------

KIND_CARD_PIN = "cc_card"  # wrong PINs per calling card (key: the card number), any caller ID
KIND_CARD_BUDGET = "cc_access"  # wrong PINs per calling-card access number, all cards
KIND_CONF_BUDGET = "conf_access"  # wrong conference PINs, the whole conference service


@dataclass(frozen=True)
class Taken:
    """One attempt counted against a limit: `allowed` False means refuse without comparing
    anything (the attempt was over the limit, or the key is locked)."""

    allowed: bool
    count: int
    locked_until: dt.datetime | None


def _take_statement(kind: str, key: str, *, limit: int, window: dt.timedelta, lock_for: dt.timedelta):
    """INSERT ... ON CONFLICT DO UPDATE ... RETURNING: one statement that counts the attempt and
    says whether it is within the limit, so concurrent attempts queue on the row lock and each
    sees the count the one before it left (no read-then-write window). A key whose window or
    lock has run out starts again at 1. The attempt that reaches `limit` sets the lock already
    (it is let through: if it succeeds, give_back lifts it)."""
    now = dt.datetime.now(dt.UTC)
    lock_at = now + lock_for
    expired = or_(
        and_(Lockout.locked_until.is_(None), Lockout.first_failure_at < now - window),
        and_(Lockout.locked_until.is_not(None), Lockout.locked_until <= now),
    )
    count = case((expired, 1), else_=Lockout.failures + 1)
    stmt = insert(Lockout).values(
        kind=kind,
        key=key,
        failures=1,
        first_failure_at=now,
        locked_until=lock_at if limit <= 1 else None,
    )
    return now, stmt.on_conflict_do_update(
        index_elements=[Lockout.kind, Lockout.key],
        set_={
            "failures": count,
            "first_failure_at": case((expired, now), else_=Lockout.first_failure_at),
            "locked_until": case(
                (expired, lock_at if limit <= 1 else None),
                (Lockout.locked_until.is_not(None), Lockout.locked_until),
                (count >= limit, lock_at),
                else_=None,
            ),
        },
    ).returning(Lockout.failures, Lockout.locked_until)


def _decide(row, limit: int) -> Taken:
    count, locked_until = row
    return Taken(allowed=count <= limit, count=count, locked_until=locked_until)


async def take(
    session: AsyncSession, kind: str, key: str, *, limit: int, window: dt.timedelta, lock_for: dt.timedelta
) -> Taken:
    """Count one attempt (a failure until give_back says otherwise) and decide, atomically:
    at most `limit` attempts per `window` pass, the one that reaches the limit locks the key
    for `lock_for`, and nothing passes while it is locked. Commit promptly (the row stays
    locked until then)."""
    _, stmt = _take_statement(kind, key, limit=limit, window=window, lock_for=lock_for)
    return _decide((await session.execute(stmt)).one(), limit)


def take_sync(
    session: Session, kind: str, key: str, *, limit: int, window: dt.timedelta, lock_for: dt.timedelta
) -> Taken:
    """take() for the panel's synchronous sessions."""
    _, stmt = _take_statement(kind, key, limit=limit, window=window, lock_for=lock_for)
    return _decide(session.execute(stmt).one(), limit)


async def give_back(session: AsyncSession, kind: str, key: str, *, limit: int) -> None:
    """The attempt taken succeeded: it is no failure. Un-count it, and lift the lock that it
    (being the limit-th) set, if the count is under the limit again."""
    await session.execute(
        update(Lockout)
        .where(Lockout.kind == kind, Lockout.key == key, Lockout.failures > 0)
        .values(
            failures=Lockout.failures - 1,
            locked_until=case((Lockout.failures - 1 < limit, None), else_=Lockout.locked_until),
        )
    )


def unlock_sync(session: Session, kind: str, key: str) -> None:
    """Forget the key's failures and lock (the owner proved who they are, e.g. set a new PIN)."""
    session.execute(delete(Lockout).where(Lockout.kind == kind, Lockout.key == key))
