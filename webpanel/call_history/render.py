"""The report's hot markup, built in Python: the table rows and the chart's bars.

A page has 50 rows of 8 cells and up to 366 bars; as Jinja loops with a filter per cell that is
most of the page's CPU time. Here each row is one format string, every text value escaped
explicitly (numbers and our own codes need none), the same markup the template would make.
The row's column labels are translated once per page; dates, times, costs (in cents: what a
person reads; the CSV has the exact amount) and numbers come from `formats` (webpanel.filters'
text, compiled once per locale), the bar titles' plural forms once per call count.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from flask_babel import get_translations
from markupsafe import Markup, escape

from webpanel import filters
from webpanel.call_history import formats
from webpanel.call_history.calls import CallRow
from webpanel.call_history.chart import Bar
from webpanel.filters import iso, mmss
from webpanel.i18n import _

_ROW = (
    "<tr>\n"
    '<td data-label="{l_date}"><time datetime="{{iso}}">{{date}}</time></td>\n'
    '<td data-label="{l_calling}" class="number">{{calling}}</td>\n'
    '<td data-label="{l_called}" class="number">{{called}}</td>\n'
    '<td data-label="{l_country}">{{country}}</td>\n'
    '<td data-label="{l_disposition}">{{disposition}}</td>\n'
    '<td data-label="{l_type}"><abbr title="{{type_name}}">{{type}}</abbr></td>\n'
    '<td data-label="{l_duration}" class="number">{{duration}}</td>\n'
    '<td data-label="{l_cost}" class="number">{{cost}}</td>\n'
    "</tr>\n"
)


def _row_format() -> str:
    """The row's format string with its column labels in the request's language."""
    labels = {
        "l_date": _("Date"),
        "l_calling": _("Calling Number"),
        "l_called": _("Number Called"),
        "l_country": _("Country"),
        "l_disposition": _("Disposition"),
        "l_type": _("Type"),
        "l_duration": _("Duration"),
        "l_cost": _("Cost"),
    }
    return _ROW.format(**{k: escape(v).replace("{", "{{").replace("}", "}}") for k, v in labels.items()})


def rows(calls: Iterable[CallRow], tz_name: str) -> Markup:
    row = _row_format().format
    pending = f'<span class="muted" title="{escape(_("Not rated yet"))}">{escape(_("pending"))}</span>'
    fmt = formats.current()
    localtime, money = fmt.datetime, fmt.money
    # a page has a handful of countries, types and dispositions, whose names are translated
    # (a lazy string is looked up in the catalog each time it is read): each read once a page
    countries: dict[str, str] = {}
    types: dict[str, tuple[str, str]] = {}
    words: dict[object, tuple[object, str]] = {}
    out = []
    for r in calls:
        country = countries.get(r.country)
        if country is None:
            country = countries[r.country] = (
                f'<abbr title="{escape(r.country_name)}">{escape(r.country)}</abbr>' if r.country else ""
            )
        kind = types.get(r.type)
        if kind is None:
            kind = types[r.type] = (escape(r.type_name), escape(r.type))
        # keyed by the object (kept alive here, so its id is not reused): a lazy string hashes
        # by its translation, which is the lookup this saves
        word = words.get(id(r.disposition))
        if word is None:
            word = words[id(r.disposition)] = (r.disposition, escape(r.disposition))
        out.append(
            row(
                iso=iso(r.start),
                date=localtime(r.start, tz_name),
                calling=escape(r.calling),
                called=escape(r.called),
                country=country,
                disposition=word[1],
                type_name=kind[0],
                type=kind[1],
                duration=mmss(r.billsec),
                cost=pending if r.cost is None else escape(money(r.cost)),
            )
        )
    return Markup("".join(out))


def bars(chart_bars: Iterable[Bar]) -> Markup:
    """The bars with their titles; kept per bars and language, like the chart (chart.build)."""
    return _bars(tuple(chart_bars), filters.locale_name())


@functools.lru_cache(maxsize=64)
def _bars(chart_bars: tuple[Bar, ...], locale: str) -> Markup:
    fmt = formats.current()
    localdate, number = fmt.date, fmt.number
    # i18n.ngettext's catalog lookup without its formatting, once per call count (and named
    # ngettext so that message extraction finds the strings)
    ngettext = get_translations().ungettext
    titles: dict[int, tuple[str, str]] = {}
    out = []
    for b in chart_bars:
        if b.height <= 0:
            continue
        plural = titles.get(b.calls)
        if plural is None:
            plural = titles[b.calls] = (
                ngettext(
                    "%(day)s: %(minutes)s min, %(count)s call",
                    "%(day)s: %(minutes)s min, %(count)s calls",
                    b.calls,
                ),
                number(b.calls),
            )
        title = plural[0] % {
            "num": b.calls,
            "day": localdate(b.day),
            "minutes": number(b.minutes),
            "count": plural[1],
        }
        out.append(
            f'<rect class="chart-bar" x="{b.x}" y="{b.y}" width="{b.width}" height="{b.height}">'
            f"<title>{escape(title)}</title></rect>\n"
        )
    return Markup("".join(out))
