"""Spending limits and fraud controls in SQL (issue 13): the limits as the outbound decision
reads them (CONTEXT_SQL's limit columns, turned into controller.rules.limits values), what a
hold's extension may still take, the fraud events, the velocity rule's trip and lift, and the
panel's reads and changes of the limits.

The hot path's functions take an asyncpg connection (autocommit); the panel's take a sync
Session and leave the commit to the caller's transaction (db.audit writes in it).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.orm import Session

from controller.rules import limits as rules
from controller.settings import Settings, load
from db.audit import audit
from db.calls import LIMIT_FROM, LIMIT_SELECT
from db.errors import ServiceError
from db.hotpath import _bind
from db.models import User

# CONTEXT_SQL's limit columns, in order (db/calls.py), and LIMITS_SQL's
LIMIT_COLUMNS = (
    "credit_limit",
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
    "premium_prefixes",
    "charges",
    "calls",
    "attempts",
    "money_state",
)

# The same columns for one number of an account, outside a decision (a hold's extension, the
# panel): every open hold counts (no call tree of the asker's own), no premium match.
LIMITS_SQL = (
    "SELECT"
    + LIMIT_SELECT
    + ", voip_money_state(vn.account_id, vn.id, %(group)s)::text"
    + " FROM virtual_numbers vn JOIN accounts a ON a.id = vn.account_id"
    + LIMIT_FROM
    + " WHERE vn.id = %(vn)s AND vn.account_id = %(a)s"
)


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


def limits_of(row: Sequence[Any], settings: Settings) -> tuple[rules.Limits, rules.LimitFacts]:
    """The limits that apply (the member's within the operator's, else the settings') and the
    facts, from LIMIT_COLUMNS' values."""
    (
        credit_limit,
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
        premium_prefixes,
        charges,
        calls,
        attempts,
        money_state,
    ) = row
    limits = rules.Limits(
        daily_cap=rules.effective_cap(daily_cap, daily_ceiling, settings.daily_cap_default),
        intl_daily_cap=rules.effective_cap(intl_cap, intl_ceiling, settings.intl_daily_cap_default),
        number_daily_limit=credit_limit,
        countries=rules.allowed_countries(countries, countries_allowed),
        number_countries=_countries(number_countries),
        max_rate=settings.max_rate_default if max_rate is None else max_rate,
        max_concurrent=settings.max_concurrent_default if max_concurrent is None else max_concurrent,
        number_max_concurrent=number_max_concurrent or 0,
        premium_opt_in=bool(premium_opt_in),
        premium_prefixes=tuple(premium_prefixes or ()),
        velocity_intl_attempts=settings.velocity_intl_attempts
        if velocity_attempts is None
        else velocity_attempts,
        velocity_amount=settings.velocity_amount if velocity_amount is None else velocity_amount,
        velocity_minutes=settings.velocity_minutes if velocity_minutes is None else velocity_minutes,
        tripped_at=tripped_at,
        tripped_reason=tripped_reason or "",
    )
    return limits, rules.LimitFacts.from_parts(charges, calls, attempts, held_credit(money_state))


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
    limits, facts = limits_of(tuple(row), settings)
    if limits.tripped_at is not None:
        return rules.ZERO
    return rules.credit_cap(limits, facts, call_class)[0]


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
    facts_row: tuple[Any, ...] = (None, None, None, None)
    vn_id = session.execute(FIRST_NUMBER_SQL, {"a": account_id}).scalar()
    if vn_id is not None:
        dbapi: Any = session.connection().connection.dbapi_connection
        cur = dbapi.cursor()
        try:
            cur.execute(LIMITS_SQL, _limits_params(account_id, vn_id, settings))
            facts_row = tuple(cur.fetchone()[-4:])
        finally:
            cur.close()
    limits, facts = limits_of((None, *values[:13], values[13], None, None, (), *facts_row), settings)
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
