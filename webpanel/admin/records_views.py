"""Operator admin: Call Records (issue 15). Every account's CDRs in one search: by account (id
or one of its numbers), number, DID, destination prefix, carrier, outcome and a UTC date range,
newest first, paged by keyset (a page link carries an opaque cursor, never an offset); the
same search as a streamed CSV; and a record's detail with its rating (cdr_charges and the
credit lots that paid it), the hold it was started with (call_authorizations), the call's
other legs and the carriers it tried.

Read only: the search and its checks are db.records'. Times are UTC, labelled as such: the
records span every account's time zone.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import time
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from typing import Any

from flask import Response, abort, current_app, render_template, request, stream_with_context, url_for
from flask_babel import get_locale
from markupsafe import Markup, escape
from sqlalchemy.orm import Session

from db import records
from webpanel.admin.blueprint import bp
from webpanel.database import db
from webpanel.filters import localtime, mmss, usd
from webpanel.i18n import N_, _
from webpanel.reports import csv_cell
from webpanel.reports_db import reports_session

ZONE = "UTC"
CSV_CHUNK = 500  # rows a chunk of the streamed export
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

# db.records' messages, marked for the catalog and translated when shown
FILTER_MESSAGES = (
    N_("No account has that id or virtual number."),
    N_("A number is 3 to 20 digits, with an optional leading +."),
    N_("A DID is 3 to 20 digits, with an optional leading +."),
    N_("A destination is the first 1 to 20 digits of the number dialled, country code first."),
    N_("A carrier name is 1 to 32 lowercase letters, digits and hyphens."),
    N_("Choose an outcome from the list."),
    N_("A date is YYYY-MM-DD (or YYYY-MM-DD HH:MM), UTC, from 2000 to 2099."),
    N_("The start of the date range is after its end."),
)
OUTCOME_LABELS = {
    "ANSWERED": N_("Answered"),
    "NO ANSWER": N_("No answer"),
    "BUSY": N_("Busy"),
    "FAILED": N_("Failed"),
    "CONGESTION": N_("Congestion"),
}


_AMOUNTS: dict[tuple[Decimal, str], str] = {}
MAX_AMOUNTS = 4096


def _money_html() -> Callable[[Decimal], str]:
    """usd(), escaped, remembered in the process per amount (its value: usd writes equal amounts
    alike) and language: a page repeats the same few amounts, and so do pages."""
    locale = str(get_locale())

    def money_html(amount: Decimal) -> str:
        text = _AMOUNTS.get((amount, locale))
        if text is None:
            if len(_AMOUNTS) >= MAX_AMOUNTS:
                _AMOUNTS.clear()
            text = _AMOUNTS[(amount, locale)] = str(escape(usd(amount)))
        return text

    return money_html


# One row of the results table. Written here rather than in the template's loop: a page is 50
# rows of 8 cells, and Jinja's per-value escaping and filter calls were most of the page's CPU
# (issue 15: p95 < 100 ms at 20 clients). Every text value is escaped (`_cell`); the labels are
# translations (Markup, as the template's `_()` makes them), put in once a request (`_row_format`).
ROW_HTML = (
    '<tr class="record-row" data-record="{id}">\n'
    '<td data-label="{l_start}"><a href="{record_url}{id}"><time datetime="{iso}">{start}</time></a></td>\n'
    '<td data-label="{l_account}">{account}</td>\n'
    '<td data-label="{l_calling}">{calling}</td>\n'
    '<td data-label="{l_called}">{called}</td>\n'
    '<td data-label="{l_outcome}">{outcome}</td>\n'
    '<td data-label="{l_duration}">{duration}</td>\n'
    '<td data-label="{l_carrier}">{carrier}</td>\n'
    '<td data-label="{l_cost}">{cost}</td>\n'
    "</tr>\n"
)
DASH = "—"
# markupsafe.escape's five characters and entities, as one str.translate (C, no Markup object)
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&#34;", "'": "&#39;"})


def _cell(value: object) -> str:
    """A text cell's value, escaped as markupsafe.escape does (the same entities)."""
    return str(value).translate(_ESCAPES)


def _braces(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def _row_format(labels: dict[str, Markup], record_url: str) -> str:
    """ROW_HTML with this request's labels (translations: Markup, as they are) and record link
    (escaped) in place, braces doubled so that they stay text, leaving the row's own fields."""
    fixed = {k: _braces(str(v)) for k, v in labels.items()}
    fixed["record_url"] = _braces(_cell(record_url))
    keep = {k: "{" + k + "}" for k in ("id", "iso", "start", "account", "calling", "called")}
    keep.update({k: "{" + k + "}" for k in ("outcome", "duration", "carrier", "cost")})
    return ROW_HTML.format(**fixed, **keep)


def _utc_text(value: dt.datetime) -> tuple[str, str]:
    """A row's start as <time datetime> (ISO 8601, UTC) and as its text (utc())."""
    moment = value.astimezone(dt.UTC) if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    return moment.isoformat(), f"{moment.strftime(TIME_FORMAT)} UTC"


def rows_html(rows: Iterable[records.RecordRow], record_url: str, account_url: str) -> Markup:
    """The results table's rows (the columns of the table's head, in its order)."""
    labels = {
        "l_start": Markup(_("Start (%(zone)s)")) % {"zone": ZONE},
        "l_account": Markup(_("Account")),
        "l_calling": Markup(_("Calling Number")),
        "l_called": Markup(_("Number Called")),
        "l_outcome": Markup(_("Outcome")),
        "l_duration": Markup(_("Duration")),
        "l_carrier": Markup(_("Carrier")),
        "l_cost": Markup(_("Cost")),
    }
    row_format = _row_format(labels, record_url).format
    outcomes = {value: str(Markup(_(label))) for value, label in OUTCOME_LABELS.items()}
    money = _money_html()
    account_url = _cell(account_url)
    out = []
    for r in rows:
        if r.account_id is not None:
            account = f'<a href="{account_url}{r.account_id}">{r.account_id}</a>'
            if r.account_name:
                account += f' <span class="muted">{_cell(r.account_name)}</span>'
        else:
            account = DASH
        outcome = outcomes.get(r.disposition)
        iso_text, start = _utc_text(r.start)
        out.append(
            row_format(
                id=r.id,
                # made of digits and separators only: nothing to escape in these three
                iso=iso_text,
                start=start,
                account=account,
                calling=_cell(r.src or DASH),
                called=_cell(r.dialed or r.dst or DASH),
                outcome=outcome if outcome is not None else _cell(r.disposition or DASH),
                duration=mmss(r.billsec),
                carrier=_cell(r.carrier or DASH),
                cost=money(r.cost) if r.cost is not None else DASH,  # escaped once per amount
            )
        )
    return Markup("".join(out))


def utc(value: dt.datetime | None) -> str:
    """A timestamp as UTC text with its zone label."""
    return f"{localtime(value, ZONE, fmt=TIME_FORMAT)} UTC" if value is not None else ""


CARRIERS_TTL = 30.0  # seconds a process keeps the carriers' names (the form's suggestions)
_carriers: dict[str, tuple[float, list[str]]] = {}


def carrier_names() -> list[str]:
    """The carriers' names for the form's datalist, read at most every CARRIERS_TTL seconds by
    a process (per database): suggestions only, a carrier added shows within that time."""
    session = db()
    where = str(session.get_bind().engine.url)
    now = time.monotonic()
    cached = _carriers.get(where)
    if cached is not None and now - cached[0] < CARRIERS_TTL:
        return cached[1]
    names = records.carrier_names(session)
    _carriers[where] = (now, names)
    return names


_FORMS: dict[tuple[Any, ...], Markup] = {}
MAX_FORMS = 256


def _search_form(values: dict[str, str], names: list[str], all_records: bool) -> Markup:
    """The search form (admin/_records_form.html), rendered once per language, values, carrier
    list and link prefix in a process: ~20 translations and the datalist, the same for every page
    of a search."""
    key = (
        id(current_app._get_current_object()),  # type: ignore[attr-defined]
        str(get_locale()),
        request.script_root,
        tuple(values.items()),
        tuple(names),
        all_records,
    )
    html = _FORMS.get(key)
    if html is None:
        html = Markup(
            render_template(
                "admin/_records_form.html",
                values=values,
                outcomes=OUTCOME_LABELS,
                carrier_names=names,
                zone=ZONE,
                all_records=all_records,
            )
        )
        if len(_FORMS) >= MAX_FORMS:
            _FORMS.clear()
        _FORMS[key] = html
    return html


def _filters() -> tuple[records.Filters | None, list[str]]:
    raw = {k: request.args.get(k, "")[:100] for k in records.FILTER_KEYS}
    try:
        return records.parse_filters(db(), raw), []
    except records.FilterError as exc:
        return None, [_(p) for p in exc.problems]


def _form_values() -> dict[str, str]:
    return {k: request.args.get(k, "")[:100] for k in records.FILTER_KEYS}


@bp.route("/records")
def records_index():
    f, problems = _filters()
    after_arg, before_arg = request.args.get("after", ""), request.args.get("before", "")
    after = records.decode_cursor(after_arg) if after_arg else None
    before = records.decode_cursor(before_arg) if before_arg else None
    if (after_arg and after is None) or (before_arg and before is None) or (after_arg and before_arg):
        problems.append(_("That page link is not valid any more: start the search again."))
    values = _form_values()
    context: dict[str, Any] = {"problems": problems, "page": None, "zone": ZONE, "utc": utc}
    if problems or f is None:
        context["search_form"] = _search_form(values, carrier_names(), all_records=False)
        return render_template("admin/records.html", **context), 400
    page = records.search(reports_session(), f, after=after, before=before)
    args: dict[str, Any] = dict(f.query_args())
    context.update(
        page=page,
        search_form=_search_form(values, carrier_names(), all_records=f.any()),
        first_url=url_for("admin.records_index", **args),
        older_url=url_for("admin.records_index", after=page.older, **args) if page.older else None,
        newer_url=url_for("admin.records_index", before=page.newer, **args) if page.newer else None,
        export_url=url_for("admin.records_export", **args),
        first_page=after is None and before is None,
        # the rows, made in Python (ROW_HTML); links by prefix, each distinct amount formatted once
        rows_html=rows_html(
            page.rows,
            record_url=url_for("admin.record", cdr_id=0)[:-1],
            account_url=url_for("admin.account", account_id=0)[:-1],
        ),
    )
    return render_template("admin/records.html", **context)


@bp.route("/records/export.csv")
def records_export():
    f, problems = _filters()
    if f is None:
        form = _search_form(_form_values(), carrier_names(), all_records=False)
        context = {"search_form": form, "problems": problems, "page": None, "zone": ZONE, "utc": utc}
        return render_template("admin/records.html", **context), 400
    header = (
        _("Record"),
        _("Start (%(zone)s)", zone=ZONE),
        _("Account"),
        _("Calling Number"),
        _("Number Called"),
        _("Dialled"),
        _("Virtual Number"),
        _("Outcome"),
        _("Duration"),
        _("Seconds"),
        _("Carrier"),
        _("Type"),
        _("Country"),
        _("Cost (USD)"),
        _("Buy cost (USD)"),
        _("Margin (USD)"),
    )
    session = reports_session()
    lines = records.export_rows(session, f)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    return Response(
        stream_with_context(_csv_body(header, lines, session)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="call-records-{stamp}.csv"'},
    )


def _csv_value(value: object) -> object:
    """Numbers as they are (a negative margin stays a number), text guarded against formulas."""
    if value is None:
        return ""
    if isinstance(value, str) and value and value[0] in _FORMULA:
        return csv_cell(value)
    return value


_FORMULA = frozenset("=+-@\t\r")


def _csv_body(header: Iterable[str], rows: Iterable[Iterable[object]], session: Session) -> Iterator[str]:
    """The CSV in chunks of CSV_CHUNK rows, read from the server-side cursor as it is sent; the
    request's session is closed when the stream ends (the request's teardown ran before it)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    try:
        writer.writerow(list(header))
        for n, row in enumerate(rows, 1):
            writer.writerow([_csv_value(v) for v in row])
            if n % CSV_CHUNK == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()
    finally:
        session.close()


@bp.route("/records/<int:cdr_id>")
def record(cdr_id: int):
    if cdr_id > 2**63 - 1:
        abort(404)
    found = records.detail(reports_session(), cdr_id)
    if found is None:
        abort(404)
    return render_template("admin/record.html", d=found, outcomes=OUTCOME_LABELS, zone=ZONE, utc=utc)
