"""The operator's reports (issue 15): minutes, revenue, cost and margin by day, by destination
country and by account, ASR and ACD, top destinations, over a range of UTC days, for every
account or one, every carrier or one.

Read only from cdr_rollup_daily (kept by the triggers of migration 0023 as CDRs are rated),
never from cdr: two statements over the range's rollup rows, one by (day, country) (the days,
the countries and the totals are summed from its groups) and one by account.

- minutes: the billable (answered) seconds / 60;
- revenue: what members were charged; cost: what carriers charged us (0 for a call through no
  known carrier); margin: revenue - cost of the calls a carrier priced (cdr_charges.margin);
- ASR: answered / calls (every rated CDR is a call attempt); ACD: answered seconds / answered;
- a country is the destination the rater priced the call to (the rate's country): the rater
  looks up a rate only for an answered billable call, so unanswered attempts, on-net calls and
  calls with no rate have no country ('') and ASR is not given by country.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

ZERO = Decimal("0")
MAX_DAYS = 366
TOP_ACCOUNTS = 25  # the page's account table; the CSV has them all
TOP_DESTINATIONS = 10


@dataclass(frozen=True)
class Figures:
    """Summed rollup rows."""

    calls: int = 0
    answered: int = 0
    billsec: int = 0
    billable_seconds: int = 0
    revenue: Decimal = ZERO
    cost: Decimal = ZERO
    margin: Decimal = ZERO

    @property
    def minutes(self) -> Decimal:
        return (Decimal(self.billable_seconds) / 60).quantize(Decimal("0.1"))

    @property
    def asr(self) -> Decimal | None:
        """Answered / calls, in percent (None without calls)."""
        if not self.calls:
            return None
        return (Decimal(100 * self.answered) / self.calls).quantize(Decimal("0.1"))

    @property
    def acd(self) -> int | None:
        """The average answered call's seconds (None without an answered call)."""
        if not self.answered:
            return None
        return round(self.billsec / self.answered)


@dataclass(frozen=True)
class Row:
    key: Any  # a day, a country code, an account id
    figures: Figures


@dataclass(frozen=True)
class Report:
    start: dt.date
    end: dt.date  # included
    account_id: int | None
    carrier_id: int | None
    totals: Figures
    by_day: list[Row]  # every day of the range, days without calls included
    by_country: list[Row]  # by minutes, most first
    by_account: list[Row]  # by revenue, most first; at most `account_limit`
    accounts: int  # accounts with calls in the range (by_account may show fewer)
    top_destinations: list[Row] = field(default_factory=list)  # countries by minutes, '' left out


_SUMS = """sum(calls) AS calls, sum(answered) AS answered, sum(billsec) AS billsec,
       sum(billable_seconds) AS billable_seconds, sum(revenue) AS revenue, sum(cost) AS cost,
       sum(margin) AS margin
  FROM cdr_rollup_daily
 WHERE day >= :start AND day <= :end {where}"""
# two statements, each a parallel scan of the range (one GROUPING SETS statement is not run in
# parallel, and took twice as long at 10,000 accounts); the days, countries and totals are
# summed here from the (day, country) groups, a few hundred rows
_BY_DAY_COUNTRY = "SELECT day, country, " + _SUMS + " GROUP BY day, country"
_BY_ACCOUNT = "SELECT account_id, " + _SUMS + " GROUP BY account_id"


def _figures(r: Any) -> Figures:
    return Figures(
        int(r.calls),
        int(r.answered),
        int(r.billsec),
        int(r.billable_seconds),
        r.revenue,
        r.cost,
        r.margin,
    )


def _add(a: Figures, b: Figures) -> Figures:
    return Figures(
        a.calls + b.calls,
        a.answered + b.answered,
        a.billsec + b.billsec,
        a.billable_seconds + b.billable_seconds,
        a.revenue + b.revenue,
        a.cost + b.cost,
        a.margin + b.margin,
    )


def report(
    session: Session,
    start: dt.date,
    end: dt.date,
    *,
    account_id: int | None = None,
    carrier_id: int | None = None,
    account_limit: int | None = TOP_ACCOUNTS,
) -> Report:
    """The report of the UTC days [start, end]; account_id / carrier_id narrow it (0: calls with
    no account / through no carrier). account_limit None: every account."""
    if end < start:
        raise ValueError("end before start")
    if (end - start).days + 1 > MAX_DAYS:
        raise ValueError(f"at most {MAX_DAYS} days")
    where = ""
    params: dict[str, Any] = {"start": start, "end": end}
    if account_id is not None:
        where += " AND account_id = :account"
        params["account"] = account_id
    if carrier_id is not None:
        where += " AND carrier_id = :carrier"
        params["carrier"] = carrier_id
    session.execute(text("SET LOCAL jit = off"))  # compiling costs more than it saves here
    totals = Figures()
    days: dict[dt.date, Figures] = {}
    by_country: dict[str, Figures] = {}
    for r in session.execute(text(_BY_DAY_COUNTRY.format(where=where)), params):
        f = _figures(r)
        totals = _add(totals, f)
        days[r.day] = _add(days[r.day], f) if r.day in days else f
        by_country[r.country] = _add(by_country[r.country], f) if r.country in by_country else f
    accounts = [
        Row(int(r.account_id), _figures(r))
        for r in session.execute(text(_BY_ACCOUNT.format(where=where)), params)
    ]
    countries = [Row(code, f) for code, f in by_country.items()]
    span = (end - start).days + 1
    by_day = [Row(d, days.get(d, Figures())) for d in (start + dt.timedelta(days=i) for i in range(span))]
    countries.sort(key=lambda row: (-row.figures.billable_seconds, -row.figures.calls, row.key))
    accounts.sort(key=lambda row: (-row.figures.revenue, -row.figures.billable_seconds, row.key))
    shown = accounts if account_limit is None else accounts[:account_limit]
    top = [row for row in countries if row.key and row.figures.billable_seconds > 0][:TOP_DESTINATIONS]
    return Report(start, end, account_id, carrier_id, totals, by_day, countries, shown, len(accounts), top)
