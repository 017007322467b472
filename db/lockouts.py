"""Attempt counters for guessable secrets (calling-card PINs, voicemail passwords), async.
Keys are hashes, never the secret or the raw caller ID."""

from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

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
    from sqlalchemy import case

    return case((cond, a), else_=b)
