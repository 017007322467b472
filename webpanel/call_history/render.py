"""The report's hot markup, built in Python: the table rows and the chart's bars.

A page has 50 rows of 8 cells and up to 366 bars; as Jinja loops with a filter per cell that is
most of the page's CPU time. Here each row is one format string, every text value escaped
explicitly (numbers and our own codes need none), the same markup the template would make.
"""
from __future__ import annotations

from typing import Iterable

from markupsafe import Markup, escape

from webpanel.call_history.chart import Bar
from webpanel.call_history.queries import CallRow
from webpanel.filters import iso, localtime, mmss, usd

_ROW = ('<tr>\n'
        '<td data-label="Date"><time datetime="{iso}">{date}</time></td>\n'
        '<td data-label="Calling Number" class="number">{calling}</td>\n'
        '<td data-label="Number Called" class="number">{called}</td>\n'
        '<td data-label="Country">{country}</td>\n'
        '<td data-label="Disposition">{disposition}</td>\n'
        '<td data-label="Type"><abbr title="{type_name}">{type}</abbr></td>\n'
        '<td data-label="Duration" class="number">{duration}</td>\n'
        '<td data-label="Cost" class="number">{cost}</td>\n'
        '</tr>\n')
_PENDING = '<span class="muted" title="Not rated yet">pending</span>'


def rows(calls: Iterable[CallRow], tz_name: str) -> Markup:
    out = []
    for r in calls:
        country = (f'<abbr title="{escape(r.country_name)}">{escape(r.country)}</abbr>'
                   if r.country else "")
        out.append(_ROW.format(
            iso=iso(r.start), date=localtime(r.start, tz_name), calling=escape(r.calling),
            called=escape(r.called), country=country, disposition=escape(r.disposition),
            type_name=escape(r.type_name), type=escape(r.type), duration=mmss(r.billsec),
            cost=_PENDING if r.cost is None else escape(usd(r.cost))))
    return Markup("".join(out))


def bars(chart_bars: Iterable[Bar]) -> Markup:
    out = []
    for b in chart_bars:
        if b.height <= 0:
            continue
        calls = "call" if b.calls == 1 else "calls"
        out.append(f'<rect class="chart-bar" x="{b.x}" y="{b.y}" width="{b.width}" height="{b.height}">'
                   f'<title>{b.day.isoformat()}: {b.minutes} min, {b.calls} {calls}</title></rect>\n')
    return Markup("".join(out))
