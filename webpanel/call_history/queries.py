"""Call History: the member's CDRs in a range of their local days, keyset-paged, with what the
rater charged for each.

Which CDRs are the member's: those whose `vnum` is one of the member's virtual numbers (the
whole account's for the primary holder, their own for a secondary user). The controller tags
every leg it decides with CDR(vnum):
- calls the member placed (route `outbound`: vnum = the calling number, call_class set);
- forwarded legs to the PSTN, charged to the forwarding member (vnum inherited);
- calls that came in for the member, on one of their DIDs or straight to their virtual
  number (route `inbound`: vnum = the member's number, no call_class).
So one indexed column, cdr (vnum, start), answers "mine" for outbound and inbound alike, and a
call a member did not place, forward or receive never shows. Calls refused before reaching a
member (an unconnected DID) carry no vnum: nobody's history. Missed Calls is the report of
unanswered inbound calls (db.billing.missed_calls, keyed on dst).

Keyset pagination on (start, id), newest first. Each of the member's numbers is read by its
own index scan (LATERAL), so a page costs the same on the first page and the last, with one
number or many. One aggregate pass over the range gives the records counter, the page's
position in it and the minutes per local day for the chart.
"""
from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from decimal import Decimal
from typing import Iterator, Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session

from controller.numbers import classify, normalize, region_name
from webpanel.reports import DateRange

PAGE_SIZE = 50
DISPOSITIONS = {"ANSWERED": "Answered", "NO ANSWER": "No answer", "BUSY": "Busy",
                "FAILED": "Failed", "CONGESTION": "Congestion"}
INBOUND = "IN"
# Type codes as the help page's legend: R, D, I, and what a plan or the kind of call gives
TYPES = {"R": "Regional", "D": "Domestic (US & Canada)", "I": "International",
         "PR": "Regional, absorbed by a calling plan", "PD": "Domestic, absorbed by a calling plan",
         "N": "On-net (member to member, free)", "E": "Emergency 911", "T": "Toll-free",
         INBOUND: "Incoming call"}


@dataclass(frozen=True)
class Scope:
    """Whose calls: the member's virtual numbers, optionally only those with one other party
    (`party`: the spellings of that number a CDR may carry)."""
    vnums: tuple[str, ...]
    party: tuple[str, ...] = ()


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
    cost: Decimal | None       # None: not rated yet
    outbound: bool

    @property
    def country_name(self) -> str:
        return region_name(self.country) if self.country else ""

    @property
    def type_name(self) -> str:
        return TYPES.get(self.type, self.type)


@dataclass(frozen=True)
class DayTotal:
    day: dt.date
    calls: int
    seconds: int


@dataclass(frozen=True)
class Report:
    rows: list[CallRow]
    total: int
    position: int              # 1-based record number of rows[0]
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
    dialed = classify(number) if number.startswith(("+", "011")) or len(number) <= 10 \
        else classify("+" + number)
    return dialed.country


_COLUMNS = ("c.id, c.start, c.src, c.dst, c.dialed, c.vnum, c.call_class, c.disposition, "
            "c.billsec")


def _where(scope: Scope) -> str:
    sql = "c.start >= :lo AND c.start < :hi"
    if scope.party:
        sql += " AND (c.dialed = ANY(:party) OR c.src = ANY(:party) OR c.dst = ANY(:party))"
    return sql


def _params(scope: Scope, rng: DateRange) -> dict:
    return {"vnums": list(scope.vnums), "party": list(scope.party),
            "lo": rng.utc_start, "hi": rng.utc_end, "tz": rng.tz_name}


def day_totals(session: Session, scope: Scope, rng: DateRange,
               key: tuple[dt.datetime, int] | None = None, newer_op: str = ">") -> tuple[list[DayTotal], int]:
    """Calls and answered seconds per local day of the range, and how many calls are newer
    than `key` ((start, id) `newer_op` key; newer_op is '>' or '>=')."""
    if not scope.vnums:
        return [], 0
    assert newer_op in (">", ">=")
    params = _params(scope, rng)
    newer = "0"
    if key is not None:
        newer = f"count(*) FILTER (WHERE (c.start, c.id) {newer_op} (:ks, :ki))"
        params.update(ks=key[0], ki=key[1])
    rows = session.execute(text(f"""
        SELECT (c.start AT TIME ZONE :tz)::date AS day, count(*) AS calls,
               coalesce(sum(c.billsec) FILTER (WHERE c.disposition = 'ANSWERED'), 0) AS seconds,
               {newer} AS newer
        FROM cdr c
        WHERE c.vnum = ANY(:vnums) AND {_where(scope)}
        GROUP BY 1 ORDER BY 1"""), params).all()
    return [DayTotal(r.day, r.calls, int(r.seconds)) for r in rows], sum(r.newer for r in rows)


def _page(session: Session, scope: Scope, rng: DateRange, *, limit: int, newest_first: bool,
          key: tuple[dt.datetime, int] | None) -> list[CallRow]:
    if limit <= 0 or not scope.vnums:
        return []
    order = "DESC" if newest_first else "ASC"
    params = {**_params(scope, rng), "n": limit}
    keyed = ""
    if key is not None:
        # (start, id) < key, spelt so that the (vnum, start) index bounds the scan on start
        cmp, strict = ("<=", "<") if newest_first else (">=", ">")
        keyed = f" AND c.start {cmp} :ks AND (c.start {strict} :ks OR c.id {strict} :ki)"
        params.update(ks=key[0], ki=key[1])
    rows = session.execute(text(f"""
        SELECT c.*, ch.call_type, ch.country, ch.cost
        FROM unnest(CAST(:vnums AS varchar[])) AS v(num)
        CROSS JOIN LATERAL (
            SELECT {_COLUMNS} FROM cdr c
            WHERE c.vnum = v.num AND {_where(scope)}{keyed}
            ORDER BY c.start {order}, c.id {order} LIMIT :n) c
        LEFT JOIN cdr_charges ch ON ch.cdr_id = c.id
        ORDER BY c.start {order}, c.id {order} LIMIT :n"""), params).all()
    out = [_row(r) for r in rows]
    return out if newest_first else out[::-1]


def _row(r) -> CallRow:
    outbound = bool((r.call_class or "").strip())
    called = r.dst or r.dialed or ""
    if r.call_type:
        kind = r.call_type.strip()
    else:
        kind = (r.call_class or "").strip() if outbound else INBOUND
    country = (r.country or "").strip() if r.call_type else ""
    if not country and kind not in ("N", INBOUND):
        country = country_of(r.dialed or called)
    elif not country and kind == INBOUND:
        country = country_of(called)
    cost = r.cost if r.call_type is not None else (Decimal("0") if not outbound else None)
    return CallRow(r.id, r.start, r.src or r.vnum or "", called, country,
                   DISPOSITIONS.get((r.disposition or "").upper(), (r.disposition or "").title()),
                   kind, max(0, int(r.billsec or 0)), cost, outbound)


def report(session: Session, scope: Scope, rng: DateRange, *, after: tuple[dt.datetime, int] | None = None,
           before: tuple[dt.datetime, int] | None = None, last: bool = False,
           page_size: int = PAGE_SIZE) -> Report:
    """One page: the first (newest calls), the one after `after` (older), the one before
    `before` (newer), or the last."""
    n = page_size
    if after is not None:
        days, newer = day_totals(session, scope, rng, after, ">=")
        rows = _page(session, scope, rng, limit=n, newest_first=True, key=after)
        position = newer + 1
    elif before is not None:
        days, newer = day_totals(session, scope, rng, before, ">")
        if newer <= n:  # the previous page is the first
            rows, position = _page(session, scope, rng, limit=n, newest_first=True, key=None), 1
        else:
            rows = _page(session, scope, rng, limit=n, newest_first=False, key=before)
            position = newer - len(rows) + 1
    else:
        days, _ = day_totals(session, scope, rng)
        total = sum(d.calls for d in days)
        if last and total > n:
            size = total - (-(-total // n) - 1) * n
            rows = _page(session, scope, rng, limit=size, newest_first=False, key=None)
            position = total - len(rows) + 1
        else:
            rows, position = _page(session, scope, rng, limit=n, newest_first=True, key=None), 1
    total = sum(d.calls for d in days)
    if not rows and total:  # a stale link past the end: show the first page
        return report(session, scope, rng, page_size=page_size)
    return Report(rows, total, position, n, days)


def export_rows(session: Session, scope: Scope, rng: DateRange, batch: int = 2000) -> Iterator[CallRow]:
    """Every call of the range, newest first, streamed from a server-side cursor."""
    if not scope.vnums:
        return
    result = session.execute(text(f"""
        SELECT {_COLUMNS}, ch.call_type, ch.country, ch.cost
        FROM cdr c LEFT JOIN cdr_charges ch ON ch.cdr_id = c.id
        WHERE c.vnum = ANY(:vnums) AND {_where(scope)}
        ORDER BY c.start DESC, c.id DESC"""), _params(scope, rng),
        execution_options={"yield_per": batch})
    for r in result:
        yield _row(r)


def own_number(numbers: Sequence[str], raw: str) -> str | None:
    """`raw` when it names one of the member's own virtual numbers (with or without the 1)."""
    s = (normalize(raw) or "").lstrip("+")
    for candidate in (s, "1" + s if len(s) == 10 else None, s[1:] if len(s) == 11 and s[0] == "1" else None):
        if candidate and candidate in numbers:
            return candidate
    return None
