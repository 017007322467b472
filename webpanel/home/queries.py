"""What the dashboard shows (issue 16): the account's figures and each number's registration.

Two reads whatever the number of numbers: the numbers with their live devices and latest
registration events (LATERAL, on the indexes of ps_contacts and registration_events) and the
account's figures (balance, today's spend, new voicemail, plan minutes: scalar subqueries
PostgreSQL computes once), then the missed calls since the last visit (Missed Calls' definition,
counted by when each call ended: MISSED_SQL).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from db import calls
from db.models import User

FAILURES = ("bad_password", "unknown_user", "address_refused", "too_many_devices", "other_failure")
SEEN = ("registered", "unregistered", "expired")
MISSED_MAX = 99  # "99+" past that: the dashboard is no report
MISSED_DEFAULT_DAYS = 7  # since the last visit; the first visit looks back a week


@dataclass(frozen=True)
class Figures:
    balance: Decimal
    today_spend: Decimal
    new_voicemail: int
    plan_seconds_left: int
    plans: int


@dataclass(frozen=True)
class Device:
    user_agent: str
    address: str
    expires: int  # Unix seconds


@dataclass(frozen=True)
class Event:
    at: dt.datetime
    event: str
    remote_addr: str
    detail: str = ""


@dataclass(frozen=True)
class NumberState:
    id: int
    number: str
    display_name: str
    voicemail_enabled: bool
    max_contacts: int
    devices: list[Device] = field(default_factory=list)
    last_failure: Event | None = None
    last_seen: Event | None = None  # the latest registered / unregistered / expired

    @property
    def registered_devices(self) -> int:
        return len(self.devices)

    @property
    def failing(self) -> bool:
        """The latest thing Asterisk said about this number is a refusal."""
        if self.last_failure is None:
            return False
        return self.last_seen is None or (self.last_failure.at, 1) > (self.last_seen.at, 0)


@dataclass(frozen=True)
class Missed:
    count: int
    capped: bool
    since: dt.datetime


# a member's numbers: access.number_scope's rule in SQL (the primary holder: the account's;
# a secondary user: only their own), so the dashboard reads them in the statement that reads
# the rest (tests/web/test_dashboard.py checks a secondary user sees only theirs)
_SCOPE = "{vn}.account_id = :a AND (CAST(:own AS integer) IS NULL OR {vn}.id = :own)"
_FIGURES = f"""
       (SELECT coalesce(sum(remaining), 0) FROM credit_lots WHERE account_id = :a) AS balance,
       (SELECT coalesce(sum(d.amount), 0) FROM account_day_spend d JOIN accounts a ON a.id = d.account_id
         WHERE d.account_id = :a AND d.day = (now() AT TIME ZONE a.time_zone)::date) AS today,
       (SELECT count(*) FROM voicemail_messages m JOIN virtual_numbers v ON v.id = m.virtual_number_id
         WHERE {_SCOPE.format(vn="v")} AND m.folder = 'new') AS new_vm,
       (SELECT coalesce(sum(regional_seconds_left + us_canada_seconds_left), 0) FROM plan_subscriptions
         WHERE account_id = :a AND active
           AND (CAST(:own AS integer) IS NULL OR enabled_virtual_number_id = :own)) AS plan_seconds,
       (SELECT count(*) FROM plan_subscriptions
         WHERE account_id = :a AND active
           AND (CAST(:own AS integer) IS NULL OR enabled_virtual_number_id = :own)) AS plans"""

FIGURES_SQL = text(f"SELECT {_FIGURES}")

# the numbers, their live devices and latest events, and (uncorrelated subqueries, computed once)
# the account's figures on every row; with :mark, the user's visit is recorded in the same
# statement (users.home_seen_at: the data-modifying WITH runs whatever the SELECT returns), a
# round trip less than an UPDATE of its own
NUMBERS_SQL = text(f"""
WITH seen AS (UPDATE users SET home_seen_at = CAST(:seen AS timestamptz)
               WHERE id = CAST(:mark AS integer) RETURNING id)
SELECT vn.id, vn.number, vn.display_name, vn.voicemail_enabled, vn.max_contacts, vn.created_at,
       (SELECT coalesce(json_agg(json_build_array(coalesce(c.user_agent, ''), coalesce(c.via_addr, ''),
                                                  coalesce(c.via_port, 0), c.expiration_time)
                                 ORDER BY c.expiration_time DESC, c.id), '[]')
          FROM ps_contacts c WHERE c.endpoint = vn.number AND c.expiration_time > :now) AS devices,
       f.at, f.event, f.remote_addr, f.detail, s.at, s.event, s.remote_addr,
       {_FIGURES}
FROM virtual_numbers vn
LEFT JOIN LATERAL (
    SELECT e.at, e.event, e.remote_addr, e.detail FROM registration_events e
     WHERE e.virtual_number_id = vn.id AND e.event IN {FAILURES!r}
     ORDER BY e.at DESC, e.id DESC LIMIT 1) f ON true
LEFT JOIN LATERAL (
    SELECT e.at, e.event, e.remote_addr FROM registration_events e
     WHERE e.virtual_number_id = vn.id AND e.event IN {SEEN!r}
     ORDER BY e.at DESC, e.id DESC LIMIT 1) s ON true
WHERE {_SCOPE.format(vn="vn")} AND (CAST(:only AS integer) IS NULL OR vn.id = :only)
ORDER BY vn.number
""")


@dataclass(frozen=True)
class Dashboard:
    figures: Figures
    numbers: list[NumberState]
    joined: dict[str, dt.datetime]  # number -> when it joined the account (Missed Calls' scope)


def _params(user: User, now: float | None, only: int | None, seen: dt.datetime | None) -> dict[str, Any]:
    if user.account_id is None or user.role not in ("primary", "secondary"):
        raise ValueError("only a member has numbers")
    return {
        "a": user.account_id,
        "own": None if user.role == "primary" else user.virtual_number_id,
        "only": only,
        "now": int(now if now is not None else time.time()),
        "mark": None if seen is None else user.id,
        "seen": seen,
    }


def _event(at: Any, event: Any, addr: Any, detail: Any = "") -> Event | None:
    return None if at is None else Event(at, event, addr or "", detail or "")


def _figures(row: Any) -> Figures:
    return Figures(
        Decimal(row.balance), Decimal(row.today), int(row.new_vm), int(row.plan_seconds), int(row.plans)
    )


def dashboard(
    session: Session,
    user: User,
    now: float | None = None,
    only: int | None = None,
    seen: dt.datetime | None = None,
) -> Dashboard:
    """The member's figures and numbers (`only`: that number's id alone) in one statement: each
    number's live devices (contacts not yet expired: Asterisk prunes expired ones only now and
    then) and its latest registration failure and sighting. With `seen`, users.home_seen_at
    becomes `seen` in the same statement (the caller commits; not audited: a page view)."""
    params = _params(user, now, only, seen)
    rows = session.execute(NUMBERS_SQL, params).all()
    if not rows:
        return Dashboard(_figures(session.execute(FIGURES_SQL, params).one()), [], {})
    numbers = []
    for r in rows:
        devices = [
            Device(ua, f"{addr}:{port}" if addr and port else addr, int(exp)) for ua, addr, port, exp in r[6]
        ]
        numbers.append(
            NumberState(
                r[0],
                r[1],
                r[2] or "",
                bool(r[3]),
                int(r[4]),
                devices,
                _event(r[7], r[8], r[9], r[10]),
                _event(r[11], r[12], r[13]),
            )
        )
    return Dashboard(_figures(rows[0]), numbers, {r[1]: r[5] for r in rows})


# Missed calls since the last visit. A CDR is written when its leg hangs up, carrying the call's
# start: a call that rang while the member looked at Home started before that visit and appears
# after it. So a call counts on the visit after its first leg ended (the earliest end of the
# number's legs, the ones db.calls' trigger sums into its member_calls row): nothing of it was
# written before then, so it was not seen. Asterisk writes a leg's end to the second, rounded
# down, and no sooner than the leg ends: a leg seen on a visit ended before that visit's mark,
# so the next visit, counting from the mark, never counts its call again.
MISSED_LONGEST = dt.timedelta(days=1)  # no unanswered call rings (or records a message) a day
MISSED_SQL = text(f"""
SELECT count(*) FROM (
    SELECT 1 FROM unnest(CAST(:nums AS varchar[]), CAST(:joined AS timestamptz[])) AS v(num, joined)
    CROSS JOIN LATERAL (
        SELECT m.id FROM member_calls m
        CROSS JOIN LATERAL (
            SELECT coalesce(min(coalesce(c."end", c.start)), m.start) AS ended FROM cdr c
             WHERE c.linkedid = m.linkedid
               AND (c.vnum = m.vnum
                    OR (c.call_class = 'N' AND c.dialed = m.vnum AND c.vnum IS DISTINCT FROM m.vnum))) e
        WHERE m.vnum = v.num AND m.start >= greatest(:lo, v.joined) AND m.start < :hi
          AND {calls.missed("m")} AND e.ended >= :mark AND e.ended < :hi
        LIMIT :n) k
    LIMIT :n) x
""")


def missed_since(
    session: Session, joined: dict[str, dt.datetime], since: dt.datetime | None, now: dt.datetime
) -> Missed:
    """Calls missed (Missed Calls' definition: one per call, voicemail is not an answer) that
    ended since `since`, the last visit (a week when there was none), and before `now`, this
    visit's mark: each counts on one visit only."""
    start = since or now - dt.timedelta(days=MISSED_DEFAULT_DAYS)
    if not joined:
        return Missed(0, False, start)
    numbers = sorted(joined.items())
    count = session.scalar(
        MISSED_SQL,
        {
            "nums": [n for n, _ in numbers],
            # Asterisk writes a CDR's times to the second: a call in the second the number
            # joined the account is the account's (as Missed Calls reads it)
            "joined": [t.replace(microsecond=0) for _, t in numbers],
            "lo": start - MISSED_LONGEST,
            "mark": start,
            "hi": now,
            "n": MISSED_MAX + 1,
        },
    )
    count = int(count or 0)
    return Missed(min(count, MISSED_MAX), count > MISSED_MAX, start)
