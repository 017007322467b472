"""Billing in SQL: balances net of holds, call authorizations, credit debits, plan seconds,
rate lookups, the rater's work queue and the Missed Calls query.

The functions take a sync Session and leave the commit to the caller; the `*_async` wrappers
run the same code on an AsyncSession (`run_sync`). The FastAGI route authorizes calls through
db.hotpath, on the same SQL functions and decide_hold.

Lock order, everywhere money moves (authorize_call here, the rater in controller/services/rater.py):
the rater's queue rows first, then plan_subscriptions by id, then credit_lots by id, each
`SELECT ... ORDER BY id FOR NO KEY UPDATE`. Two transactions that lock in one global order cannot
deadlock, however many accounts a rater batch touches.

A hold (call_authorizations row) counts while `settled_at IS NULL AND expires_at > now()`:
available credit = the lots' remaining - open holds, so concurrent calls cannot spend the
same money twice; a hold whose CDR never arrives stops counting when it expires.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from controller.rules.rating import MAX_CALL_SECONDS, Rate, RateDeck, affordable_seconds, cost

CDR_NEW_CHANNEL = "cdr_new"  # pg_notify channel of the trigger cdr_queue_for_rating
HOLD_GRACE_SECONDS = 300  # a hold outlives its call's maximum length by this much
BILLABLE_CLASSES = frozenset({"R", "D", "I"})
ZERO = Decimal("0")

# ---------------------------------------------------------------------------------------------
# Balances


@dataclass(frozen=True)
class PlanBalance:
    """One calling-plan subscription's seconds left on the enabled number, net of open holds."""

    subscription_id: int
    regional_seconds: int
    us_canada_seconds: int

    def seconds_for(self, call_class: str) -> int:
        """Regional calls use regional seconds, then US & Canada seconds; domestic calls use
        US & Canada seconds only; international calls never use the plan."""
        if call_class == "R":
            return self.regional_seconds + self.us_canada_seconds
        if call_class == "D":
            return self.us_canada_seconds
        return 0


@dataclass(frozen=True)
class Balance:
    credit: Decimal  # pay-as-you-go credit this number may spend now
    plans: tuple[PlanBalance, ...] = ()

    def plan_seconds(self, call_class: str) -> int:
        return sum(p.seconds_for(call_class) for p in self.plans)


def net_of_holds(
    regional_left: int, us_canada_left: int, held_regional: int, held_domestic: int
) -> tuple[int, int]:
    """Plan buckets minus the seconds open holds reserve: a regional call's hold takes regional
    seconds first and overflows into US & Canada seconds, as its rating will."""
    from_regional = min(held_regional, regional_left)
    overflow = held_regional - from_regional
    return (max(0, regional_left - from_regional), max(0, us_canada_left - held_domestic - overflow))


_OPEN = "settled_at IS NULL AND expires_at > now()"
# holds of the same call tree (linkedid) are alternatives, not additions (see authorize_call)
_OTHER_GROUP = "coalesce(call_group, '') <> coalesce(:g, '-')"


def _subscriptions(session: Session, account_ids: Sequence[int], lock: bool) -> list[Any]:
    sql = (
        "SELECT id, account_id, enabled_virtual_number_id, regional_seconds_left,"
        " us_canada_seconds_left FROM plan_subscriptions"
        " WHERE account_id = ANY(:a) AND active ORDER BY id"
    )
    return session.execute(text(sql + (" FOR NO KEY UPDATE" if lock else "")), {"a": list(account_ids)}).all()


def _lots(session: Session, account_ids: Sequence[int], lock: bool) -> list[Any]:
    sql = (
        "SELECT id, account_id, remaining, purchased_at FROM credit_lots"
        " WHERE account_id = ANY(:a) AND remaining > 0 ORDER BY id"
    )
    return session.execute(text(sql + (" FOR NO KEY UPDATE" if lock else "")), {"a": list(account_ids)}).all()


def _plan_holds(
    session: Session, account_id: int, exclude_auth: int | None, call_group: str | None = None
) -> dict[tuple[int, str], int]:
    rows = session.execute(
        text(
            "SELECT plan_subscription_id, call_class, sum(held_plan_seconds) FROM call_authorizations"
            f" WHERE account_id = :a AND {_OPEN} AND plan_subscription_id IS NOT NULL"
            f"   AND held_plan_seconds > 0 AND id <> :x AND {_OTHER_GROUP} GROUP BY 1, 2"
        ),
        {"a": account_id, "x": exclude_auth or 0, "g": call_group},
    ).all()
    return {(r[0], r[1]): int(r[2]) for r in rows}


def plan_balances(
    session: Session,
    account_id: int,
    virtual_number_id: int | None,
    subscriptions: Iterable[Any],
    exclude_auth: int | None = None,
    call_group: str | None = None,
) -> tuple[PlanBalance, ...]:
    """The subscriptions enabled on `virtual_number_id`, net of open holds (other than
    `exclude_auth`, the hold of the call being rated)."""
    mine = [
        s
        for s in subscriptions
        if s.account_id == account_id
        and virtual_number_id is not None
        and s.enabled_virtual_number_id == virtual_number_id
    ]
    if not mine:
        return ()
    holds = _plan_holds(session, account_id, exclude_auth, call_group)
    out = []
    for s in mine:
        r, u = net_of_holds(
            s.regional_seconds_left,
            s.us_canada_seconds_left,
            holds.get((s.id, "R"), 0),
            holds.get((s.id, "D"), 0),
        )
        out.append(PlanBalance(s.id, r, u))
    return tuple(out)


def credit_available(
    session: Session,
    account_id: int,
    virtual_number_id: int | None,
    lots_remaining: Decimal,
    exclude_auth: int | None = None,
    call_group: str | None = None,
) -> Decimal:
    """The lots' remaining minus open credit holds, capped by the number's credit limit
    (the limit bounds what the number's calls in progress may hold together)."""
    row = session.execute(
        text(
            "SELECT coalesce(sum(held_credit), 0),"
            "       coalesce(sum(held_credit) FILTER (WHERE virtual_number_id = :vn), 0)"
            f" FROM call_authorizations WHERE account_id = :a AND {_OPEN} AND id <> :x"
            f" AND {_OTHER_GROUP}"
        ),
        {"a": account_id, "vn": virtual_number_id, "x": exclude_auth or 0, "g": call_group},
    ).one()
    available = max(ZERO, lots_remaining - row[0])
    if virtual_number_id is not None:
        limit = session.scalar(
            text("SELECT credit_limit FROM virtual_numbers WHERE id = :vn"), {"vn": virtual_number_id}
        )
        if limit is not None:
            available = min(available, max(ZERO, limit - row[1]))
    return available


def available_balance(session: Session, account_id: int, virtual_number_id: int | None) -> Balance:
    """What a call from `virtual_number_id` could use right now (no locks: for announcements
    and the panel; authorize_call recomputes it under lock)."""
    lots = _lots(session, [account_id], lock=False)
    credit = credit_available(
        session, account_id, virtual_number_id, sum((lot.remaining for lot in lots), ZERO)
    )
    plans = plan_balances(
        session, account_id, virtual_number_id, _subscriptions(session, [account_id], lock=False)
    )
    return Balance(credit, plans)


async def available_balance_async(
    session: AsyncSession, account_id: int, virtual_number_id: int | None
) -> Balance:
    return await session.run_sync(available_balance, account_id, virtual_number_id)


# ---------------------------------------------------------------------------------------------
# Call authorizations (holds)


@dataclass(frozen=True)
class Authorization:
    """auth_id is None when nothing was held. reason is '' when the call may go out, else a
    refusal key of controller.rules.channel_vars.REFUSALS ('no_credit', 'not_in_service')."""

    auth_id: int | None
    max_seconds: int
    plan_seconds: int
    reason: str = ""
    held_credit: Decimal = ZERO
    rate_prefix: str | None = None
    subscription_id: int | None = None

    def __iter__(self):  # (auth_id, max_seconds, plan_seconds, reason)
        return iter((self.auth_id, self.max_seconds, self.plan_seconds, self.reason))


def credit_seconds(credit: Decimal, rate: Rate, cap: int) -> int:
    """The longest call (at most `cap`) `credit` pays in full at `rate`: a whole number of
    increments, or `cap`. A free destination needs no credit at all."""
    if cap <= 0:
        return 0
    if cost(cap, rate) == 0:
        return cap
    seconds = affordable_seconds(credit, rate, cap=cap)
    # affordable_seconds can stop an increment short: rate_per_minute / 60 is inexact in
    # Decimal (1.00 at 1.00/min per second gives 59 s); step up while the next one is paid
    inc = max(1, rate.increment_seconds)
    while seconds < cap and cost(min(seconds + inc, cap), rate) <= credit:
        seconds = min(seconds + inc, cap)
    return seconds


# The statements of an authorization. Their SQL functions (migration 0010) are shared by the
# sync path below and the controller's hot path (db.hotpath), and decide_hold does the
# arithmetic for both: one set of rules.
#   AUTH_LOCK   row-locks the account's plan subscriptions, then its credit lots, by id
#   AUTH_STATE  everything decide_hold reads, as one jsonb text (parse_state)
#   AUTH_HOLD   inserts the hold if the state is still the one the decision was made on
#               (re-read under the locks), else NULL
AUTH_LOCK = "SELECT voip_lock_money(%(a)s)"
AUTH_STATE = "SELECT voip_money_state(%(a)s, %(vn)s, %(g)s)::text"
AUTH_HOLD = (
    "SELECT voip_hold(%(state)s::jsonb, %(a)s, %(vn)s, %(g)s, %(u)s, %(cc)s, %(d)s,"
    " %(p)s, %(m)s, %(s)s, %(hp)s, %(hc)s, %(ttl)s)"
)


def parse_state(text: str) -> dict[str, Any]:
    """voip_money_state's jsonb, with money as Decimal."""
    return json.loads(text, parse_float=Decimal)


def auth_params(*, account_id: int, virtual_number_id: int, call_group: str | None) -> dict:
    return {"a": account_id, "vn": virtual_number_id, "g": call_group}


def decide_hold(
    *,
    account_id: int,
    virtual_number_id: int,
    call_class: str,
    rate: Rate,
    max_seconds: int,
    state: dict[str, Any],
) -> Authorization:
    """What a call may hold, from the account's money `state` (parse_state of AUTH_STATE):
    plan seconds first (not for international calls), then credit for as long as it pays in
    full, at most `max_seconds`. auth_id is left None (AUTH_HOLD inserts the hold when
    max_seconds > 0)."""
    owner, subscriptions, holds = state["owner"], state["subs"], state["holds"]
    lots_remaining = Decimal(state["lots"])
    if owner is None or owner[0] != account_id:
        raise ValueError(f"virtual number {virtual_number_id} is not on account {account_id}")
    plan_held: dict[tuple[int, str], int] = {}
    credit_held, credit_held_here = ZERO, ZERO
    for sub_id, cls, plan_secs, credit, credit_here in holds:
        if sub_id is not None and plan_secs:
            plan_held[(sub_id, cls)] = plan_held.get((sub_id, cls), 0) + int(plan_secs)
        credit_held += Decimal(credit)
        credit_held_here += Decimal(credit_here)

    plan_seconds, subscription_id = 0, None
    if call_class != "I":
        for sub_id, enabled_vn, regional_left, us_canada_left in subscriptions:
            if enabled_vn != virtual_number_id:
                continue
            r, u = net_of_holds(
                regional_left,
                us_canada_left,
                plan_held.get((sub_id, "R"), 0),
                plan_held.get((sub_id, "D"), 0),
            )
            seconds = PlanBalance(sub_id, r, u).seconds_for(call_class)
            if seconds > 0:
                plan_seconds, subscription_id = min(seconds, max_seconds), sub_id
                break
    credit = max(ZERO, lots_remaining - credit_held)
    limit = None if owner[1] is None else Decimal(owner[1])
    if limit is not None:
        credit = min(credit, max(ZERO, limit - credit_held_here))
    credit_secs = credit_seconds(credit, rate, max_seconds - plan_seconds)
    total = plan_seconds + credit_secs
    if total <= 0:
        return Authorization(None, 0, 0, "no_credit", rate_prefix=rate.prefix)
    return Authorization(None, total, plan_seconds, "", cost(credit_secs, rate), rate.prefix, subscription_id)


def hold_params(
    auth: Authorization,
    state_text: str,
    *,
    account_id: int,
    virtual_number_id: int,
    call_class: str,
    dialed: str,
    uniqueid: str,
    call_group: str | None,
) -> dict:
    return {
        "state": state_text,
        "u": uniqueid,
        "a": account_id,
        "vn": virtual_number_id,
        "cc": call_class,
        "d": dialed,
        "p": auth.rate_prefix,
        "m": auth.max_seconds,
        "s": auth.subscription_id,
        "hp": auth.plan_seconds,
        "hc": auth.held_credit,
        "g": call_group,
        "ttl": auth.max_seconds + HOLD_GRACE_SECONDS,
    }


def authorize_call(
    session: Session,
    *,
    account_id: int,
    virtual_number_id: int,
    call_class: str,
    dialed: str,
    uniqueid: str,
    rate: Rate | None = None,
    max_seconds: int = MAX_CALL_SECONDS,
    call_group: str | None = None,
) -> Authorization:
    """Decide a billable call's maximum length and hold what it may spend (decide_hold). Locks
    the account's plan subscriptions then its credit lots (by id), so two calls authorized at
    once see each other's holds. Run it in its own short transaction: the locks are held until
    the commit.
    `rate` defaults to the active deck's longest prefix of `dialed`. `call_group` (Asterisk's
    linkedid) names one call's tree: the legs of one forwarded call ring as alternatives
    (simultaneously or one after another), so they do not count each other's holds.
    The controller's FastAGI route runs the same statements pipelined (db.hotpath)."""
    if call_class not in BILLABLE_CLASSES:
        return Authorization(None, max_seconds, 0)
    if rate is None:
        rate = sql_lookup(session, dialed)
        if rate is None:
            return Authorization(None, 0, 0, "not_in_service")
    params = auth_params(account_id=account_id, virtual_number_id=virtual_number_id, call_group=call_group)
    cur = _dbapi(session).cursor()
    try:
        cur.execute(AUTH_LOCK, params)
        cur.execute(AUTH_STATE, params)
        state_text = cur.fetchone()[0]
        auth = decide_hold(
            account_id=account_id,
            virtual_number_id=virtual_number_id,
            call_class=call_class,
            rate=rate,
            max_seconds=max_seconds,
            state=parse_state(state_text),
        )
        if auth.max_seconds <= 0:
            return auth
        cur.execute(
            AUTH_HOLD,
            hold_params(
                auth,
                state_text,
                account_id=account_id,
                virtual_number_id=virtual_number_id,
                call_class=call_class,
                dialed=dialed,
                uniqueid=uniqueid,
                call_group=call_group,
            ),
        )
        auth_id = cur.fetchone()[0]
        if auth_id is None:  # cannot happen under our own locks
            raise RuntimeError("money state changed under lock")
        return dataclasses.replace(auth, auth_id=auth_id)
    finally:
        cur.close()


def settle_authorization(session: Session, auth_id: int) -> None:
    session.execute(
        text("UPDATE call_authorizations SET settled_at = now() WHERE id = :id AND settled_at IS NULL"),
        {"id": auth_id},
    )


# ---------------------------------------------------------------------------------------------
# Debits (under the locks taken by lock_accounts)


@dataclass
class LotState:
    id: int
    account_id: int
    remaining: Decimal
    purchased_at: dt.datetime


@dataclass
class SubscriptionState:
    id: int
    account_id: int
    enabled_virtual_number_id: int | None
    regional_seconds_left: int
    us_canada_seconds_left: int


@dataclass
class Locked:
    """The money of a set of accounts, row-locked until the transaction ends."""

    subscriptions: dict[int, SubscriptionState]
    lots: dict[int, list[LotState]]  # per account, oldest first

    def lots_remaining(self, account_id: int) -> Decimal:
        return sum((lot.remaining for lot in self.lots.get(account_id, ())), ZERO)


def lock_accounts(session: Session, account_ids: Iterable[int]) -> Locked:
    """Lock the accounts' active plan subscriptions, then their credit lots, each by id."""
    ids = sorted(set(account_ids))
    subs = {
        r.id: SubscriptionState(
            r.id, r.account_id, r.enabled_virtual_number_id, r.regional_seconds_left, r.us_canada_seconds_left
        )
        for r in (_subscriptions(session, ids, lock=True) if ids else ())
    }
    lots: dict[int, list[LotState]] = {}
    for r in _lots(session, ids, lock=True) if ids else ():
        lots.setdefault(r.account_id, []).append(LotState(r.id, r.account_id, r.remaining, r.purchased_at))
    for account_lots in lots.values():
        account_lots.sort(key=lambda lot: (lot.purchased_at, lot.id))
    return Locked(subs, lots)


def debit_credit(
    session: Session, locked: Locked, account_id: int, amount: Decimal, charge_id: int
) -> Decimal:
    """Take up to `amount` from the account's lots, oldest first, never below zero: one
    credit_debits row per lot used, lot.last_used_at = now(). Returns what was taken."""
    taken = ZERO
    for lot in locked.lots.get(account_id, ()):
        want = amount - taken
        if want <= 0:
            break
        part = min(want, lot.remaining)
        if part <= 0:
            continue
        session.execute(
            text("UPDATE credit_lots SET remaining = remaining - :amt, last_used_at = now() WHERE id = :id"),
            {"amt": part, "id": lot.id},
        )
        session.execute(
            text("INSERT INTO credit_debits (charge_id, credit_lot_id, amount) VALUES (:c, :l, :amt)"),
            {"c": charge_id, "l": lot.id, "amt": part},
        )
        lot.remaining -= part
        taken += part
    return taken


def use_plan_seconds(
    session: Session, subscription: SubscriptionState, call_class: str, seconds: int
) -> None:
    """Decrement the plan: regional calls from regional seconds then US & Canada seconds,
    domestic calls from US & Canada seconds; never below zero."""
    from_regional = min(seconds, subscription.regional_seconds_left) if call_class == "R" else 0
    from_us = min(seconds - from_regional, subscription.us_canada_seconds_left)
    if from_regional <= 0 and from_us <= 0:
        return
    subscription.regional_seconds_left -= from_regional
    subscription.us_canada_seconds_left -= from_us
    session.execute(
        text(
            "UPDATE plan_subscriptions SET regional_seconds_left = greatest(0, regional_seconds_left - :r),"
            " us_canada_seconds_left = greatest(0, us_canada_seconds_left - :u) WHERE id = :id"
        ),
        {"r": from_regional, "u": from_us, "id": subscription.id},
    )


# ---------------------------------------------------------------------------------------------
# The rater's work queue


@dataclass(frozen=True)
class UnratedCdr:
    id: int
    call_class: str
    dialed: str
    billsec: int
    disposition: str
    vnum: str | None
    accountcode: str | None
    auth_id: int | None
    # resolved: the authorization's account first, then accountcode, then the number's
    account_id: int | None
    virtual_number_id: int | None
    auth_subscription_id: int | None


def claim_unrated(session: Session, batch: int, only_ids: Sequence[int] | None = None) -> list[UnratedCdr]:
    """Lock up to `batch` queued CDRs, skipping those another rater holds (FOR UPDATE SKIP
    LOCKED on the queue rows), with their account and virtual number resolved."""
    where = "WHERE q.cdr_id = ANY(:only)" if only_ids is not None else ""
    ids = session.scalars(
        text(
            f"SELECT q.cdr_id FROM cdr_rating_queue q {where} ORDER BY q.cdr_id LIMIT :n"
            " FOR UPDATE SKIP LOCKED"
        ),
        {"n": batch, "only": list(only_ids or ())},
    ).all()
    if not ids:
        return []
    rows = session.execute(
        text("""
        SELECT c.id, c.call_class, coalesce(c.dialed, '') AS dialed, coalesce(c.billsec, 0) AS billsec,
               coalesce(c.disposition, '') AS disposition, c.vnum, c.accountcode, c.auth_id,
               a.account_id AS auth_account_id, a.virtual_number_id AS auth_vn_id,
               a.plan_subscription_id AS auth_subscription_id,
               vn.id AS vn_id, vn.account_id AS vn_account_id, acct.id AS code_account_id
        FROM cdr c
        LEFT JOIN call_authorizations a ON a.id = c.auth_id
        LEFT JOIN virtual_numbers vn ON vn.number = c.vnum
        LEFT JOIN accounts acct ON acct.id = CASE WHEN c.accountcode ~ '^[0-9]{1,9}$' THEN c.accountcode::int END
        WHERE c.id = ANY(:ids) ORDER BY c.id"""),
        {"ids": list(ids)},
    ).all()
    out = []
    for r in rows:
        account_id = r.auth_account_id or r.code_account_id or r.vn_account_id
        vn_id = r.auth_vn_id or (r.vn_id if r.vn_account_id == account_id else None)
        out.append(
            UnratedCdr(
                r.id,
                (r.call_class or "").strip(),
                r.dialed,
                max(0, r.billsec),
                r.disposition,
                r.vnum,
                r.accountcode,
                r.auth_id if r.auth_account_id else None,
                account_id,
                vn_id,
                r.auth_subscription_id,
            )
        )
    return out


def insert_charge(
    session: Session,
    cdr_id: int,
    *,
    account_id: int | None,
    virtual_number_id: int | None,
    call_type: str,
    country: str,
    prefix: str | None,
    billable_seconds: int,
    plan_seconds: int,
    plan_subscription_id: int | None,
    cost: Decimal,
) -> int | None:
    """The CDR's one charge row; None when the CDR already has one (another rater won)."""
    return session.scalar(
        text(
            "INSERT INTO cdr_charges (cdr_id, account_id, virtual_number_id, call_type, country, prefix,"
            " billable_seconds, plan_seconds, plan_subscription_id, cost) VALUES (:cdr, :a, :vn, :t,"
            " :country, :prefix, :bs, :ps, :sub, :cost) ON CONFLICT (cdr_id) DO NOTHING RETURNING id"
        ),
        {
            "cdr": cdr_id,
            "a": account_id,
            "vn": virtual_number_id,
            "t": call_type[:4],
            "country": (country or "")[:2],
            "prefix": prefix,
            "bs": billable_seconds,
            "ps": plan_seconds,
            "sub": plan_subscription_id,
            "cost": cost,
        },
    )


def dequeue(session: Session, cdr_ids: Sequence[int]) -> None:
    if cdr_ids:
        session.execute(text("DELETE FROM cdr_rating_queue WHERE cdr_id = ANY(:ids)"), {"ids": list(cdr_ids)})


def peek_queue(session: Session, batch: int) -> list[int]:
    return list(
        session.scalars(
            text("SELECT cdr_id FROM cdr_rating_queue ORDER BY cdr_id LIMIT :n"), {"n": batch}
        ).all()
    )


def requeue_unrated(session: Session) -> int:
    """Queue again every classed CDR without a charge (after a quarantined CDR's cause is fixed)."""
    result = session.execute(
        text(
            "INSERT INTO cdr_rating_queue (cdr_id) SELECT c.id FROM cdr c"
            " WHERE c.call_class IS NOT NULL AND c.call_class <> ''"
            "   AND NOT EXISTS (SELECT 1 FROM cdr_charges ch WHERE ch.cdr_id = c.id)"
            " ON CONFLICT DO NOTHING"
        )
    )
    return result.rowcount or 0


# ---------------------------------------------------------------------------------------------
# Rate deck


_RATE_COLUMNS = "prefix, rate_per_minute, connect_fee, min_seconds, increment_seconds, destination, country"
ACTIVE_RATES = f"SELECT {_RATE_COLUMNS} FROM rates WHERE deck_id = (SELECT id FROM rate_decks WHERE active)"
ACTIVE_DECK_ID = "SELECT id FROM rate_decks WHERE active"
DECK_RATES = f"SELECT {_RATE_COLUMNS} FROM rates WHERE deck_id = %s"
# psycopg prepares a statement run 5 times on a connection, so the plan is made once
_LOOKUP = ACTIVE_RATES + " AND prefix = ANY(%s) ORDER BY length(prefix) DESC LIMIT 1"


def _dbapi(session: Session) -> Any:
    """The session's DBAPI connection, in its transaction. Lookups and the deck load go
    through a plain cursor: SQLAlchemy's per-statement overhead would double the cost of a
    0.1 ms lookup. Works on a sync Session and inside AsyncSession.run_sync alike."""
    return session.connection().connection.dbapi_connection


def read_active_deck(cur: Any) -> tuple[int | None, RateDeck]:
    """The active deck's id and its rates in memory (None and an empty deck when none is
    active), on a DBAPI cursor. The rates are read by that id, so the pair always matches
    even when another deck is activated in between (the controller caches by the id)."""
    cur.execute(ACTIVE_DECK_ID)
    row = cur.fetchone()
    if row is None:
        return None, RateDeck(())
    cur.execute(DECK_RATES, (row[0],))
    return row[0], RateDeck(Rate(p, r, f, m, i, d, c) for p, r, f, m, i, d, c in cur.fetchall())


def load_rate_deck(session: Session) -> RateDeck:
    """The active rate deck in memory (an empty deck when none is active)."""
    cur = _dbapi(session).cursor()
    try:
        return read_active_deck(cur)[1]
    finally:
        cur.close()


def prefixes_of(digits: str) -> list[str]:
    digits = (digits or "").lstrip("+")
    if not digits.isdigit():
        return []
    return [digits[:n] for n in range(1, min(len(digits), 15) + 1)]


def sql_lookup(session: Session, digits: str) -> Rate | None:
    """Longest-prefix match in SQL, one query: an index probe per prefix of `digits` on the
    unique (deck_id, prefix) index, the longest hit wins."""
    prefixes = prefixes_of(digits)
    if not prefixes:
        return None
    cur = _dbapi(session).cursor()
    try:
        cur.execute(_LOOKUP, (prefixes,))
        row = cur.fetchone()
    finally:
        cur.close()
    return Rate(*row) if row is not None else None


async def sql_lookup_async(session: AsyncSession, digits: str) -> Rate | None:
    return await session.run_sync(sql_lookup, digits)


# ---------------------------------------------------------------------------------------------
# Missed Calls


@dataclass(frozen=True)
class MissedCall:
    id: int  # cdr.id: pass the last one as after_id for the next page
    start: dt.datetime
    caller_number: str
    caller_name: str
    called: str  # the virtual number or DID dialed (cdr.dst)
    virtual_number: str  # the member's number it reached
    did: str | None  # the DID, when the call came in on one
    ring_seconds: int
    disposition: str  # NO ANSWER, BUSY, FAILED, CONGESTION


MAX_PAGE = 500
# all CDRs of one call (one linkedid) lie within its maximum length of each other
_CALL_SPAN = "interval '5 hours'"


def missed_calls(
    session: Session,
    vnums: Sequence[str],
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    limit: int = 50,
    after_id: int | None = None,
) -> list[MissedCall]:
    """Inbound calls to the member's virtual numbers `vnums` (or to the DIDs connected to them)
    that nobody answered, newest first, one row per call.

    A CDR is a missed call when its dst is one of those numbers, its disposition is not
    ANSWERED, it is the first such CDR of its call (linkedid: a ring list produces one
    unanswered CDR per leg), and no CDR of that call to the same number was answered by a
    party (disposition ANSWERED with a dstchannel: a forwarded leg or the device picked up;
    voicemail answers without one, so a call that went to voicemail still counts as missed).
    Keyset pagination on (start, id): `after_id` is the last id of the previous page.
    Served by ix_cdr_dst_start (dst, start)."""
    numbers = [n for n in dict.fromkeys(vnums) if n and n.isdigit()]
    if not numbers:
        return []
    limit = max(1, min(int(limit), MAX_PAGE))
    where, params = [], {"vnums": numbers, "limit": limit}
    if start is not None:
        where.append("c.start >= :start")
        params["start"] = start
    if end is not None:
        where.append("c.start < :end")
        params["end"] = end
    if after_id is not None:
        where.append("(c.start, c.id) < (SELECT k.start, k.id FROM cdr k WHERE k.id = :after_id)")
        params["after_id"] = int(after_id)
    extra = "".join(f" AND {w}" for w in where)
    rows = session.execute(
        text(f"""
        WITH targets AS (
            SELECT vn.number AS called, vn.number AS vnum, NULL::varchar AS did
            FROM virtual_numbers vn WHERE vn.number = ANY(:vnums)
            UNION ALL
            SELECT d.number, vn.number, d.number
            FROM dids d JOIN virtual_numbers vn ON vn.id = d.virtual_number_id
            WHERE vn.number = ANY(:vnums) AND d.connection = 'virtual_number'
        )
        SELECT c.id, c.start, coalesce(c.src, '') AS src, coalesce(c.clid, '') AS clid, c.dst,
               t.vnum, t.did, coalesce(c.duration, 0) AS duration,
               coalesce(c.disposition, '') AS disposition
        FROM targets t
        JOIN cdr c ON c.dst = t.called
        WHERE c.disposition IS DISTINCT FROM 'ANSWERED'{extra}
          AND NOT EXISTS (
              SELECT 1 FROM cdr o
              WHERE o.dst = c.dst AND o.linkedid = c.linkedid
                AND o.start BETWEEN c.start - {_CALL_SPAN} AND c.start + {_CALL_SPAN}
                AND ((o.disposition = 'ANSWERED' AND coalesce(o.dstchannel, '') <> '')
                     OR (o.disposition IS DISTINCT FROM 'ANSWERED' AND o.id < c.id)))
        ORDER BY c.start DESC, c.id DESC
        LIMIT :limit"""),
        params,
    ).all()
    return [
        MissedCall(
            r.id, r.start, r.src, _caller_name(r.clid), r.dst, r.vnum, r.did, r.duration, r.disposition
        )
        for r in rows
    ]


def _caller_name(clid: str) -> str:
    """The name part of Asterisk's clid ("Name" <number>)."""
    if "<" in clid:
        return clid.split("<", 1)[0].strip().strip('"').strip()
    return ""
