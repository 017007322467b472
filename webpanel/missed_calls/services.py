"""Missed Calls: the calls the member received that nobody answered, one row per call, exactly
as Call History shows them (webpanel.call_history.queries: a call is one linkedid, whatever
number of devices or forwarded numbers it rang; a call that went to voicemail was missed, and
says so).

The records counter and the first/previous/next/last links need the whole range: its missed
calls' keys (start, id) are read at once from the partial index ix_member_calls_missed, up to
MAX_ROWS, and pages are positions in that list; only the page's calls are then read. A member
misses tens of calls a month, not thousands, so this is one small index scan in practice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy.orm import Session

from webpanel.call_history import queries
from webpanel.call_history.calls import CallRow
from webpanel.reports import DateRange

PAGE_SIZE = 50
MAX_ROWS = 10_000
EXPORT_BATCH = 500


@dataclass(frozen=True)
class Report:
    rows: list[CallRow]
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


def walk(
    session: Session, scope: queries.Scope, rng: DateRange
) -> tuple[list[tuple[dt.datetime, int]], bool]:
    """The keys of every missed call of the range, newest first (at most MAX_ROWS; True when
    capped)."""
    keys = queries.missed_keys(session, scope, rng, MAX_ROWS + 1)
    return keys[:MAX_ROWS], len(keys) > MAX_ROWS


def report(session: Session, scope: queries.Scope, rng: DateRange, page: int | None) -> Report:
    """Page `page` (1-based; None: the last page) of the range's missed calls."""
    keys, capped = walk(session, scope, rng)
    pages = max(1, -(-len(keys) // PAGE_SIZE))
    page = pages if page is None else min(max(1, page), pages)
    shown = keys[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    return Report(queries.calls_by_id(session, [k[1] for k in shown]), len(keys), page, pages, capped)


def export_rows(session: Session, scope: queries.Scope, rng: DateRange) -> Iterator[CallRow]:
    keys, _capped = walk(session, scope, rng)
    for i in range(0, len(keys), EXPORT_BATCH):
        yield from queries.calls_by_id(session, [k[1] for k in keys[i : i + EXPORT_BATCH]])
