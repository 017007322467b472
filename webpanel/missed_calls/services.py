"""Missed Calls: unanswered inbound calls to the member's numbers and their DIDs, from
db.billing.missed_calls (the one definition of a missed call: one row per call, a call that
went to voicemail still counts).

db.billing.missed_calls pages forward only (after_id, newest first) and does not count. The
records counter and the first/previous/next/last links need the whole range, so the range is
walked forward in keyset chunks of billing.MAX_PAGE (one indexed query each on cdr (dst, start))
up to MAX_ROWS calls; pages are positions in that walk. A member misses tens of calls a month,
not thousands, so this is one or two queries in practice.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from db import billing
from db.billing import MissedCall
from webpanel.reports import DateRange

PAGE_SIZE = 50
MAX_ROWS = 10_000


@dataclass(frozen=True)
class Report:
    rows: list[MissedCall]
    total: int
    page: int
    pages: int
    capped: bool  # more than MAX_ROWS missed calls: only the newest are counted

    @property
    def first_record(self) -> int:
        return (self.page - 1) * PAGE_SIZE + 1 if self.rows else 0

    @property
    def last_record(self) -> int:
        return self.first_record + len(self.rows) - 1 if self.rows else 0


def walk(session: Session, vnums: list[str], rng: DateRange) -> tuple[list[MissedCall], bool]:
    """Every missed call of the range, newest first (at most MAX_ROWS; True when capped)."""
    found: list[MissedCall] = []
    after = None
    while len(found) < MAX_ROWS:
        chunk = billing.missed_calls(
            session, vnums, rng.utc_start, rng.utc_end, limit=billing.MAX_PAGE, after_id=after
        )
        found.extend(chunk)
        if len(chunk) < billing.MAX_PAGE:
            return found, False
        after = chunk[-1].id
    return found[:MAX_ROWS], True


def report(session: Session, vnums: list[str], rng: DateRange, page: int | None) -> Report:
    """Page `page` (1-based; None: the last page) of the range's missed calls."""
    calls, capped = walk(session, vnums, rng)
    pages = max(1, -(-len(calls) // PAGE_SIZE))
    page = pages if page is None else min(max(1, page), pages)
    rows = calls[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    return Report(rows, len(calls), page, pages, capped)
