"""The rater: every CDR with a call class gets exactly one cdr_charges row, and the plan seconds
and credit it used are taken in the same transaction.

Exactly once, even with several raters: a CDR is claimed by locking its cdr_rating_queue row
(FOR UPDATE SKIP LOCKED), its charge is inserted with ON CONFLICT (cdr_id) DO NOTHING before
any money moves (a rater that loses the race moves nothing), and the queue row is deleted in
that same transaction.

Shortfall: a call can cost more than the credit left (a price rounded up past its hold, a hold
that expired, a call without authorization). The charge records the call's TRUE cost; the lots
are debited at most what they hold, never below zero; the difference is
`cost - sum(credit_debits.amount)` for that charge, and an audit_log row
('billing.shortfall', with cost, debited and shortfall) makes it visible to the operator.
The member's Call History shows what the call cost; the books show what was collected.

Plan seconds are per second (plan_subscriptions keeps seconds); a call may use the plan seconds
left minus those other calls in progress hold (its own hold is released by its rating); the
part a plan does not absorb is priced on its own with the rate's minimum and increments.
A billable call whose destination has no rate in the active deck (the route would have
refused it) is charged 0 and audited ('billing.no_rate') rather than left in the queue.

Carriers (issue 14): a CDR of a call that left through a carrier names it (CDR(carrier), the
carrier's name). Its charge gets the carrier's id, the buy cost (the carrier's own rate for the
number dialed, longest prefix of its buy deck, priced by rating.cost on the answered seconds with
that rate's own minimum, increments and connect fee) and the margin, cost - buy_cost, where cost
is what the member is charged. A call the plan absorbed costs the member 0 here, so its margin
is minus the buy cost: the plan's price is earned when the plan is sold, not per call. An
unanswered attempt costs nothing to buy (buy_cost 0, margin 0). A CDR naming no carrier (the
old single trunk) leaves the three NULL. A carrier name with no carriers row
('billing.unknown_carrier': carrier_id NULL too) or a carrier with no buy rate for the number
('billing.no_buy_rate') is charged to the member as usual, with buy_cost and margin NULL, and
audited. The carrier and its rate come with the claim statement (db.billing.claim_unrated): no
extra round trip per CDR.

A failed-over call: the member's channel dials the carriers one after another and Asterisk writes
a CDR per attempt, each with the same call class, number dialed and hold (auth_id), only the last
possibly answered. Each gets its own charge (the unanswered ones 0, so Call History, which shows
a call as pending until every classed CDR of it is rated, completes, and the day counters, which
count only non-zero charges, are unchanged), and only the answered one settles the hold: Asterisk
inserts the CDRs one at a time, so the rater may see an unanswered attempt before the answered
one exists, and settling the hold then would free the call's money before its charge is taken.
A hold whose call was never answered is given back by the dialplan's release route at hangup,
by the hold sweeper (db.billing.release_orphans), or by its own expiry; the same rule covers the
CDR a channel writes after an unanswered Dial (the Hangup after busy).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import aclosing
from dataclasses import dataclass
from decimal import Decimal

import psycopg
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, sessionmaker

from controller.rules import money
from controller.rules.rating import Rate, cost, split_plan_and_credit
from db import billing
from db.audit import audit

log = logging.getLogger("controller.services.rater")

ZERO = Decimal("0")


@dataclass(frozen=True)
class Pricing:
    """What one CDR costs, before any money moves."""

    call_type: str  # R, D, I; PR/PD when the plan absorbed it all; N, E, T, ...
    billable_seconds: int  # answered seconds (0 when not answered)
    plan_seconds: int
    cost: Decimal
    prefix: str | None = None
    country: str = ""


def price(call_class: str, answered_seconds: int, rate: Rate | None, plan_available: int) -> Pricing:
    """Pure: plan seconds first (regional and domestic calls only), the rest at `rate`.
    `answered_seconds` is 0 for a call nobody answered."""
    seconds = max(0, answered_seconds)
    prefix, country = (rate.prefix, rate.country) if rate else (None, "")
    if call_class not in money.BILLABLE_CLASSES or seconds == 0:
        return Pricing(call_class, seconds, 0, ZERO, prefix, country)
    from_plan, from_credit = split_plan_and_credit(
        seconds, plan_available if call_class in money.PLAN_CLASSES else 0
    )
    amount = cost(from_credit, rate) if rate is not None else ZERO
    call_type = "P" + call_class if from_plan > 0 and from_credit == 0 else call_class
    return Pricing(call_type, seconds, from_plan, amount, prefix, country)


def answered(cdr: billing.UnratedCdr) -> bool:
    return cdr.disposition.upper() == "ANSWERED"


def answered_seconds(cdr: billing.UnratedCdr) -> int:
    return cdr.billsec if answered(cdr) else 0


@dataclass(frozen=True)
class Purchase:
    """What the carrier of a CDR costs us: all None for a call through no carrier."""

    carrier_id: int | None = None
    buy_cost: Decimal | None = None
    margin: Decimal | None = None
    problem: str = ""  # the audit action when the carrier or its rate is missing


def purchase(cdr: billing.UnratedCdr, seconds: int, charged: Decimal) -> Purchase:
    """Pure: the carrier's buy cost of `seconds` answered seconds and the margin on `charged`,
    what the member pays for the CDR."""
    if not cdr.carrier:
        return Purchase()
    if cdr.carrier_id is None:
        return Purchase(problem="billing.unknown_carrier")
    if seconds <= 0:
        return Purchase(cdr.carrier_id, ZERO, charged)  # an attempt nobody answered: free to buy
    if cdr.buy_rate is None:
        return Purchase(cdr.carrier_id, problem="billing.no_buy_rate")
    buy = cost(seconds, cdr.buy_rate)
    return Purchase(cdr.carrier_id, buy, charged - buy)


def rate_batch(session: Session, batch: int = 200, only_ids: list[int] | None = None) -> tuple[int, int]:
    """Rate up to `batch` queued CDRs in the session's transaction (the caller commits).
    Returns (claimed, charged)."""
    cdrs = billing.claim_unrated(session, batch, only_ids)
    if not cdrs:
        return 0, 0
    locked = billing.lock_accounts(session, [c.account_id for c in cdrs if c.account_id is not None])
    charged = 0
    for cdr in cdrs:
        if _rate_one(session, locked, cdr):
            charged += 1
    billing.dequeue(session, [c.id for c in cdrs])
    return len(cdrs), charged


def _rate_one(session: Session, locked: billing.Locked, cdr: billing.UnratedCdr) -> bool:
    seconds = answered_seconds(cdr)
    billable = cdr.call_class in money.BILLABLE_CLASSES and seconds > 0
    rate = billing.sql_lookup(session, cdr.dialed) if billable else None

    subscription, plan_available = None, 0
    if billable and cdr.call_class in money.PLAN_CLASSES and cdr.account_id is not None:
        plans = billing.plan_balances(
            session, locked, cdr.account_id, cdr.virtual_number_id, exclude_auth=cdr.auth_id
        )
        plan = money.plan_for(plans, cdr.call_class, prefer=cdr.auth_subscription_id)
        if plan is not None:
            subscription = locked.subscriptions[plan.subscription_id]
            plan_available = plan.seconds_for(cdr.call_class)

    pricing = price(cdr.call_class, seconds, rate, plan_available)
    bought = purchase(cdr, seconds, pricing.cost)
    charge_id = billing.insert_charge(
        session,
        cdr.id,
        account_id=cdr.account_id,
        virtual_number_id=cdr.virtual_number_id,
        call_type=pricing.call_type,
        country=pricing.country,
        prefix=pricing.prefix,
        billable_seconds=pricing.billable_seconds,
        plan_seconds=pricing.plan_seconds,
        plan_subscription_id=subscription.id if subscription and pricing.plan_seconds else None,
        cost=pricing.cost,
        carrier_id=bought.carrier_id,
        buy_cost=bought.buy_cost,
        margin=bought.margin,
    )
    if charge_id is None:
        return False  # another rater charged it first

    if pricing.plan_seconds and subscription is not None:
        billing.use_plan_seconds(session, subscription, cdr.call_class, pricing.plan_seconds)
    if pricing.cost > 0:
        taken = ZERO
        if cdr.account_id is not None:
            taken = billing.debit_credit(session, locked, cdr.account_id, pricing.cost, charge_id)
        if taken < pricing.cost:
            details = {
                "cost": str(pricing.cost),
                "debited": str(taken),
                "shortfall": str(pricing.cost - taken),
                "charge_id": charge_id,
            }
            audit(
                session,
                "billing.shortfall",
                object_type="cdr",
                account_id=cdr.account_id,
                object_id=cdr.id,
                details=details,
            )
            log.warning("credit shortfall", extra={"cdr_id": cdr.id, "account_id": cdr.account_id, **details})
    if billable and rate is None:
        audit(
            session,
            "billing.no_rate",
            object_type="cdr",
            account_id=cdr.account_id,
            object_id=cdr.id,
            details={"dialed": cdr.dialed},
        )
        log.error("no rate for a billable call", extra={"cdr_id": cdr.id, "dialed": cdr.dialed})
    if bought.problem:
        details = {"carrier": cdr.carrier or "", "dialed": cdr.dialed, "charge_id": charge_id}
        audit(
            session,
            bought.problem,
            object_type="cdr",
            account_id=cdr.account_id,
            object_id=cdr.id,
            details=details,
        )
        log.error(
            "no buy cost for a carrier's call", extra={"cdr_id": cdr.id, "problem": bought.problem, **details}
        )
    # only the answered attempt settles the hold (the module's docstring: a failed-over call)
    if cdr.auth_id is not None and answered(cdr):
        billing.settle_authorization(session, cdr.auth_id)
    return True


# ---------------------------------------------------------------------------------------------
# Running it: sync (CLI, tests) and async (the controller)


def _retryable(exc: BaseException) -> bool:
    """Database down, deadlock or serialization failure: try again later, do not quarantine."""
    if isinstance(exc, OperationalError):
        return True
    orig = getattr(exc, "orig", None)
    return isinstance(exc, DBAPIError) and getattr(orig, "sqlstate", "") in ("40001", "40P01", "55P03")


def _quarantine(session: Session, cdr_id: int, error: str) -> None:
    """A CDR whose rating fails for a reason that will not go away by itself leaves the queue
    (billing.requeue_unrated puts it back once the cause is fixed) and is logged, so it cannot
    block every batch behind it."""
    billing.dequeue(session, [cdr_id])
    audit(
        session,
        "billing.rating_failed",
        object_type="cdr",
        account_id=None,
        object_id=cdr_id,
        details={"error": error[:500]},
    )


def rate_pending(session_factory: sessionmaker[Session] | Callable[[], Session], batch: int = 200) -> int:
    """Rate every queued CDR; returns how many charges this call wrote. Safe to run in any
    number of threads or processes at once."""
    total = 0
    while True:
        try:
            with session_factory() as s, s.begin():
                claimed, charged = rate_batch(s, batch)
        except Exception as exc:
            if _retryable(exc):
                raise
            log.exception("rating batch failed: rating one by one")
            charged, claimed = _rate_singly(session_factory, batch)
        total += charged
        if claimed < batch:
            return total


def _rate_singly(
    session_factory: sessionmaker[Session] | Callable[[], Session], batch: int
) -> tuple[int, int]:
    with session_factory() as s:
        ids = billing.peek_queue(s, batch)
    charged = 0
    for cdr_id in ids:
        try:
            with session_factory() as s, s.begin():
                charged += rate_batch(s, 1, [cdr_id])[1]
        except Exception as exc:
            if _retryable(exc):
                raise
            log.error("rating failed: CDR quarantined", extra={"cdr_id": cdr_id, "error": repr(exc)[:300]})
            with session_factory() as s, s.begin():
                _quarantine(s, cdr_id, repr(exc))
    return charged, len(ids)


async def rate_pending_async(session_factory: async_sessionmaker[AsyncSession], batch: int = 200) -> int:
    """rate_pending on the controller's AsyncSession factory (same code, via run_sync)."""
    total = 0
    while True:
        try:
            async with session_factory() as s, s.begin():
                claimed, charged = await s.run_sync(rate_batch, batch)
        except Exception as exc:
            if _retryable(exc):
                raise
            log.exception("rating batch failed: rating one by one")
            async with session_factory() as s:
                ids = await s.run_sync(billing.peek_queue, batch)
            claimed, charged = len(ids), 0
            for cdr_id in ids:
                try:
                    async with session_factory() as s, s.begin():
                        charged += (await s.run_sync(rate_batch, 1, [cdr_id]))[1]
                except Exception as exc1:
                    if _retryable(exc1):
                        raise
                    log.error(
                        "rating failed: CDR quarantined", extra={"cdr_id": cdr_id, "error": repr(exc1)[:300]}
                    )
                    async with session_factory() as s, s.begin():
                        await s.run_sync(_quarantine, cdr_id, repr(exc1))
        total += charged
        if claimed < batch:
            return total


async def run_rater(
    engine: AsyncEngine, stop: asyncio.Event, *, poll_seconds: float = 5.0, batch: int = 200
) -> None:
    """The controller's rater loop: rate what is queued, then wait for pg_notify('cdr_new')
    (LISTEN on its own psycopg connection) or `poll_seconds`, whichever comes first; the poll
    is the fallback when notifications are lost (LISTEN connection down, controller restarted).
    Returns when `stop` is set. Never raises: errors are logged and retried on the next round."""
    factory = async_sessionmaker(engine, expire_on_commit=False)
    conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    listener: psycopg.AsyncConnection | None = None
    try:
        while not stop.is_set():
            if listener is None or listener.closed:
                listener = await _listen(conninfo)
            try:
                n = await rate_pending_async(factory, batch)
                if n:
                    log.info("rated CDRs", extra={"count": n})
            except Exception as exc:
                log.error("rater round failed", extra={"error": repr(exc)[:300]})
            listener = await _wait(listener, stop, poll_seconds)
    finally:
        if listener is not None:
            await listener.close()


async def _listen(conninfo: str) -> psycopg.AsyncConnection | None:
    try:
        conn = await psycopg.AsyncConnection.connect(conninfo, autocommit=True, connect_timeout=5)
        await conn.execute(f"LISTEN {billing.CDR_NEW_CHANNEL}")
        return conn
    except Exception as exc:
        log.warning("rater LISTEN unavailable: polling", extra={"error": repr(exc)[:300]})
        return None


async def _wait(
    listener: psycopg.AsyncConnection | None, stop: asyncio.Event, seconds: float
) -> psycopg.AsyncConnection | None:
    """Until a notification, `seconds`, or stop. Returns the listener (None once it broke)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not stop.is_set():
        left = deadline - loop.time()
        if left <= 0:
            return listener
        if listener is None:
            try:
                await asyncio.wait_for(stop.wait(), left)
            except TimeoutError:
                pass
            return None
        try:
            # short slices, so a stop is seen within half a second
            # aclosing: leaving the generator early must release the connection's lock now
            async with aclosing(listener.notifies(timeout=min(left, 0.5), stop_after=1)) as notes:
                async for _ in notes:
                    return listener
        except Exception as exc:
            log.warning("rater LISTEN connection lost", extra={"error": repr(exc)[:300]})
            try:
                await listener.close()
            except Exception:
                pass
            return None
    return listener
