"""The FastAGI hot path's database access: a psycopg connection pool and the outbound decision
in two round trips.

An outbound decision reads, in one statement (db.calls.CONTEXT_SQL), the member, the numbers
around the call and the account's money state (voip_money_state); the route classifies the
call and decides what to hold on that state (db.billing.decide_hold), and one more statement
(voip_hold) locks the account's money, checks the state is unchanged and inserts the hold. If
another call of the account got in between, the locked path runs ([BEGIN, lock, state], then
[hold, COMMIT], pipelined). Through SQLAlchemy's AsyncSession the same work took about ten round
trips plus a pre-ping (bench/agi_decisions.py has the figures). The SQL functions are the ones
db.billing.authorize_call runs on a Session: one set of rules, two transports.

Connections are autocommit; the locked path opens and ends its own transaction inside the
pipelines. The pool rolls back whatever a failed call left open when the connection returns.
"""
from __future__ import annotations

import dataclasses
from contextlib import asynccontextmanager
from typing import AsyncIterator

import psycopg
from psycopg_pool import AsyncConnectionPool
from sqlalchemy.engine import make_url

from controller.rating import MAX_CALL_SECONDS, Rate
from controller.settings import Settings
from db import billing
from db.calls import CONTEXT_SQL, DecisionContext, context_from_row


class HotDB:
    def __init__(self, settings: Settings, min_size: int = 2, max_size: int = 20,
                 timeout: float = 2.0):
        self.conninfo = conninfo = make_url(settings.database_url).set(drivername="postgresql") \
            .render_as_string(hide_password=False)
        self.pool = AsyncConnectionPool(
            conninfo, min_size=min_size, max_size=max_size, open=False, timeout=timeout,
            kwargs={"autocommit": True, "connect_timeout": 5, "application_name": "voip-agi",
                    # a hold's commit does not wait for the WAL flush (1 ms of the decision's
                    # latency here): a hold lost in a PostgreSQL crash only means a call in
                    # progress was not reserved; its CDR is still rated and a debit never takes
                    # a balance below zero (controller/rater.py)
                    "options": "-c synchronous_commit=off"},
            name="agi")

    async def open(self) -> None:
        await self.pool.open(wait=False)

    async def close(self) -> None:
        await self.pool.close()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection]:
        async with self.pool.connection() as conn:
            yield conn


async def decision_context(conn: psycopg.AsyncConnection, vnum: str, candidates: list[str],
                           area_code: str, call_group: str | None) -> DecisionContext:
    """The member, the numbers around the call and the account's money state, in one
    statement (db.calls.CONTEXT_SQL)."""
    cur = await conn.execute(CONTEXT_SQL, {"vnum": vnum, "candidates": candidates,
                                           "area": area_code, "group": call_group})
    return context_from_row(await cur.fetchone())


async def authorize(conn: psycopg.AsyncConnection, *, account_id: int, virtual_number_id: int,
                    call_class: str, dialed: str, uniqueid: str, rate: Rate,
                    max_seconds: int = MAX_CALL_SECONDS, call_group: str | None = None,
                    money_state: str | None = None) -> billing.Authorization:
    """db.billing.authorize_call for the FastAGI route.

    Optimistic first: decide on `money_state` (read, unlocked, with the decision context) and
    let voip_hold insert the hold in the same statement that locks the money and checks the
    state is unchanged: one round trip. When another call of the account changed it meanwhile,
    the locked path: [BEGIN, lock, state] in one round trip, decide, [hold, COMMIT]."""
    if call_class not in billing.BILLABLE_CLASSES:
        return billing.Authorization(None, max_seconds, 0)
    args = dict(account_id=account_id, virtual_number_id=virtual_number_id,
                call_class=call_class, dialed=dialed, uniqueid=uniqueid, call_group=call_group)
    if money_state is not None:
        auth = _decide(money_state, rate, max_seconds, args)
        if auth.max_seconds <= 0:
            return auth
        cur = await conn.execute(billing.AUTH_HOLD, billing.hold_params(auth, money_state, **args))
        auth_id = (await cur.fetchone())[0]
        if auth_id is not None:
            return dataclasses.replace(auth, auth_id=auth_id)

    params = billing.auth_params(account_id=account_id, virtual_number_id=virtual_number_id,
                                 call_group=call_group)
    async with conn.pipeline():
        await conn.execute("BEGIN")
        await conn.execute(billing.AUTH_LOCK, params)
        state = await conn.execute(billing.AUTH_STATE, params)
    # on an error the pool rolls back what is left open when the connection returns
    state_text = (await state.fetchone())[0]
    auth = _decide(state_text, rate, max_seconds, args)
    if auth.max_seconds <= 0:
        await conn.execute("ROLLBACK")
        return auth
    async with conn.pipeline():
        held = await conn.execute(billing.AUTH_HOLD, billing.hold_params(auth, state_text, **args))
        await conn.execute("COMMIT")
    auth_id = (await held.fetchone())[0]
    if auth_id is None:   # cannot happen under our own locks
        raise RuntimeError("money state changed under lock")
    return dataclasses.replace(auth, auth_id=auth_id)


def _decide(state_text: str, rate: Rate, max_seconds: int, args: dict) -> billing.Authorization:
    return billing.decide_hold(account_id=args["account_id"],
                               virtual_number_id=args["virtual_number_id"],
                               call_class=args["call_class"], rate=rate, max_seconds=max_seconds,
                               state=billing.parse_state(state_text))
