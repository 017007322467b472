"""Call History: the member's CDRs in a range of their local days, keyset-paged, with what the
rater charged for each.

Which CDRs are the member's: those whose `vnum` is one of the member's virtual numbers (the
whole account's for the primary holder, their own for a secondary user), from the time the
number joined the account (a recycled number's earlier calls stay its earlier holder's). The
controller tags every leg it decides with CDR(vnum):
- calls the member placed (route `outbound`: vnum = the calling number, call_class set);
- forwarded legs to the PSTN, charged to the forwarding member (vnum inherited);
- calls that came in for the member, on one of their DIDs or straight to their virtual
  number (route `inbound`: vnum = the member's number, no call_class: type IN, free).
So one indexed column answers "mine" for outbound and inbound alike, and a call a member did
not place, forward or receive never shows. Calls refused before reaching a member (an
unconnected DID) carry no vnum: nobody's history. Missed Calls is the report of unanswered
inbound calls (db.billing.missed_calls, keyed on dst).

Keyset pagination on (start, id), newest first, on the index cdr (vnum, start, id) INCLUDE
(billsec, disposition) (migration 0006): a page is an index-only scan per number from the
cursor, stopped after one page, so the first page and the last cost the same. The records
counter and the chart come from per-day totals (index-only too), of which the days that can no
longer change are cached (see day_totals).
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.orm import Session

from controller.rules.numbers import DialClass, classify, normalize
from controller.rules.rating import MAX_CALL_SECONDS
from webpanel.choices import country_name
from webpanel.i18n import lazy_gettext as _l
from webpanel.reports import DateRange, local_midnight

PAGE_SIZE = 50
# lazy: a row's words are read in the language of the page (or CSV) that shows them
DISPOSITIONS = {
    "ANSWERED": _l("Answered"),
    "NO ANSWER": _l("No answer"),
    "BUSY": _l("Busy"),
    "FAILED": _l("Failed"),
    "CONGESTION": _l("Congestion"),
}
INBOUND = "IN"
# Type codes as the help page's legend: R, D, I, and what a plan or the kind of call gives.
# A row's type is the code the CDR or its charge stores (a plain string); DialClass members
# are str, equal to and hashed like their codes, so they key the lookup.
TYPES = {
    DialClass.REGIONAL: _l("Regional"),
    DialClass.DOMESTIC: _l("Domestic (US & Canada)"),
    DialClass.INTERNATIONAL: _l("International"),
    "PR": _l("Regional, absorbed by a calling plan"),
    "PD": _l("Domestic, absorbed by a calling plan"),
    DialClass.ON_NET: _l("On-net (member to member, free)"),
    DialClass.EMERGENCY: _l("Emergency 911"),
    DialClass.TOLL_FREE: _l("Toll-free"),
    INBOUND: _l("Incoming call"),
}
# the legend as the page prints it: each code as written (str() of a member is its name)
LEGEND = {code.value if isinstance(code, DialClass) else code: label for code, label in TYPES.items()}


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


@dataclass(frozen=True)
class CallRow:
    id: int
    start: dt.datetime
    calling: str
    called: str
    country: str
    disposition: str
    type: str
    billsec: int
    cost: Decimal | None  # None: not rated yet
    outbound: bool

    @property
    def country_name(self) -> str:
        return country_name(self.country) if self.country else ""

    @property
    def type_name(self) -> str:
        return TYPES.get(self.type, self.type)


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


@functools.lru_cache(maxsize=4096)
def country_of(number: str) -> str:
    """ISO 3166 alpha-2 of a number as a CDR has it (E.164 digits or as dialed), '' if none."""
    if not number:
        return ""
    dialed = (
        classify(number) if number.startswith(("+", "011")) or len(number) <= 10 else classify("+" + number)
    )
    return dialed.country


_COLUMNS = "c.id, c.start, c.src, c.dst, c.dialed, c.vnum, c.call_class, c.disposition, c.billsec"
# the member's numbers, each read from its own index range from the time it joined the account
_NUMBERS = "unnest(CAST(:nums AS varchar[]), CAST(:since AS timestamptz[])) AS v(num, since)"
_MINE = "c.vnum = v.num AND c.start >= greatest(:lo, v.since) AND c.start < :hi"
_PARTY = " AND (c.dialed = ANY(:party) OR c.src = ANY(:party) OR c.dst = ANY(:party))"


def _mine(scope: Scope, columns: str, extra: str = "") -> str:
    """FROM clause: the member's CDRs of [lo, hi), one index range scan per number (a LATERAL
    subquery that OFFSET 0 keeps from being flattened into a hash join over the whole table)."""
    return (
        f"{_NUMBERS} CROSS JOIN LATERAL (SELECT {columns} FROM cdr c"
        f" WHERE {_MINE}{_party(scope)}{extra} OFFSET 0) c"
    )


def _params(scope: Scope, lo: dt.datetime, hi: dt.datetime, **more) -> dict:
    return {
        "nums": [n for n, _ in scope.numbers],
        "since": [t for _, t in scope.numbers],
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
        SELECT (c.start AT TIME ZONE :tz)::date AS day, count(*) AS calls,
               coalesce(sum(c.billsec) FILTER (WHERE c.disposition = 'ANSWERED'), 0) AS seconds
        FROM {_mine(scope, "c.start, c.billsec, c.disposition")}
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
        SELECT count(*) FROM {_mine(scope, "c.id", f" AND (c.start, c.id) {op} (:ks, :ki)")}"""),
        _params(scope, lo, hi, ks=key[0], ki=key[1]),
    )
    return later + (same_day or 0)


# --- rows ------------------------------------------------------------------------------------


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
    from an index-only scan of cdr (vnum, start, id) in index order, per number, stopped after
    `limit` entries; only the page's rows are then read from the table."""
    if limit <= 0 or not scope.numbers:
        return []
    order = "DESC" if newest_first else "ASC"
    params = _params(scope, rng.utc_start, rng.utc_end, n=limit)
    keyed = ""
    if key is not None:
        keyed = f" AND (c.start, c.id) {'<' if newest_first else '>'} (:ks, :ki)"
        params.update(ks=key[0], ki=key[1])
    rows = session.execute(
        _sql(f"""
        WITH page AS (
            SELECT k.start, k.id FROM {_NUMBERS}
            CROSS JOIN LATERAL (
                SELECT c.start, c.id FROM cdr c
                WHERE {_MINE}{_party(scope)}{keyed}
                ORDER BY c.start {order}, c.id {order} LIMIT :n) k
            ORDER BY k.start {order}, k.id {order} LIMIT :n)
        SELECT {_COLUMNS}, ch.call_type, ch.country, ch.cost
        FROM page JOIN cdr c ON c.id = page.id
        LEFT JOIN cdr_charges ch ON ch.cdr_id = c.id
        ORDER BY c.start {order}, c.id {order}"""),
        params,
    ).all()
    out = [_row(r) for r in rows]
    return out if newest_first else out[::-1]


def _row(r) -> CallRow:
    # the row unpacked once (_COLUMNS, then the charge's call_type, country and cost) rather
    # than a lookup by name at each use: a page has 50, an export all of them
    id_, start, src, dst, dialed, vnum, call_class, disposition, billsec, call_type, charged_in, cost = r
    call_class = (call_class or "").strip()
    outbound = bool(call_class)
    called = dst or dialed or ""
    if call_type:
        kind = call_type.strip()
        country = (charged_in or "").strip()
    else:
        kind = call_class if outbound else INBOUND
        country = ""
    if not country and kind != DialClass.ON_NET:
        country = country_of(dialed or called)
    if call_type is None:  # not rated (yet): placed calls are pending, received ones free
        cost = None if outbound else Decimal("0")
    disposition = disposition or ""
    return CallRow(
        id_,
        start,
        src or vnum or "",
        called,
        country,
        DISPOSITIONS.get(disposition.upper(), disposition.title()),
        kind,
        max(0, int(billsec or 0)),
        cost,
        outbound,
    )


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
        SELECT c.*, ch.call_type, ch.country, ch.cost
        FROM {_mine(scope, _COLUMNS)}
        LEFT JOIN cdr_charges ch ON ch.cdr_id = c.id
        ORDER BY c.start DESC, c.id DESC"""),
        _params(scope, rng.utc_start, rng.utc_end),
        execution_options={"yield_per": batch},
    )
    for r in result:
        yield _row(r)


def own_number(numbers: Sequence[str], raw: str) -> str | None:
    """`raw` when it names one of the member's own virtual numbers (with or without the 1)."""
    s = (normalize(raw) or "").lstrip("+")
    for candidate in (s, "1" + s if len(s) == 10 else None, s[1:] if len(s) == 11 and s[0] == "1" else None):
        if candidate and candidate in numbers:
            return candidate
    return None
