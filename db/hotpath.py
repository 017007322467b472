"""The FastAGI hot path's database access: an asyncpg connection pool and the outbound decision
in two round trips.

An outbound decision reads, in one statement (db.calls.CONTEXT_SQL), the member, the numbers
around the call and the account's money state (voip_money_state); the route classifies the
call and decides what to hold on that state (db.billing.decide_hold: the one money rule,
controller.rules.money), and one more statement (voip_hold) locks the account's money, checks
the state is unchanged and inserts the hold. If another call of the account got in between,
the locked path runs in a transaction: lock, state, decide, hold. Through SQLAlchemy's
AsyncSession the same work took about ten round trips plus a pre-ping; through psycopg's async
connections and pool the client side of the two statements cost twice what asyncpg's does
(bench/agi_decisions.py, docs/scaling.md section 7). The statements are db.billing's
(psycopg's %(name)s placeholders, numbered here once per statement).

Connections are in autocommit (asyncpg's default); the locked path opens its own transaction,
and a connection given back inside one is rolled back by the pool's reset.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from controller.rules import money
from controller.rules.rating import MAX_CALL_SECONDS, Rate
from controller.settings import Settings
from db import billing
from db.calls import CONTEXT_SQL, DecisionContext, context_from_row

# what a pooled connection raises when PostgreSQL restarted or went away under it
DEAD_CONNECTION = (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, ConnectionError, OSError)


class HotDB:
    def __init__(self, settings: Settings, min_size: int = 0, max_size: int = 20, timeout: float = 2.0):
        # libpq form, for the few psycopg users of the same database (agi/ratedeck.py)
        self.conninfo = (
            make_url(settings.database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        )
        self._min, self._max, self._timeout = min_size, max_size, timeout
        self.pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        """Connections are made when calls need them (min_size 0 by default): the controller
        starts, and 911 goes out, while PostgreSQL is down."""
        self.pool = asyncpg.create_pool(
            self.conninfo,
            min_size=self._min,
            max_size=self._max,
            timeout=5,
            reset=_reset,
            max_inactive_connection_lifetime=600,
            server_settings={
                "application_name": "voip-agi",
                # a hold's commit does not wait for the WAL flush (1 ms of the decision's
                # latency here): a hold lost in a PostgreSQL crash only means a call in
                # progress was not reserved; its CDR is still rated and a debit never takes
                # a balance below zero (controller/services/rater.py)
                "synchronous_commit": "off",
            },
        )
        await self.pool

    async def close(self) -> None:
        if self.pool is not None:
            try:
                await asyncio.wait_for(self.pool.close(), 5)
            except TimeoutError:
                self.pool.terminate()

    def _open_pool(self) -> asyncpg.Pool:
        if self.pool is None:
            raise RuntimeError("HotDB used before open()")
        return self.pool

    async def forget_connections(self) -> None:
        """After a dead connection: make every idle one be replaced before it is used."""
        await self._open_pool().expire_connections()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        async with self._open_pool().acquire(timeout=self._timeout) as conn:
            yield conn


async def _reset(conn: asyncpg.Connection) -> None:
    """What the pool does when a connection comes back: roll back a transaction a failed or
    cancelled call left open. Nothing else: the hot path sets no session state, LISTENs or
    advisory locks (asyncpg's default reset costs a round trip per call for those)."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


@functools.lru_cache(maxsize=32)
def _numbered(sql: str) -> tuple[str, tuple[str, ...]]:
    """psycopg's %(name)s placeholders as asyncpg's $n, and the names in $n order."""
    names: list[str] = []

    def number(m: re.Match) -> str:
        if m.group(1) not in names:
            names.append(m.group(1))
        return f"${names.index(m.group(1)) + 1}"

    return re.sub(r"%\((\w+)\)s", number, sql), tuple(names)


def _bind(sql: str, params: dict[str, Any]) -> tuple[Any, ...]:
    """The statement in asyncpg's form followed by its arguments in $n order."""
    text, names = _numbered(sql)
    return (text, *[params[n] for n in names])


async def _fetchval(conn: asyncpg.Connection, sql: str, params: dict[str, Any]) -> Any:
    return await conn.fetchval(*_bind(sql, params))


async def decision_context(
    conn: asyncpg.Connection, vnum: str, candidates: list[str], area_code: str, call_group: str | None
) -> DecisionContext:
    """The member, the numbers around the call and the account's money state, in one
    statement (db.calls.CONTEXT_SQL)."""
    params = {"vnum": vnum, "candidates": candidates, "area": area_code, "group": call_group}
    return context_from_row(await conn.fetchrow(*_bind(CONTEXT_SQL, params)))


async def authorize(
    conn: asyncpg.Connection,
    *,
    account_id: int,
    virtual_number_id: int,
    call_class: str,
    dialed: str,
    uniqueid: str,
    rate: Rate,
    max_seconds: int = MAX_CALL_SECONDS,
    call_group: str | None = None,
    money_state: str | None = None,
) -> billing.Authorization:
    """Decide a billable call's maximum length and hold what it may spend (db.billing.decide_hold).
    `call_group` (Asterisk's linkedid) names one call's tree: its legs do not count each other's
    holds.

    Optimistic first: decide on `money_state` (read, unlocked, with the decision context) and
    let voip_hold insert the hold in the same statement that locks the money and checks the
    state is unchanged: one round trip. When another call of the account changed it meanwhile,
    or without a state, the locked path: in a transaction, lock (plan subscriptions then credit
    lots, by id, so two calls decided at once see each other's holds), state, decide, hold."""
    if call_class not in money.BILLABLE_CLASSES:
        return billing.Authorization(None, max_seconds, 0)
    call = billing.HoldRequest(account_id, virtual_number_id, call_class, dialed, uniqueid, call_group)
    if money_state is not None:
        auth = billing.decide_hold(call, rate, max_seconds, money_state)
        if auth.max_seconds <= 0:
            return auth
        auth_id = await _fetchval(conn, billing.AUTH_HOLD, billing.hold_params(auth, money_state, call))
        if auth_id is not None:
            return dataclasses.replace(auth, auth_id=auth_id)

    params = billing.auth_params(call)
    async with conn.transaction():
        await _fetchval(conn, billing.AUTH_LOCK, params)
        state_text = await _fetchval(conn, billing.AUTH_STATE, params)
        auth = billing.decide_hold(call, rate, max_seconds, state_text)
        if auth.max_seconds <= 0:
            return auth
        auth_id = await _fetchval(conn, billing.AUTH_HOLD, billing.hold_params(auth, state_text, call))
    if auth_id is None:  # cannot happen under our own locks
        raise RuntimeError("money state changed under lock")
    return dataclasses.replace(auth, auth_id=auth_id)
