"""Spending limits and fraud controls in SQL (issue 13): the limits as the outbound decision
reads them (CONTEXT_SQL's limit columns, turned into controller.rules.limits values), what a
hold's extension may still take, the fraud events, the velocity rule's trip and lift, and the
panel's reads and changes of the limits.

The hot path's functions take an asyncpg connection (autocommit); the panel's take a sync
Session and leave the commit to the caller's transaction (db.audit writes in it).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.orm import Session

from controller.rules import limits as rules
from controller.rules.numbers import DialClass
from controller.settings import Settings, load
from db.audit import audit
from db.calls import LIMIT_SELECT
from db.errors import ServiceError
from db.hotpath import _bind
from db.models import User

log = logging.getLogger("db.limits")

# CONTEXT_SQL's limit columns, in order (db/calls.py LIMIT_SELECT, LIMIT_OWN, then the money
# state): the number's credit limit, the account's limit_flags, its local date, its day
# counters (migration 0021), and voip_limit_facts' record (OWN_FIELDS; None when not read)
LIMIT_COLUMNS = (
    "credit_limit",
    "limit_flags",
    "today",
    "spend_day",
    "spend_today",
    "spend_today_intl",
    "spend_recent",
    "own",
    "money_state",
)

# voip_limit_facts' fields (migration 0021): the account's limits row, the number's, and the
# facts only they need
OWN_FIELDS = (
    "daily_cap",
    "daily_cap_ceiling",
    "intl_daily_cap",
    "intl_daily_cap_ceiling",
    "countries",
    "countries_allowed",
    "max_rate",
    "max_concurrent",
    "premium_opt_in",
    "velocity_intl_attempts",
    "velocity_amount",
    "velocity_minutes",
    "tripped_at",
    "tripped_reason",
    "number_countries",
    "number_max_concurrent",
    "charged_here",
    "calls",
    "attempts",
)
NO_OWN: tuple[Any, ...] = (None,) * len(OWN_FIELDS)

# A velocity window is at most this long for the day counters' bound (spend_recent covers the
# latest day with charges and the two before it: at least 46 hours back); a longer default
# window (VOIP_VELOCITY_MINUTES) always sums the window's charges.
BOUND_MINUTES = 1440

_OWN_CALL = (
    "voip_limit_facts(vn.account_id, vn.id, %(group)s, %(velocity_minutes)s, %(max_concurrent)s,"
    " (now() AT TIME ZONE a.time_zone)::date)"
)

# The same columns for one number of an account, outside a decision (a hold's extension, the
# panel): the limits' record always read and expanded (psycopg reads it too), the velocity
# window's charges summed, every open hold counted (no call tree of the asker's own).
LIMITS_SQL = (
    "SELECT"
    + LIMIT_SELECT
    + ", "
    + ", ".join(f"f.{name}" for name in OWN_FIELDS)
    + ", (SELECT coalesce(sum(ch.cost), 0) FROM cdr_charges ch WHERE ch.account_id = vn.account_id"
    " AND ch.rated_at > now() - make_interval(mins => coalesce(f.velocity_minutes, %(velocity_minutes)s)))"
    + ", voip_money_state(vn.account_id, vn.id, %(group)s)::text"
    + " FROM virtual_numbers vn JOIN accounts a ON a.id = vn.account_id CROSS JOIN LATERAL "
    + _OWN_CALL
    + " f WHERE vn.id = %(vn)s AND vn.account_id = %(a)s"
)

# what a decision reads afterwards, rarely: voip_limit_facts when the call is international
# but the statement did not ask (the dialed number's pre-classification said it could not be),
# today's counters of an account whose latest charges are dated after its today, and the
# velocity window's charges when the day counters could put them over the velocity amount
OWN_SQL = (
    "SELECT "
    + _OWN_CALL
    + " FROM virtual_numbers vn JOIN accounts a ON a.id = vn.account_id WHERE vn.id = %(vn)s"
)
TODAY_SQL = """SELECT coalesce(sum(amount), 0), coalesce(sum(intl), 0) FROM account_day_spend
                WHERE account_id = %(a)s AND day = %(day)s"""
WINDOW_SQL = """SELECT coalesce(sum(cost), 0) FROM cdr_charges
                 WHERE account_id = %(a)s AND rated_at > now() - make_interval(mins => %(minutes)s)"""


def _limits_params(account_id: int, vn_id: int, settings: Settings) -> dict[str, Any]:
    return {
        "a": account_id,
        "vn": vn_id,
        "group": None,
        "velocity_minutes": settings.velocity_minutes,
        "max_concurrent": settings.max_concurrent_default,
    }


def _countries(value: Sequence[str] | None) -> frozenset[str] | None:
    return None if value is None else frozenset(value)


def _limits(
    own: Sequence[Any], credit_limit: Decimal | None, settings: Settings, premium: Sequence[str]
) -> rules.Limits:
    """The limits that apply (the member's within the operator's, else the settings'), from
    OWN_FIELDS' values (all None: the account and the number have none of their own)."""
    (
        daily_cap,
        daily_ceiling,
        intl_cap,
        intl_ceiling,
        countries,
        countries_allowed,
        max_rate,
        max_concurrent,
        premium_opt_in,
        velocity_attempts,
        velocity_amount,
        velocity_minutes,
        tripped_at,
        tripped_reason,
        number_countries,
        number_max_concurrent,
    ) = own[:16]
    return rules.Limits(
        daily_cap=rules.effective_cap(daily_cap, daily_ceiling, settings.daily_cap_default),
        intl_daily_cap=rules.effective_cap(intl_cap, intl_ceiling, settings.intl_daily_cap_default),
        number_daily_limit=credit_limit,
        countries=rules.allowed_countries(countries, countries_allowed),
        number_countries=_countries(number_countries),
        max_rate=settings.max_rate_default if max_rate is None else max_rate,
        max_concurrent=settings.max_concurrent_default if max_concurrent is None else max_concurrent,
        number_max_concurrent=number_max_concurrent or 0,
        premium_opt_in=bool(premium_opt_in),
        premium_prefixes=tuple(premium),
        velocity_intl_attempts=settings.velocity_intl_attempts
        if velocity_attempts is None
        else velocity_attempts,
        velocity_amount=settings.velocity_amount if velocity_amount is None else velocity_amount,
        velocity_minutes=settings.velocity_minutes if velocity_minutes is None else velocity_minutes,
        tripped_at=tripped_at,
        tripped_reason=tripped_reason or "",
    )


def _today(
    today: dt.date, spend_day: dt.date | None, spend_today: Decimal, spend_intl: Decimal
) -> tuple[Decimal, Decimal] | None:
    """Today's charges (all, international) from the day counters; None when the latest
    charges are dated after the account's today (a clock ahead): then read today's rows."""
    if spend_day == today:
        return spend_today, spend_intl
    if spend_day is None or spend_day < today:
        return rules.ZERO, rules.ZERO
    return None


def limits_of(
    row: Sequence[Any],
    settings: Settings,
    premium: Sequence[str] = (),
    *,
    window: Decimal | None = None,
    today_spend: tuple[Decimal, Decimal] | None = None,
) -> tuple[rules.Limits, rules.LimitFacts]:
    """The limits and the facts from LIMIT_COLUMNS' values. `premium`: the premium-rate
    prefixes (PremiumPrefixes). `window`: the velocity window's charges when summed; without
    it the facts' window_spent is an upper bound (the day counters' spend_recent plus the
    held credit), exact enough to tell that the velocity amount is not reached
    (decision_limits sums the window when it could be). `today_spend`: today's counters read
    apart (TODAY_SQL)."""
    credit_limit, _flags, today, spend_day, spend_today, spend_intl, recent, own, money_state = row
    own = NO_OWN if own is None else tuple(own)
    charged = today_spend or _today(today, spend_day, spend_today, spend_intl) or (rules.ZERO, rules.ZERO)
    limits = _limits(own, credit_limit, settings, premium)
    charged_here, calls, attempts = own[16:19]
    facts = rules.LimitFacts.from_parts(
        (charged[0], charged[1], charged_here or rules.ZERO, recent if window is None else window),
        calls,
        attempts,
        held_credit(money_state),
    )
    return limits, facts


def _window_may_count(limits: rules.Limits, facts: rules.LimitFacts) -> bool:
    """Whether the velocity amount could be exceeded on the bound: then the window is summed."""
    if limits.velocity_amount is None:
        return False
    return limits.velocity_minutes > BOUND_MINUTES or facts.window_spent > limits.velocity_amount


async def decision_limits(
    conn: asyncpg.Connection,
    account_id: int,
    vn_id: int,
    limit_row: Sequence[Any],
    settings: Settings,
    call_class: str,
    call_group: str | None,
    premium: Sequence[str] = (),
    *,
    exact_window: bool = False,
) -> tuple[rules.Limits, rules.LimitFacts]:
    """The limits and the facts of a billable call of number `vn_id` of `account_id` from the
    decision context's limit columns (DecisionContext.limit_row: LIMIT_COLUMNS), with what the statement left out read now, rarely: the limits' record of an
    international call the statement did not ask for, today's counters of an account whose
    latest charges are dated after its today, and the velocity window's charges when the day
    counters could put them over the velocity amount (or always: `exact_window`). Decides
    exactly what summing every fact on every call did."""
    row = list(limit_row)
    if row[7] is None and call_class == DialClass.INTERNATIONAL:
        row[7] = await conn.fetchval(
            *_bind(OWN_SQL, _limits_params(account_id, vn_id, settings) | {"group": call_group})
        )
    today_spend = None
    if _today(*row[2:6]) is None:
        today_spend = tuple(await conn.fetchrow(*_bind(TODAY_SQL, {"a": account_id, "day": row[2]})))
    limits, facts = limits_of(row, settings, premium, today_spend=today_spend)
    if exact_window or _window_may_count(limits, facts):
        window = await conn.fetchval(
            *_bind(WINDOW_SQL, {"a": account_id, "minutes": limits.velocity_minutes})
        )
        facts = dataclasses.replace(facts, window_spent=window + facts.held)
    return limits, facts


def held_credit(state_text: str | None) -> tuple[Decimal, Decimal, Decimal]:
    """The credit the open holds of other calls reserve (all, international, by the asking
    number), from voip_money_state's jsonb (its holds are summed per subscription and class)."""
    if not state_text:
        return rules.ZERO, rules.ZERO, rules.ZERO
    held = held_intl = here = rules.ZERO
    for _sub, call_class, _plan, credit, credit_here in json.loads(state_text, parse_float=Decimal)["holds"]:
        held += Decimal(credit)
        here += Decimal(credit_here)
        if call_class == "I":
            held_intl += Decimal(credit)
    return held, held_intl, here


def _limits_row(row: Sequence[Any]) -> tuple[tuple[Any, ...], Decimal]:
    """LIMITS_SQL's row as LIMIT_COLUMNS' values, and the window's charges."""
    n = LIMIT_COLUMNS.index("own")  # LIMIT_SELECT's columns come first
    own = tuple(row[n : n + len(OWN_FIELDS)])
    return (*row[:n], own, row[-1]), row[-2]


async def extension_cap(
    conn: asyncpg.Connection,
    account_id: int,
    virtual_number_id: int,
    call_class: str,
    settings: Settings | None = None,
) -> Decimal | None:
    """The credit a call in progress of `call_class` from `virtual_number_id` may still add to
    its hold under the account's and the number's caps: cap minus (charged today + every open
    hold, the call's own included), never below 0; 0 while the velocity rule is tripped. None
    when the number is not on the account."""
    settings = settings or load()
    row = await conn.fetchrow(*_bind(LIMITS_SQL, _limits_params(account_id, virtual_number_id, settings)))
    if row is None:
        return None
    values, window = _limits_row(tuple(row))
    today_spend = None
    if _today(*values[2:6]) is None:
        today_spend = tuple(await conn.fetchrow(*_bind(TODAY_SQL, {"a": account_id, "day": values[2]})))
    limits, facts = limits_of(values, settings, window=window, today_spend=today_spend)
    if limits.tripped_at is not None:
        return rules.ZERO
    return rules.credit_cap(limits, facts, call_class)[0]


class PremiumPrefixes:
    """The premium-rate prefixes (premium_prefixes, a short table the operator edits) in the
    controller's memory, matched in Python instead of read by every decision's statement. As
    the rate deck (agi/ratedeck.py): a decision never waits for a refresh; every CHECK_SECONDS
    one background task reads the table again, so an operator's change applies to calls within
    that time. Only the first call waits, for the first read."""

    CHECK_SECONDS = 10.0

    def __init__(self, hot: Any, check_seconds: float = CHECK_SECONDS):
        self._hot = hot  # db.hotpath.HotDB
        self._check_seconds = check_seconds
        self._prefixes: tuple[str, ...] | None = None
        self._checked = 0.0
        self._refresh: asyncio.Task[None] | None = None

    async def get(self, conn: asyncpg.Connection) -> tuple[str, ...]:
        """The prefixes; `conn`: the decision's own connection, for the very first read."""
        prefixes = self._prefixes
        if prefixes is None:
            prefixes = await self._read(conn)
        elif time.monotonic() - self._checked > self._check_seconds and (
            self._refresh is None or self._refresh.done()
        ):
            self._checked = time.monotonic()
            self._refresh = asyncio.create_task(self._check(), name="premium-prefixes-check")
        return prefixes

    async def _read(self, conn: asyncpg.Connection) -> tuple[str, ...]:
        prefixes = tuple(await conn.fetchval(PREMIUM_SQL))
        self._prefixes, self._checked = prefixes, time.monotonic()
        return prefixes

    async def _check(self) -> None:
        try:
            async with self._hot.connection() as conn:
                await self._read(conn)
        except Exception as exc:  # keep the prefixes we have; try again next time
            log.error("premium prefixes check failed", extra={"error": repr(exc)[:200]})


PREMIUM_SQL = "SELECT coalesce(array_agg(prefix ORDER BY prefix), '{}') FROM premium_prefixes"


# ---------------------------------------------------------------------------------------------
# Fraud events and the velocity rule (hot path, asyncpg)

RECORD_SQL = """INSERT INTO fraud_events (account_id, virtual_number_id, kind, detail)
                VALUES ($1, $2, $3, left($4, 300))"""

# the trip and its event in one statement; RETURNING a row only for the call that tripped it
# (a burst of attempts trips it once: one email)
TRIP_SQL = """
    WITH tripped AS (
        INSERT INTO account_limits (account_id, tripped_at, tripped_reason)
        VALUES ($1, now(), left($3, 200))
        ON CONFLICT (account_id) DO UPDATE
           SET tripped_at = now(), tripped_reason = excluded.tripped_reason, updated_at = now()
         WHERE account_limits.tripped_at IS NULL
        RETURNING account_id
    ), event AS (
        INSERT INTO fraud_events (account_id, virtual_number_id, kind, detail)
        SELECT $1, $2, 'velocity_tripped', left($3, 300) FROM tripped
    )
    SELECT a.email, coalesce((SELECT u.email FROM users u WHERE u.account_id = a.id
                               AND u.role = 'primary'), ''), coalesce(v.number, '')
      FROM tripped JOIN accounts a ON a.id = tripped.account_id
      LEFT JOIN virtual_numbers v ON v.id = $2
"""


async def record(
    conn: asyncpg.Connection, account_id: int, vn_id: int | None, kind: str, detail: str
) -> None:
    await conn.execute(RECORD_SQL, account_id, vn_id, kind, detail)


@dataclass(frozen=True)
class Trip:
    """Who to tell: the account's and its primary holder's email, the number that tripped it."""

    emails: tuple[str, ...]
    number: str


async def trip(conn: asyncpg.Connection, account_id: int, vn_id: int | None, reason: str) -> Trip | None:
    """Stop the account's billable calls (the velocity rule tripped); None when it already was."""
    row = await conn.fetchrow(TRIP_SQL, account_id, vn_id, reason)
    if row is None:
        return None
    emails = tuple(dict.fromkeys(e for e in (row[0], row[1]) if e))
    return Trip(emails, row[2])


# ---------------------------------------------------------------------------------------------
# The panel (sync Session)


@dataclass(frozen=True)
class AccountLimitsView:
    """An account's limits as the panel shows them: the member's values, the operator's
    ceilings and settings, and the effective values with what is left today."""

    account_id: int
    daily_cap: Decimal | None
    daily_cap_ceiling: Decimal | None
    intl_daily_cap: Decimal | None
    intl_daily_cap_ceiling: Decimal | None
    countries: tuple[str, ...] | None
    countries_allowed: tuple[str, ...] | None
    max_rate: Decimal | None
    max_concurrent: int | None
    premium_opt_in: bool
    velocity_intl_attempts: int | None
    velocity_amount: Decimal | None
    velocity_minutes: int | None
    tripped_at: dt.datetime | None
    tripped_reason: str
    effective: rules.Limits
    facts: rules.LimitFacts
    _ceiling_daily: Decimal = rules.ZERO
    _ceiling_intl: Decimal = rules.ZERO

    @property
    def daily_ceiling(self) -> Decimal:
        """The operator's ceiling as it applies (the setting's default when none is set)."""
        return self._ceiling_daily

    @property
    def intl_ceiling(self) -> Decimal:
        return self._ceiling_intl

    @property
    def daily_left(self) -> Decimal:
        return rules.left_today(self.effective, self.facts, "D").daily

    @property
    def intl_left(self) -> Decimal:
        left = rules.left_today(self.effective, self.facts, "I").intl
        return left if left is not None else rules.ZERO


ROW_SQL = text(
    "SELECT daily_cap, daily_cap_ceiling, intl_daily_cap, intl_daily_cap_ceiling, countries,"
    " countries_allowed, max_rate, max_concurrent, premium_opt_in, velocity_intl_attempts,"
    " velocity_amount, velocity_minutes, tripped_at, tripped_reason"
    " FROM account_limits WHERE account_id = :a"
)
FIRST_NUMBER_SQL = text("SELECT min(id) FROM virtual_numbers WHERE account_id = :a")


def account_view(session: Session, account_id: int, settings: Settings | None = None) -> AccountLimitsView:
    settings = settings or load()
    row = session.execute(ROW_SQL, {"a": account_id}).first()
    values: list[Any] = list(row) if row is not None else [None] * 8 + [False] + [None] * 4 + [""]
    # the account's facts as a call from its first number sees them (LIMITS_SQL)
    facts = rules.LimitFacts()
    vn_id = session.execute(FIRST_NUMBER_SQL, {"a": account_id}).scalar()
    if vn_id is not None:
        dbapi: Any = session.connection().connection.dbapi_connection
        cur = dbapi.cursor()
        try:
            cur.execute(LIMITS_SQL, _limits_params(account_id, vn_id, settings))
            limit_values, window = _limits_row(tuple(cur.fetchone()))
            today_spend = None
            if _today(*limit_values[2:6]) is None:
                cur.execute(TODAY_SQL, {"a": account_id, "day": limit_values[2]})
                today_spend = tuple(cur.fetchone())
            facts = limits_of(limit_values, settings, window=window, today_spend=today_spend)[1]
        finally:
            cur.close()
    limits = _limits((*values, None, None), None, settings, ())
    (
        daily_cap,
        daily_ceiling,
        intl_cap,
        intl_ceiling,
        countries,
        allowed,
        max_rate,
        max_concurrent,
        premium_opt_in,
        velocity_attempts,
        velocity_amount,
        velocity_minutes,
        tripped_at,
        tripped_reason,
    ) = values
    return AccountLimitsView(
        account_id=account_id,
        daily_cap=daily_cap,
        daily_cap_ceiling=daily_ceiling,
        intl_daily_cap=intl_cap,
        intl_daily_cap_ceiling=intl_ceiling,
        countries=None if countries is None else tuple(countries),
        countries_allowed=None if allowed is None else tuple(allowed),
        max_rate=max_rate,
        max_concurrent=max_concurrent,
        premium_opt_in=bool(premium_opt_in),
        velocity_intl_attempts=velocity_attempts,
        velocity_amount=velocity_amount,
        velocity_minutes=velocity_minutes,
        tripped_at=tripped_at,
        tripped_reason=tripped_reason or "",
        effective=limits,
        facts=facts,
        _ceiling_daily=settings.daily_cap_default if daily_ceiling is None else daily_ceiling,
        _ceiling_intl=settings.intl_daily_cap_default if intl_ceiling is None else intl_ceiling,
    )


def _ensure_row(session: Session, account_id: int) -> None:
    session.execute(
        text("INSERT INTO account_limits (account_id) VALUES (:a) ON CONFLICT DO NOTHING"), {"a": account_id}
    )


def parse_money(raw: str, what: str) -> Decimal:
    """A dollar amount typed in the panel, or ServiceError with a clear message."""
    try:
        value = Decimal((raw or "").strip())
    except InvalidOperation:
        raise ServiceError(f"{what}: enter an amount such as 25.00.") from None
    if not value.is_finite() or value < 0 or value > Decimal("100000"):
        raise ServiceError(f"{what}: enter an amount between 0 and 100000.")
    return value.quantize(Decimal("0.01"))


def set_member_limits(
    session: Session,
    account_id: int,
    *,
    actor: User,
    daily_cap: Decimal,
    intl_daily_cap: Decimal,
    countries: list[str] | None,
    remote_addr: str = "",
    settings: Settings | None = None,
) -> None:
    """The member lowers their caps (never above the operator's ceiling) and edits their
    country list (within the operator's allowance). ServiceError changes nothing."""
    view = account_view(session, account_id, settings)
    if rules.lower_cap(daily_cap, view.daily_ceiling):
        raise ServiceError(f"The daily spend cap cannot be above {view.daily_ceiling:.2f}.")
    if rules.lower_cap(intl_daily_cap, view.intl_ceiling):
        raise ServiceError(f"The international daily cap cannot be above {view.intl_ceiling:.2f}.")
    if countries is not None and view.countries_allowed is not None:
        outside = [c for c in countries if c not in view.countries_allowed]
        if outside:
            raise ServiceError(f"Not allowed on this account: {', '.join(outside)}.")
    _ensure_row(session, account_id)
    session.execute(
        text(
            "UPDATE account_limits SET daily_cap = :d, intl_daily_cap = :i, countries = :c,"
            " updated_at = now() WHERE account_id = :a"
        ),
        {"a": account_id, "d": daily_cap, "i": intl_daily_cap, "c": countries},
    )
    audit(
        session,
        "limits.member_update",
        actor=actor,
        account_id=account_id,
        object_type="account_limits",
        object_id=account_id,
        details={"daily_cap": str(daily_cap), "intl_daily_cap": str(intl_daily_cap), "countries": countries},
        remote_addr=remote_addr,
    )


OPERATOR_FIELDS = (
    "daily_cap_ceiling",
    "intl_daily_cap_ceiling",
    "countries_allowed",
    "max_rate",
    "max_concurrent",
    "premium_opt_in",
    "velocity_intl_attempts",
    "velocity_amount",
    "velocity_minutes",
)


def set_operator_limits(
    session: Session, account_id: int, *, actor: User, remote_addr: str = "", **values: Any
) -> None:
    """The operator's ceilings and controls of an account (None: the setting's default)."""
    unknown = set(values) - set(OPERATOR_FIELDS)
    if unknown:
        raise ServiceError(f"Unknown limit {sorted(unknown)[0]}.")
    minutes = values.get("velocity_minutes")
    if minutes is not None and not 1 <= minutes <= 1440:
        raise ServiceError("The velocity window is 1 to 1440 minutes.")
    for name in ("max_concurrent", "velocity_intl_attempts"):
        if values.get(name) is not None and values[name] < 0:
            raise ServiceError("Limits cannot be negative.")
    _ensure_row(session, account_id)
    if values:
        sets = ", ".join(f"{k} = :{k}" for k in values)
        session.execute(
            text(f"UPDATE account_limits SET {sets}, updated_at = now() WHERE account_id = :a"),
            {"a": account_id, **values},
        )
    audit(
        session,
        "limits.operator_update",
        actor=actor,
        account_id=account_id,
        object_type="account_limits",
        object_id=account_id,
        details={
            k: v if isinstance(v, (bool, int, list)) or v is None else str(v) for k, v in values.items()
        },
        remote_addr=remote_addr,
    )


def lift(session: Session, account_id: int, *, actor: User | None, remote_addr: str = "") -> bool:
    """The operator lifts a tripped velocity rule (audited); False when it was not tripped."""
    reason = session.execute(
        text(
            "WITH old AS (SELECT account_id, tripped_reason FROM account_limits"
            " WHERE account_id = :a AND tripped_at IS NOT NULL FOR UPDATE)"
            " UPDATE account_limits l SET tripped_at = NULL, tripped_reason = '', updated_at = now()"
            " FROM old WHERE l.account_id = old.account_id RETURNING old.tripped_reason"
        ),
        {"a": account_id},
    ).scalar()
    if reason is None:
        return False
    session.execute(
        text("INSERT INTO fraud_events (account_id, kind, detail) VALUES (:a, 'velocity_lifted', :d)"),
        {"a": account_id, "d": f"lifted by {actor.login if actor else 'the system'}"[:300]},
    )
    audit(
        session,
        "limits.velocity_lift",
        actor=actor,
        account_id=account_id,
        object_type="account_limits",
        object_id=account_id,
        details={"reason": reason},
        remote_addr=remote_addr,
    )
    return True


def set_number_limits(
    session: Session,
    vn_id: int,
    *,
    countries: list[str] | None,
    max_concurrent: int | None,
    actor: User,
    account_id: int,
    remote_addr: str = "",
) -> None:
    session.execute(
        text(
            "INSERT INTO number_limits (virtual_number_id, countries, max_concurrent)"
            " VALUES (:v, :c, :m) ON CONFLICT (virtual_number_id) DO UPDATE"
            " SET countries = :c, max_concurrent = :m, updated_at = now()"
        ),
        {"v": vn_id, "c": countries, "m": max_concurrent},
    )
    audit(
        session,
        "limits.number_update",
        actor=actor,
        account_id=account_id,
        object_type="virtual_numbers",
        object_id=vn_id,
        details={"countries": countries, "max_concurrent": max_concurrent},
        remote_addr=remote_addr,
    )


@dataclass(frozen=True)
class FraudEvent:
    id: int
    account_id: int | None
    virtual_number_id: int | None
    kind: str
    detail: str
    created_at: dt.datetime


def recent_events(session: Session, limit: int = 200) -> list[FraudEvent]:
    rows = session.execute(
        text(
            "SELECT id, account_id, virtual_number_id, kind, detail, created_at FROM fraud_events"
            " ORDER BY id DESC LIMIT :n"
        ),
        {"n": limit},
    ).all()
    return [FraudEvent(*r) for r in rows]


@dataclass(frozen=True)
class TrippedAccount:
    account_id: int
    tripped_at: dt.datetime
    reason: str


def tripped_accounts(session: Session) -> list[TrippedAccount]:
    rows = session.execute(
        text(
            "SELECT account_id, tripped_at, tripped_reason FROM account_limits"
            " WHERE tripped_at IS NOT NULL ORDER BY tripped_at DESC"
        )
    ).all()
    return [TrippedAccount(*r) for r in rows]
