"""Billing in SQL: the money state the one money rule (controller.rules.money) decides on, the
hot path's hold statements, credit debits, plan seconds, rate lookups, the rater's work queue
and the Missed Calls query.

The functions take a sync Session and leave the commit to the caller; the `*_async` wrappers
run the same code on an AsyncSession (`run_sync`). The FastAGI route authorizes calls through
db.hotpath, on the SQL functions of migration 0010 and decide_hold.

Lock order, everywhere money moves (voip_lock_money, the rater in controller/services/rater.py):
the rater's queue rows first, then plan_subscriptions by id, then credit_lots by id, each
`SELECT ... ORDER BY id FOR NO KEY UPDATE`. Two transactions that lock in one global order cannot
deadlock, however many accounts a rater batch touches.

Which holds (call_authorizations rows) count and what is left of the money is the rule's
(controller.rules.money): read by voip_money_state in one statement for the hot path, the
calling card and the panel, and row by row for the rater, which must leave out the hold of the
call it rates (tests/billing/test_money_rule.py proves both readings give the same state).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import CursorResult, Row, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from controller.rules import money
from controller.rules.rating import Rate, RateDeck

CDR_NEW_CHANNEL = "cdr_new"  # pg_notify channel of the trigger cdr_queue_for_rating
HOLD_GRACE_SECONDS = 300  # a hold outlives its call's maximum length by this much
ZERO = Decimal("0")

# ---------------------------------------------------------------------------------------------
# The money state


# The statements of an authorization (migration 0010), run by db.hotpath:
#   AUTH_LOCK   row-locks the account's plan subscriptions, then its credit lots, by id
#   AUTH_STATE  the account's money as a call from the number sees it, one jsonb text
#               (read_state); unlocked, it is also what the panel and the calling card show
#   AUTH_HOLD   inserts the hold if the state is still the one the decision was made on
#               (re-read under the locks), else NULL
AUTH_LOCK = "SELECT voip_lock_money(%(a)s)"
AUTH_STATE = "SELECT voip_money_state(%(a)s, %(vn)s, %(g)s)::text"
AUTH_HOLD = (
    "SELECT voip_hold(%(state)s::jsonb, %(a)s, %(vn)s, %(g)s, %(u)s, %(cc)s, %(d)s,"
    " %(p)s, %(m)s, %(s)s, %(hp)s, %(hc)s, %(ttl)s)"
)


# Sliced holds (db.hotpath.extend_hold, after voip_lock_money): the hold, row-locked, and its
# rate in the active deck; then the slice added to it
EXTEND_HOLD_ROW = (
    "SELECT account_id, virtual_number_id, call_class, rate_prefix, max_seconds, plan_subscription_id,"
    " settled_at, expires_at > now() AS open FROM call_authorizations WHERE id = $1 FOR NO KEY UPDATE"
)
EXTEND_RATE = (
    "SELECT prefix, rate_per_minute, connect_fee, min_seconds, increment_seconds, destination, country"
    " FROM rates WHERE deck_id = (SELECT id FROM rate_decks WHERE active) AND prefix = $1"
)
EXTEND_HOLD = (
    "UPDATE call_authorizations SET max_seconds = max_seconds + $2,"
    " held_plan_seconds = held_plan_seconds + $3, held_credit = held_credit + $4,"
    " plan_subscription_id = coalesce(plan_subscription_id, $5),"
    " expires_at = greatest(expires_at, now() + make_interval(secs => $6)) WHERE id = $1"
)


def read_state(state_text: str) -> tuple[int | None, money.MoneyState]:
    """voip_money_state's jsonb: the account the asking number is on (None: no number) and
    the money state, with money as Decimal. The holds come summed per (subscription, class)."""
    raw = json.loads(state_text, parse_float=Decimal)
    owner = raw["owner"]
    plan: dict[tuple[int, str], int] = {}
    credit = credit_here = ZERO
    for sub_id, call_class, plan_seconds, held_credit, held_here in raw["holds"]:
        if sub_id is not None and plan_seconds > 0:
            plan[(sub_id, call_class)] = plan.get((sub_id, call_class), 0) + int(plan_seconds)
        credit += Decimal(held_credit)
        credit_here += Decimal(held_here)
    state = money.MoneyState(
        lots_remaining=Decimal(raw["lots"]),
        subscriptions=tuple(money.Subscription(*s) for s in raw["subs"]),
        held=money.Held(plan, credit, credit_here),
        credit_limit=None if owner is None or owner[1] is None else Decimal(owner[1]),
    )
    return (None if owner is None else owner[0]), state


def money_state(
    session: Session, account_id: int, virtual_number_id: int | None, call_group: str | None = None
) -> tuple[int | None, money.MoneyState]:
    """AUTH_STATE on a Session, unlocked: read_state's pair."""
    cur = _dbapi(session).cursor()
    try:
        cur.execute(AUTH_STATE, {"a": account_id, "vn": virtual_number_id, "g": call_group})
        return read_state(cur.fetchone()[0])
    finally:
        cur.close()


def available_balance(session: Session, account_id: int, virtual_number_id: int | None) -> money.Balance:
    """What a call from `virtual_number_id` could use right now (no locks: for announcements
    and the panel; a call's hold is decided again under lock when it is taken)."""
    return money.available(money_state(session, account_id, virtual_number_id)[1], virtual_number_id)


async def available_balance_async(
    session: AsyncSession, account_id: int, virtual_number_id: int | None
) -> money.Balance:
    return await session.run_sync(available_balance, account_id, virtual_number_id)


def open_holds(session: Session, account_id: int) -> list[money.Hold]:
    """The account's unsettled holds, row by row (the partial index ix_call_authorizations_open
    serves it; which of them count is money.counts')."""
    rows = session.execute(
        text(
            "SELECT id, virtual_number_id, call_class, plan_subscription_id, held_plan_seconds,"
            " held_credit, call_group, expires_at, settled_at FROM call_authorizations"
            " WHERE account_id = :a AND settled_at IS NULL ORDER BY id"
        ),
        {"a": account_id},
    ).all()
    return [money.Hold(*r) for r in rows]


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
    # refused (max_seconds 0) although the money alone would have paid: the credit cap (what is
    # left of the spending limits) refused it, decided on the same state as the refusal
    capped: bool = False

    def __iter__(self) -> Iterator[Any]:  # (auth_id, max_seconds, plan_seconds, reason)
        return iter((self.auth_id, self.max_seconds, self.plan_seconds, self.reason))


@dataclass(frozen=True)
class HoldRequest:
    """The call a hold is for."""

    account_id: int
    virtual_number_id: int
    call_class: str
    dialed: str
    uniqueid: str
    # Asterisk's linkedid: the legs of one forwarded call ring as alternatives (simultaneously
    # or one after another), so they do not count each other's holds
    call_group: str | None = None


def auth_params(call: HoldRequest) -> dict[str, Any]:
    return {"a": call.account_id, "vn": call.virtual_number_id, "g": call.call_group}


def decide_hold(
    call: HoldRequest, rate: Rate, max_seconds: int, state_text: str, credit_cap: Decimal | None = None
) -> Authorization:
    """What the call may hold (money.grant) on the money state `state_text` (AUTH_STATE).
    auth_id is left None (AUTH_HOLD inserts the hold when max_seconds > 0)."""
    owner, state = read_state(state_text)
    if owner != call.account_id:
        raise ValueError(f"virtual number {call.virtual_number_id} is not on account {call.account_id}")
    g = money.grant(state, call.virtual_number_id, call.call_class, rate, max_seconds, credit_cap)
    capped = (
        g.max_seconds <= 0
        and credit_cap is not None
        and money.grant(state, call.virtual_number_id, call.call_class, rate, max_seconds).max_seconds > 0
    )
    return Authorization(
        None, g.max_seconds, g.plan_seconds, g.reason, g.credit, rate.prefix, g.subscription_id, capped
    )


def hold_params(auth: Authorization, state_text: str, call: HoldRequest) -> dict[str, Any]:
    return {
        "state": state_text,
        "u": call.uniqueid,
        "a": call.account_id,
        "vn": call.virtual_number_id,
        "cc": call.call_class,
        "d": call.dialed,
        "p": auth.rate_prefix,
        "m": auth.max_seconds,
        "s": auth.subscription_id,
        "hp": auth.plan_seconds,
        "hc": auth.held_credit,
        "g": call.call_group,
        "ttl": auth.max_seconds + HOLD_GRACE_SECONDS,
    }


def settle_authorization(session: Session, auth_id: int) -> None:
    """The rater's settlement of a hold, by the rating of its call's answered CDR only (a
    failed-over call's unanswered attempts share the hold: controller/services/rater.py)."""
    session.execute(
        text("UPDATE call_authorizations SET settled_at = now() WHERE id = :id AND settled_at IS NULL"),
        {"id": auth_id},
    )


# Giving holds back (issue 13: holds never orphaned). A hold belongs to the channel whose
# decision took it (uniqueid) and to that call's tree (call_group, Asterisk's linkedid).


def release_owned(session: Session, uniqueid: str, linkedid: str | None, auth_id: int | None) -> list[int]:
    """Release (settle) open holds the calling channel owns, from its hangup handler: the hold
    `auth_id` when it was taken by this channel or belongs to its call's tree; without an id,
    the holds this channel's own decision took (it hung up before the dialplan learnt the id).
    A hold of another call is never touched. Returns the ids released."""
    if auth_id is not None:
        sql = (
            "UPDATE call_authorizations SET settled_at = now() WHERE id = :id AND settled_at IS NULL"
            " AND (uniqueid = :u OR (call_group IS NOT NULL AND call_group = :l)) RETURNING id"
        )
    else:
        sql = (
            "UPDATE call_authorizations SET settled_at = now()"
            " WHERE uniqueid = :u AND settled_at IS NULL RETURNING id"
        )
    rows = session.execute(text(sql), {"id": auth_id, "u": uniqueid, "l": linkedid or ""}).scalars()
    return list(rows)


@dataclass(frozen=True)
class OpenHold:
    id: int
    uniqueid: str
    call_group: str | None
    # seconds until the earliest moment the call's granted time can run out (the hold was taken
    # before the answer, and the channel's limit counts from the answer): negative when past
    earliest_end: float = 0.0


def open_holds_all(session: Session) -> list[OpenHold]:
    """Every open hold that still counts (not settled, not expired), for the sweeper."""
    rows = session.execute(
        text(
            "SELECT id, uniqueid, call_group, extract(epoch FROM created_at - now())::float8"
            " + max_seconds AS earliest_end FROM call_authorizations"
            " WHERE settled_at IS NULL AND expires_at > now() ORDER BY id"
        )
    ).all()
    return [OpenHold(r.id, r.uniqueid, r.call_group, r.earliest_end) for r in rows]


def release_orphans(session: Session, ids: Sequence[int]) -> list[int]:
    """Release the holds `ids` (their calls are gone) unless the CDR of an answered call names
    them: that call's rating settles its hold (its money stays held until it is charged). An
    unanswered call's CDR costs nothing: its hold goes back without waiting for the rater."""
    if not ids:
        return []
    rows = session.execute(
        text(
            "UPDATE call_authorizations h SET settled_at = now()"
            " WHERE h.id = ANY(:ids) AND h.settled_at IS NULL"
            "   AND NOT EXISTS (SELECT 1 FROM cdr c WHERE c.auth_id = h.id"
            "                   AND c.disposition = 'ANSWERED' AND c.billsec > 0) RETURNING h.id"
        ),
        {"ids": list(ids)},
    ).scalars()
    return list(rows)


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
    now: dt.datetime  # the transaction's now(): when a hold expires is judged against it

    def lots_remaining(self, account_id: int) -> Decimal:
        return sum((lot.remaining for lot in self.lots.get(account_id, ())), ZERO)


def _subscriptions(session: Session, account_ids: Sequence[int], lock: bool) -> Sequence[Row[Any]]:
    sql = (
        "SELECT id, account_id, enabled_virtual_number_id, regional_seconds_left,"
        " us_canada_seconds_left FROM plan_subscriptions"
        " WHERE account_id = ANY(:a) AND active ORDER BY id"
    )
    return session.execute(text(sql + (" FOR NO KEY UPDATE" if lock else "")), {"a": list(account_ids)}).all()


def _lots(session: Session, account_ids: Sequence[int], lock: bool) -> Sequence[Row[Any]]:
    sql = (
        "SELECT id, account_id, remaining, purchased_at FROM credit_lots"
        " WHERE account_id = ANY(:a) AND remaining > 0 ORDER BY id"
    )
    return session.execute(text(sql + (" FOR NO KEY UPDATE" if lock else "")), {"a": list(account_ids)}).all()


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
    now = session.scalar(text("SELECT now()"))
    return Locked(subs, lots, now)


def plan_balances(
    session: Session,
    locked: Locked,
    account_id: int,
    virtual_number_id: int | None,
    exclude_auth: int | None = None,
) -> tuple[money.PlanBalance, ...]:
    """The account's locked subscriptions enabled on `virtual_number_id`, net of the holds that
    count (money.held) other than `exclude_auth`, the hold of the call being rated."""
    subscriptions = [
        money.Subscription(
            s.id, s.enabled_virtual_number_id, s.regional_seconds_left, s.us_canada_seconds_left
        )
        for s in locked.subscriptions.values()
        if s.account_id == account_id
    ]
    if virtual_number_id is None or not any(
        s.enabled_virtual_number_id == virtual_number_id for s in subscriptions
    ):
        return ()  # no plan on the number: no need to read the holds
    held = money.held(
        open_holds(session, account_id),
        now=locked.now,
        virtual_number_id=virtual_number_id,
        exclude=exclude_auth,
    )
    return money.plan_balances(subscriptions, held, virtual_number_id)


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
    """Take a call's plan seconds from the subscription's buckets (money.plan_take)."""
    from_regional, from_us = money.plan_take(
        call_class, seconds, subscription.regional_seconds_left, subscription.us_canada_seconds_left
    )
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
    # issue 14, carriers: the carrier the CDR names (CDR(carrier), set by the dialplan before
    # each attempt; None for a call through the old single trunk), that carrier's row (None
    # when no carrier of that name exists) and its buy rate for the number dialed (longest
    # prefix of its deck; looked up only for an answered CDR, the only one with a buy cost)
    carrier: str | None = None
    carrier_id: int | None = None
    buy_rate: Rate | None = None


# The claimed CDRs with what rating them needs, in one statement: the account and number (the
# authorization's first, then accountcode, then the number's) and, for a call that left through
# a carrier (issue 14), that carrier by its unique name and its buy rate for the number dialed:
# one probe of uq_carrier_rates_carrier_prefix (carrier_id, prefix) for the prefixes of the
# number, longest first, made only for an answered CDR of a known carrier (the only kind with a
# buy cost; every other CDR skips it).
_CLAIM_ROWS = """
    SELECT c.id, c.call_class, coalesce(c.dialed, '') AS dialed, coalesce(c.billsec, 0) AS billsec,
           coalesce(c.disposition, '') AS disposition, c.vnum, c.accountcode, c.auth_id,
           a.account_id AS auth_account_id, a.virtual_number_id AS auth_vn_id,
           a.plan_subscription_id AS auth_subscription_id,
           vn.id AS vn_id, vn.account_id AS vn_account_id, acct.id AS code_account_id,
           nullif(c.carrier, '') AS carrier, cr.id AS carrier_id, br.prefix AS buy_prefix,
           br.rate_per_minute AS buy_per_minute, br.connect_fee AS buy_connect_fee,
           br.min_seconds AS buy_min_seconds, br.increment_seconds AS buy_increment_seconds,
           br.destination AS buy_destination, br.country AS buy_country
    FROM cdr c
    LEFT JOIN call_authorizations a ON a.id = c.auth_id
    LEFT JOIN virtual_numbers vn ON vn.number = c.vnum
    LEFT JOIN accounts acct ON acct.id = CASE WHEN c.accountcode ~ '^[0-9]{1,9}$' THEN c.accountcode::int END
    LEFT JOIN carriers cr ON cr.name = nullif(c.carrier, '')
    CROSS JOIN LATERAL (
        SELECT CASE WHEN cr.id IS NOT NULL AND upper(c.disposition) = 'ANSWERED' AND c.billsec > 0
                         AND ltrim(c.dialed, '+') ~ '^[0-9]+$'
                    THEN ARRAY(SELECT left(ltrim(c.dialed, '+'), n)
                               FROM generate_series(1, least(length(ltrim(c.dialed, '+')), 15)) n)
               END AS prefixes) px
    LEFT JOIN LATERAL (
        SELECT r.prefix, r.rate_per_minute, r.connect_fee, r.min_seconds, r.increment_seconds,
               r.destination, r.country
        FROM carrier_rates r
        WHERE px.prefixes IS NOT NULL AND r.carrier_id = cr.id AND r.prefix = ANY(px.prefixes)
        ORDER BY length(r.prefix) DESC LIMIT 1) br ON true
    WHERE c.id = ANY(:ids) ORDER BY c.id"""


def claim_unrated(session: Session, batch: int, only_ids: Sequence[int] | None = None) -> list[UnratedCdr]:
    """Lock up to `batch` queued CDRs, skipping those another rater holds (FOR UPDATE SKIP
    LOCKED on the queue rows), with their account and virtual number resolved, and the
    carrier that carried each (with its buy rate) in the same statement."""
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
    rows = session.execute(text(_CLAIM_ROWS), {"ids": list(ids)}).all()
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
                r.carrier,
                r.carrier_id,
                None
                if r.buy_prefix is None
                else Rate(
                    r.buy_prefix,
                    r.buy_per_minute,
                    r.buy_connect_fee,
                    r.buy_min_seconds,
                    r.buy_increment_seconds,
                    r.buy_destination,
                    r.buy_country,
                ),
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
    carrier_id: int | None = None,
    buy_cost: Decimal | None = None,
    margin: Decimal | None = None,
) -> int | None:
    """The CDR's one charge row; None when the CDR already has one (another rater won).
    carrier_id, buy_cost and margin stay NULL for a call that left through no known carrier."""
    return session.scalar(
        text(
            "INSERT INTO cdr_charges (cdr_id, account_id, virtual_number_id, call_type, country, prefix,"
            " billable_seconds, plan_seconds, plan_subscription_id, cost, carrier_id, buy_cost, margin)"
            " VALUES (:cdr, :a, :vn, :t, :country, :prefix, :bs, :ps, :sub, :cost, :carrier, :buy,"
            " :margin) ON CONFLICT (cdr_id) DO NOTHING RETURNING id"
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
            "carrier": carrier_id,
            "buy": buy_cost,
            "margin": margin,
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
    # a DML statement's result is a CursorResult (Session.execute is typed as the generic Result)
    return cast(CursorResult[Any], result).rowcount or 0


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
