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
import contextvars
import dataclasses
import functools
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from controller.rules import money
from controller.rules.rating import MAX_CALL_SECONDS, Rate
from controller.settings import Settings
from db import billing
from db.calls import CONTEXT_SQL, DecisionContext, context_from_row

# Sliced holds (issue 13): a call holds its money one slice at a time, the controller's hold
# extender (controller/services/holds.py) adding a slice while the call lasts (extend_hold).
# The FastAGI route sets this for the decision it runs (a context variable: per AGI session's
# task); None holds the call's whole maximum length at once (tests, tools).
HOLD_SLICE: contextvars.ContextVar[int | None] = contextvars.ContextVar("voip_hold_slice", default=None)

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
            # no synchronous_commit = off (issue 13, item 10): a hold is money, and a hold the
            # caller was told about must survive a PostgreSQL crash, or the same money could be
            # held again by the next call after the restart; the commit waits for the WAL flush
            # (tests/billing/test_hold_durability.py checks every pooled connection)
            server_settings={"application_name": "voip-agi"},
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
    conn: asyncpg.Connection,
    vnum: str,
    candidates: list[str],
    area_code: str,
    call_group: str | None,
    velocity_minutes: int = 10,
    max_concurrent: int = 0,
    maybe_international: bool = True,
) -> DecisionContext:
    """The member, the numbers around the call and the account's money state, in one
    statement (db.calls.CONTEXT_SQL). `velocity_minutes`, `max_concurrent`: the velocity
    rule's window and the concurrent-call limit of an account without its own
    (VOIP_VELOCITY_MINUTES, VOIP_MAX_CONCURRENT; issue 13, spending limits).
    `maybe_international`: False when the dialed number cannot be an international call, so an
    account without limits of its own is not asked for its window's international attempts
    (db.limits.decision_limits asks afterwards if the call is international after all)."""
    params = {
        "vnum": vnum,
        "candidates": candidates,
        "area": area_code,
        "group": call_group,
        "velocity_minutes": velocity_minutes,
        "max_concurrent": max_concurrent,
        "more": maybe_international or max_concurrent > 0,
    }
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
    credit_cap: Decimal | None = None,
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
    slice_seconds = HOLD_SLICE.get()
    if slice_seconds is not None and slice_seconds > 0:
        max_seconds = min(max_seconds, slice_seconds)  # the first slice
    call = billing.HoldRequest(account_id, virtual_number_id, call_class, dialed, uniqueid, call_group)
    if money_state is not None:
        auth = billing.decide_hold(call, rate, max_seconds, money_state, credit_cap)
        if auth.max_seconds <= 0:
            return auth
        auth_id = await _fetchval(conn, billing.AUTH_HOLD, billing.hold_params(auth, money_state, call))
        if auth_id is not None:
            return dataclasses.replace(auth, auth_id=auth_id)

    params = billing.auth_params(call)
    async with conn.transaction():
        await _fetchval(conn, billing.AUTH_LOCK, params)
        state_text = await _fetchval(conn, billing.AUTH_STATE, params)
        auth = billing.decide_hold(call, rate, max_seconds, state_text, credit_cap)
        if auth.max_seconds <= 0:
            return auth
        auth_id = await _fetchval(conn, billing.AUTH_HOLD, billing.hold_params(auth, state_text, call))
    if auth_id is None:  # cannot happen under our own locks
        raise RuntimeError("money state changed under lock")
    return dataclasses.replace(auth, auth_id=auth_id)


# ---------------------------------------------------------------------------------------------
# Sliced holds: one more slice for a call in progress (issue 13)


@dataclasses.dataclass(frozen=True)
class Extension:
    """What extend_hold added to a hold: `seconds` more call time (0: nothing more can be
    granted, or the hold is no longer open), paid by `plan_seconds` and `credit`."""

    seconds: int
    plan_seconds: int = 0
    credit: Decimal = money.ZERO
    total_seconds: int = 0  # the hold's seconds granted so far, this slice included


async def extend_hold(
    conn: asyncpg.Connection,
    auth_id: int,
    *,
    slice_seconds: int,
    remaining_seconds: float,
    settings: Settings | None = None,
) -> Extension:
    """Grant the call of hold `auth_id` one more slice (at most `slice_seconds`, and never past
    MAX_CALL_SECONDS in all) through the one money rule, under the same locks as a new hold: in
    a transaction, lock the account's money (plan subscriptions, then credit lots, by id: the
    rater's order, then the hold row, which the rater settles last), read the state with every
    open hold counted (the call's own too: p_group NULL), decide (money.grant, bounded by what
    is left of the account's spending limits, db.limits.extension_cap, when that exists), and
    add the slice to the hold. `remaining_seconds`: what the call has left on its channel now
    (the hold then expires that plus the slice plus the grace after now). The call of an account
    that is no longer active (suspended, issue 15) gets nothing more."""
    owner = await conn.fetchrow(
        "SELECT h.account_id, a.status FROM call_authorizations h"
        " JOIN accounts a ON a.id = h.account_id WHERE h.id = $1",
        auth_id,
    )
    # a suspended account's call in progress gets no more (issue 15): it ends on its limit
    if owner is None or owner[1] != "active":
        return Extension(0)
    account_id = owner[0]
    async with conn.transaction():
        await conn.execute("SELECT voip_lock_money($1)", account_id)
        hold = await conn.fetchrow(billing.EXTEND_HOLD_ROW, auth_id)
        if hold is None or hold["settled_at"] is not None or not hold["open"]:
            return Extension(0)
        room = min(slice_seconds, MAX_CALL_SECONDS - hold["max_seconds"])
        vn = hold["virtual_number_id"]
        row = await conn.fetchrow(billing.EXTEND_RATE, hold["rate_prefix"]) if hold["rate_prefix"] else None
        if room <= 0 or vn is None or row is None:
            return Extension(0, total_seconds=hold["max_seconds"])
        rate = Rate(*row)
        state_text = await conn.fetchval("SELECT voip_money_state($1, $2, NULL)::text", account_id, vn)
        owner, state = billing.read_state(state_text)
        if owner != account_id:
            return Extension(0, total_seconds=hold["max_seconds"])
        cap = await _extension_cap(conn, account_id, vn, hold["call_class"], settings)
        g = money.grant(
            state, vn, hold["call_class"], rate, room, cap, subscription_id=hold["plan_subscription_id"]
        )
        if g.max_seconds <= 0:
            return Extension(0, total_seconds=hold["max_seconds"])
        ttl = int(remaining_seconds) + 1 + g.max_seconds + billing.HOLD_GRACE_SECONDS
        await conn.execute(
            billing.EXTEND_HOLD, auth_id, g.max_seconds, g.plan_seconds, g.credit, g.subscription_id, ttl
        )
    return Extension(g.max_seconds, g.plan_seconds, g.credit, hold["max_seconds"] + g.max_seconds)


async def _extension_cap(
    conn: asyncpg.Connection, account_id: int, vn: int, call_class: str, settings: Settings | None
) -> Decimal | None:
    """What is left of the account's spending limits for this call (db.limits.extension_cap;
    imported here, not at the top: db.limits uses this module's statement binding)."""
    from db import limits

    return await limits.extension_cap(conn, account_id, vn, call_class, settings=settings)
