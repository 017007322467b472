"""Call History: the member's calls in a range of their local days, keyset-paged, one row per
call as the member experienced it, with what the rater charged for it.

A call is one linkedid of Asterisk's CDRs, whichever number of legs it has. The trigger
member_calls_add on cdr (migration 0012) keeps one member_calls row per call and number taking
part in it: calls the number placed (its CDRs: vnum = the number), calls it received (from the
PSTN: vnum = the number, set by route inbound; on-net: the caller's CDRs, class N, dialed = the
number) and the legs its forwarding dialed. Which calls are the member's: the rows of its
virtual numbers (the whole account's for the primary holder, their own for a secondary user),
from the time each number joined the account (a recycled number's earlier calls stay its
earlier holder's). A call that reached no member (an unconnected DID) is nobody's.

Keyset pagination on member_calls (start, id), newest first, on its index (vnum, start, id)
INCLUDE (seconds): a page is an index range scan per number from the cursor, stopped after one
page, so the first page and the last cost the same; the legs of the page's calls are then read
by linkedid (cdr (linkedid)) and summed up by calls.compose. The records counter and the chart
come from per-day totals (index-only), of which the days that can no longer change are cached
(see day_totals). Missed Calls is the received calls nobody answered (missed_keys).
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from controller.rules.numbers import normalize
from controller.rules.rating import MAX_CALL_SECONDS
from db import calls
from webpanel.call_history.calls import CallRow, Leg, compose
from webpanel.reports import DateRange, local_midnight

PAGE_SIZE = 50


@dataclass(frozen=True)
class Scope:
    """Whose calls: the member's virtual numbers, each with the time it joined the account (a
    recycled number's earlier calls belong to its earlier holder), optionally only the calls
    with one other party (`party`: the spellings of that number a CDR may carry)."""

    numbers: tuple[tuple[str, dt.datetime], ...]
    party: tuple[str, ...] = ()

    @property
    def vnums(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self.numbers)

    def only(self, number: str) -> Scope:
        return Scope(tuple(p for p in self.numbers if p[0] == number), self.party)


@dataclass(frozen=True, slots=True)
class DayTotal:
    day: dt.date
    calls: int
    seconds: int


@dataclass(frozen=True)
class Report:
    rows: list[CallRow]
    total: int
    position: int  # 1-based record number of rows[0]
    page_size: int
    days: list[DayTotal]

    @property
    def first_record(self) -> int:
        return self.position if self.rows else 0

    @property
    def last_record(self) -> int:
        return self.position + len(self.rows) - 1 if self.rows else 0

    @property
    def page(self) -> int:
        return (self.position - 1) // self.page_size + 1 if self.rows else 1

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))

    @property
    def has_newer(self) -> bool:
        return bool(self.rows) and self.position > 1

    @property
    def has_older(self) -> bool:
        return bool(self.rows) and self.last_record < self.total

    @property
    def seconds(self) -> int:
        return sum(d.seconds for d in self.days)


def party_forms(raw: str) -> tuple[str, ...] | None:
    """The ways a CDR may spell the number `raw` (as dialed, E.164 digits, with +, 011 or 1),
    or None when `raw` is not a phone number."""
    s = normalize(raw)
    if s is None:
        return None
    digits = s.lstrip("+")
    if digits.startswith("011") and len(digits) > 3:
        digits = digits[3:]
    forms = {s, digits, "+" + digits, "011" + digits}
    if len(digits) == 10:
        forms |= {"1" + digits, "+1" + digits}
    if len(digits) == 11 and digits.startswith("1"):
        forms.add(digits[1:])
    return tuple(sorted(forms))


# the member's numbers, each read from its own index range from the time it joined the account
_NUMBERS = "unnest(CAST(:nums AS varchar[]), CAST(:since AS timestamptz[])) AS v(num, since)"
_MINE = "m.vnum = v.num AND m.start >= greatest(:lo, v.since) AND m.start < :hi"
# a call's legs that are the number's: its own, and the on-net legs of a call to it
_ITS_LEG = (
    "(c.vnum = {m}.vnum OR (c.call_class = 'N' AND c.dialed = {m}.vnum AND c.vnum IS DISTINCT FROM {m}.vnum))"
)
_PARTY = (
    " AND EXISTS (SELECT 1 FROM cdr c WHERE c.linkedid = m.linkedid AND "
    + _ITS_LEG.format(m="m")
    + " AND (c.dialed = ANY(:party) OR c.src = ANY(:party) OR c.dst = ANY(:party)))"
)
_MISSED = " AND " + calls.missed("m")  # the one definition (db.calls.missed)


def _mine(scope: Scope, columns: str, extra: str = "", alias: str = "m") -> str:
    """FROM clause: the member's calls of [lo, hi), one index range scan per number (a LATERAL
    subquery that OFFSET 0 keeps from being flattened into a hash join over the whole table)."""
    return (
        f"{_NUMBERS} CROSS JOIN LATERAL (SELECT {columns} FROM member_calls m"
        f" WHERE {_MINE}{_party(scope)}{extra} OFFSET 0) {alias}"
    )


def _params(scope: Scope, lo: dt.datetime, hi: dt.datetime, **more: Any) -> dict[str, Any]:
    return {
        "nums": [n for n, _ in scope.numbers],
        # Asterisk writes a CDR's times to the second: a call in the second the number
        # joined the account is the account's
        "since": [t.replace(microsecond=0) for _, t in scope.numbers],
        "party": list(scope.party),
        "lo": lo,
        "hi": hi,
        **more,
    }


def _party(scope: Scope) -> str:
    return _PARTY if scope.party else ""


# the statements above come in a few shapes (direction, cursor, ?number=): each parsed once
_sql = functools.lru_cache(maxsize=64)(text)


# --- day totals: the records counter and the chart -------------------------------------------
#
# Asterisk writes a CDR when its call ends (cdr.conf batch = no) and no call lasts more than
# controller.rules.rating.MAX_CALL_SECONDS, so a local day that ended CLOSED_AFTER ago gets no new
# CDRs: its totals are cached (per process, for CACHE_TTL at most, so even an operator's late
# import shows up). Only the days still open are counted on every request: on a member's
# default 30-day report that is one or two days of calls instead of thirty.

CLOSED_AFTER = dt.timedelta(seconds=MAX_CALL_SECONDS) + dt.timedelta(hours=2)
CACHE_TTL = 600.0
CACHE_SIZE = 1024  # ranges; at most 366 small DayTotals each


class _TtlCache:
    def __init__(self, size: int, ttl: float):
        self._data: OrderedDict = OrderedDict()
        self._size, self._ttl, self._lock = size, ttl, threading.Lock()

    def get(self, key):
        with self._lock:
            hit = self._data.get(key)
            if hit is None or hit[0] < time.monotonic():
                return None
            self._data.move_to_end(key)
            return hit[1]

    def put(self, key, value) -> None:
        with self._lock:
            self._data[key] = (time.monotonic() + self._ttl, value)
            self._data.move_to_end(key)
            while len(self._data) > self._size:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


_closed_days = _TtlCache(CACHE_SIZE, CACHE_TTL)


def forget_cached_totals() -> None:
    _closed_days.clear()


def _aggregate(
    session: Session, scope: Scope, lo: dt.datetime, hi: dt.datetime, tz_name: str
) -> list[DayTotal]:
    if not scope.numbers or lo >= hi:
        return []
    rows = session.execute(
        _sql(f"""
        SELECT (m.start AT TIME ZONE :tz)::date AS day, count(*) AS calls,
               coalesce(sum(m.seconds), 0) AS seconds
        FROM {_mine(scope, "m.start, m.seconds")}
        GROUP BY 1 ORDER BY 1"""),
        _params(scope, lo, hi, tz=tz_name),
    ).all()
    return [DayTotal(r.day, r.calls, int(r.seconds)) for r in rows]


def _first_open_day(rng: DateRange, cutoff: dt.datetime) -> dt.date:
    """The first day of the range (rng.end + 1 if none) that ends after `cutoff`: the days
    before it are closed. A day ends at the next local midnight, which grows with the day, so
    it is the local day of `cutoff` (moved by at most a day around a DST change)."""
    tz, one = rng.tz, dt.timedelta(days=1)
    day = min(max(cutoff.astimezone(tz).date(), rng.start), rng.end + one)
    while day > rng.start and local_midnight(day, tz) > cutoff:  # day - 1 still open
        day -= one
    while day <= rng.end and local_midnight(day + one, tz) <= cutoff:  # day itself closed
        day += one
    return day


def day_totals(
    session: Session, scope: Scope, rng: DateRange, now: dt.datetime | None = None
) -> list[DayTotal]:
    """Calls and answered seconds per local day of the range (days without calls left out)."""
    now = now or dt.datetime.now(dt.UTC)
    tz = rng.tz
    closed_until = _first_open_day(rng, now - CLOSED_AFTER)
    closed: list[DayTotal] = []
    if closed_until > rng.start:
        key = (scope, rng.tz_name, rng.start, closed_until)
        cached = _closed_days.get(key)
        if cached is None:
            cached = tuple(
                _aggregate(session, scope, rng.utc_start, local_midnight(closed_until, tz), rng.tz_name)
            )
            _closed_days.put(key, cached)
        closed = list(cached)
    open_days = (
        _aggregate(
            session, scope, max(local_midnight(closed_until, tz), rng.utc_start), rng.utc_end, rng.tz_name
        )
        if closed_until <= rng.end
        else []
    )
    return closed + open_days


def count_newer(
    session: Session,
    scope: Scope,
    rng: DateRange,
    days: Sequence[DayTotal],
    key: tuple[dt.datetime, int],
    inclusive: bool,
) -> int:
    """How many calls of the range come before `key` (start, id) newest first: those of the
    later local days (from `days`) and those of key's own day newer than it (one bounded,
    index-ordered count)."""
    tz = rng.tz
    key_day = key[0].astimezone(tz).date()
    later = sum(d.calls for d in days if d.day > key_day)
    lo = max(key[0], rng.utc_start)
    hi = min(local_midnight(key_day + dt.timedelta(days=1), tz), rng.utc_end)
    if lo >= hi or not scope.numbers:
        return later
    op = ">=" if inclusive else ">"
    same_day = session.scalar(
        _sql(f"""
        SELECT count(*) FROM {_mine(scope, "m.id", f" AND (m.start, m.id) {op} (:ks, :ki)")}"""),
        _params(scope, lo, hi, ks=key[0], ki=key[1]),
    )
    return later + (same_day or 0)


def data_version(session: Session) -> tuple[int, int]:
    """What a rendered report depends on beyond its request: the newest CDR (a new call, or a
    new leg of one, is a new cdr row; the trigger adds its member_calls row in the same
    statement) and the newest charge (the rater prices a CDR after it is written). Two
    primary-key lookups."""
    row = session.execute(
        _sql("SELECT (SELECT coalesce(max(id), 0) FROM cdr), (SELECT coalesce(max(id), 0) FROM cdr_charges)")
    ).one()
    return int(row[0]), int(row[1])


# --- rows ------------------------------------------------------------------------------------


# the columns of a leg (calls.Leg, in order) and what the rater charged for it
_LEG = (
    "c.id, c.start, c.src, c.dst, c.dcontext, c.clid, c.channel, c.dstchannel, c.lastapp,"
    " c.disposition, c.billsec, c.vnum, c.call_class, c.dialed, ch.call_type, ch.country, ch.cost"
)
# the legs of the calls `p` (id, vnum, linkedid, start): every CDR of one call starts within its
# longest possible length of the first (a bound that keeps two Asterisk nodes' equal linkedids
# apart); a call whose CDRs are not found is still a row
_LEGS = f"""
    LEFT JOIN cdr c ON c.linkedid = p.linkedid AND c.start >= p.start
        AND c.start < p.start + CAST(:span AS interval) AND {_ITS_LEG.format(m="p")}
    LEFT JOIN cdr_charges ch ON ch.cdr_id = c.id"""
_SPAN = f"{int(CLOSED_AFTER.total_seconds())} seconds"


def _calls(rows: Iterable[Any]) -> Iterator[CallRow]:
    """Rows of (call id, number, start, leg columns...) in call order, each call's legs oldest
    first, as one CallRow per call."""
    current: tuple[int, str, dt.datetime] | None = None
    legs: list[Leg] = []
    for r in rows:
        call = (r[0], r[1], r[2])
        if call != current:
            if current is not None:
                yield compose(current[1], current[0], current[2], legs)
            current, legs = call, []
        if r[3] is None:  # no CDR found for the call
            continue
        # by position rather than by name: a page has 50 calls, an export all of them (the
        # text columns are varchar: a str or NULL)
        legs.append(
            Leg(
                r[3],
                r[4],
                r[5] or "",
                r[6] or "",
                r[7] or "",
                r[8] or "",
                r[9] or "",
                r[10] or "",
                r[11] or "",
                (r[12] or "").upper(),
                max(0, r[13] or 0),
                r[14] or "",
                r[15] or "",
                r[16] or "",
                r[17],
                r[18] or "",
                r[19],
            )
        )
    if current is not None:
        yield compose(current[1], current[0], current[2], legs)


def _page(
    session: Session,
    scope: Scope,
    rng: DateRange,
    *,
    limit: int,
    newest_first: bool,
    key: tuple[dt.datetime, int] | None,
) -> list[CallRow]:
    """The `limit` calls next to `key` (older when newest_first, else newer). The keys come
    from an index scan of member_calls (vnum, start, id) in index order, per number, stopped
    after `limit` entries; only the page's calls' legs are then read from cdr."""
    if limit <= 0 or not scope.numbers:
        return []
    order = "DESC" if newest_first else "ASC"
    params = _params(scope, rng.utc_start, rng.utc_end, n=limit, span=_SPAN)
    keyed = ""
    if key is not None:
        keyed = f" AND (m.start, m.id) {'<' if newest_first else '>'} (:ks, :ki)"
        params.update(ks=key[0], ki=key[1])
    rows = session.execute(
        _sql(f"""
        WITH p AS (
            SELECT k.id, k.vnum, k.linkedid, k.start FROM {_NUMBERS}
            CROSS JOIN LATERAL (
                SELECT m.id, m.vnum, m.linkedid, m.start FROM member_calls m
                WHERE {_MINE}{_party(scope)}{keyed}
                ORDER BY m.start {order}, m.id {order} LIMIT :n) k
            ORDER BY k.start {order}, k.id {order} LIMIT :n)
        SELECT p.id, p.vnum, p.start, {_LEG}
        FROM p{_LEGS}
        ORDER BY p.start {order}, p.id {order}, c.start, c.id"""),
        params,
    ).all()
    out = list(_calls(rows))
    return out if newest_first else out[::-1]


def report(
    session: Session,
    scope: Scope,
    rng: DateRange,
    *,
    after: tuple[dt.datetime, int] | None = None,
    before: tuple[dt.datetime, int] | None = None,
    last: bool = False,
    page_size: int = PAGE_SIZE,
) -> Report:
    """One page: the first (newest calls), the one after `after` (older), the one before
    `before` (newer), or the last."""
    n = page_size
    days = day_totals(session, scope, rng)
    total = sum(d.calls for d in days)
    if after is not None:
        rows = _page(session, scope, rng, limit=n, newest_first=True, key=after)
        position = count_newer(session, scope, rng, days, after, inclusive=True) + 1 if rows else 1
    elif before is not None:
        newer = count_newer(session, scope, rng, days, before, inclusive=False)
        if newer <= n:  # the previous page is the first
            rows, position = _page(session, scope, rng, limit=n, newest_first=True, key=None), 1
        else:
            rows = _page(session, scope, rng, limit=n, newest_first=False, key=before)
            position = newer - len(rows) + 1
    elif last and total > n:
        size = total - (-(-total // n) - 1) * n
        rows = _page(session, scope, rng, limit=size, newest_first=False, key=None)
        position = total - len(rows) + 1
    else:
        rows, position = _page(session, scope, rng, limit=n, newest_first=True, key=None), 1
    if not rows and total and (after is not None or before is not None):
        return report(session, scope, rng, page_size=page_size)  # a stale link: the first page
    return Report(rows, max(total, position + len(rows) - 1), max(1, position), n, days)


def export_rows(session: Session, scope: Scope, rng: DateRange, batch: int = 2000) -> Iterator[CallRow]:
    """Every call of the range, newest first, streamed from a server-side cursor."""
    if not scope.numbers:
        return
    result = session.execute(
        _sql(f"""
        SELECT p.id, p.vnum, p.start, {_LEG}
        FROM {_mine(scope, "m.id, m.vnum, m.linkedid, m.start", alias="p")}{_LEGS}
        ORDER BY p.start DESC, p.id DESC, c.start, c.id"""),
        _params(scope, rng.utc_start, rng.utc_end, span=_SPAN),
        execution_options={"yield_per": batch},
    )
    yield from _calls(result)


# --- Missed Calls ----------------------------------------------------------------------------


def missed_keys(session: Session, scope: Scope, rng: DateRange, limit: int) -> list[tuple[dt.datetime, int]]:
    """The (start, id) of the range's calls the member received and nobody answered (voicemail
    is not an answer), newest first, at most `limit` (the index ix_member_calls_missed)."""
    if not scope.numbers or limit <= 0:
        return []
    rows = session.execute(
        _sql(f"""
        SELECT k.start, k.id FROM {_NUMBERS}
        CROSS JOIN LATERAL (
            SELECT m.start, m.id FROM member_calls m
            WHERE {_MINE}{_MISSED} ORDER BY m.start DESC, m.id DESC LIMIT :n) k
        ORDER BY k.start DESC, k.id DESC LIMIT :n"""),
        _params(scope, rng.utc_start, rng.utc_end, n=limit),
    ).all()
    return [(r.start, r.id) for r in rows]


def calls_by_id(session: Session, ids: Sequence[int]) -> list[CallRow]:
    """The calls `ids` (member_calls ids), in that order."""
    if not ids:
        return []
    rows = session.execute(
        _sql(f"""
        WITH p AS (SELECT m.id, m.vnum, m.linkedid, m.start, o.n FROM member_calls m
                   JOIN unnest(CAST(:ids AS bigint[])) WITH ORDINALITY AS o(id, n) ON o.id = m.id)
        SELECT p.id, p.vnum, p.start, {_LEG}
        FROM p{_LEGS}
        ORDER BY p.n, c.start, c.id"""),
        {"ids": list(ids), "span": _SPAN},
    ).all()
    return list(_calls(rows))


def own_number(numbers: Sequence[str], raw: str) -> str | None:
    """`raw` when it names one of the member's own virtual numbers (with or without the 1)."""
    s = (normalize(raw) or "").lstrip("+")
    for candidate in (s, "1" + s if len(s) == 10 else None, s[1:] if len(s) == 11 and s[0] == "1" else None):
        if candidate and candidate in numbers:
            return candidate
    return None
