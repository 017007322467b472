"""Operator admin: Reports (issue 15). Minutes, revenue, cost and margin by day, by destination
country and by account, ASR and ACD, top destinations, for a range of UTC days (at most 366),
every account or one, every carrier or one; charts as inline SVG (reports_chart.py), each
table downloadable as CSV.

The figures come from cdr_rollup_daily only (db/reports.py; kept by migration 0023's triggers as
CDRs are rated), never from cdr. All accounts over 90 days is still millions of rollup rows at
10,000 accounts (seconds to sum), so a report is kept per range and filters (ReportCache): for
REPORT_TTL seconds as it is, then computed again in the background while the kept one is still
served, and its rendering is kept per language; the page says when its figures are from. A CSV
is computed when asked."""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask import abort, current_app, render_template, request
from markupsafe import Markup
from sqlalchemy import select
from wtforms import SelectField, StringField
from wtforms.validators import ValidationError

from db import reports
from db.models import Account, Carrier
from webpanel.admin import reports_chart
from webpanel.admin.blueprint import bp
from webpanel.choices import country_name
from webpanel.database import db
from webpanel.filters import UTC, localdate, locale_name, number, short_day, usd
from webpanel.i18n import _
from webpanel.i18n import lazy_gettext as _l
from webpanel.reports import DateRangeForm, csv_download, form_errors
from webpanel.reports_db import reports_factory, reports_session
from webpanel.validation import strip

REPORT_TTL = 60.0  # seconds a report is served as it is
REPORT_STALE = 600.0  # seconds an older one is served while it is computed again
_MAX_KEPT = 64

log = logging.getLogger("webpanel.admin.reports")
_ACCOUNT = re.compile(r"[0-9]{1,9}")


class ReportForm(DateRangeForm):
    """The range (UTC days), and optionally one account and one carrier."""

    account = StringField(
        _l("Account"), filters=[strip], render_kw={"inputmode": "numeric", "placeholder": _l("all accounts")}
    )
    carrier = SelectField(_l("Carrier"), choices=[], validate_choice=False)

    def validate_account(self, field):
        if field.data and not _ACCOUNT.fullmatch(field.data):
            raise ValidationError(_l("Enter an account number, or leave Account empty for all accounts."))

    def validate_carrier(self, field):
        if field.data and field.data not in {value for value, _label in field.choices}:
            raise ValidationError(_l("Choose a carrier from the list."))

    def account_id(self) -> int | None:
        return int(self.account.data) if self.account.data else None

    def carrier_id(self) -> int | None:
        return int(self.carrier.data) if self.carrier.data else None


def _form() -> ReportForm:
    form = ReportForm(request.args)
    carriers = db().execute(select(Carrier.id, Carrier.name).order_by(Carrier.name)).all()
    form.carrier.choices = [("", _("All carriers")), ("0", _("No carrier (default trunk, on-net)"))] + [
        (str(c.id), c.name) for c in carriers
    ]
    return form


# --- the kept reports --------------------------------------------------------------------------


@dataclass(frozen=True)
class Kept:
    at: float  # time.monotonic() when computed
    computed: dt.datetime
    report: reports.Report


class ReportCache:
    """Reports by key (range and filters), and their rendering by key and language.

    A report younger than `ttl` seconds is served as it is. An older one, up to `stale`
    seconds, is served while one background thread computes it again (the page says when its
    figures are from); older still, or never computed, it is computed in the request, once
    when many ask for it at the same moment (the others wait for that one)."""

    def __init__(self, ttl: float = REPORT_TTL, stale: float = REPORT_STALE, size: int = _MAX_KEPT) -> None:
        self.ttl, self.stale, self.size = ttl, stale, size
        self._kept: dict[tuple[Any, ...], Kept] = {}
        self._html: dict[tuple[Any, ...], Markup] = {}
        self._locks: dict[tuple[Any, ...], threading.Lock] = {}
        self._refreshing: set[tuple[Any, ...]] = set()
        self._guard = threading.Lock()

    def clear(self) -> None:
        with self._guard:
            self._kept.clear()
            self._html.clear()

    def get(self, key: tuple[Any, ...], compute: Callable[[], reports.Report]) -> Kept:
        kept = self._kept.get(key)
        if kept is not None:
            age = time.monotonic() - kept.at
            if age < self.ttl:
                return kept
            if age < self.stale:
                self._refresh(key, compute)
                return kept
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            kept = self._kept.get(key)
            if kept is not None and time.monotonic() - kept.at < self.ttl:
                return kept
            return self._store(key, compute())

    def rendered(
        self, key: tuple[Any, ...], kept: Kept, language: str, render: Callable[[], Markup]
    ) -> Markup:
        html_key = (key, language, kept.at)
        html = self._html.get(html_key)
        if html is None:
            html = render()
            with self._guard:
                if len(self._html) >= self.size:
                    self._html.pop(next(iter(self._html)), None)
                self._html[html_key] = html
        return html

    def _store(self, key: tuple[Any, ...], report: reports.Report) -> Kept:
        kept = Kept(time.monotonic(), dt.datetime.now(UTC), report)
        with self._guard:
            if key not in self._kept and len(self._kept) >= self.size:
                oldest = min(self._kept, key=lambda k: self._kept[k].at)
                self._kept.pop(oldest, None)
                self._locks.pop(oldest, None)
            self._kept[key] = kept
        return kept

    def _refresh(self, key: tuple[Any, ...], compute: Callable[[], reports.Report]) -> None:
        with self._guard:
            if key in self._refreshing:
                return
            self._refreshing.add(key)

        def run() -> None:
            try:
                self._store(key, compute())
            except Exception:
                log.exception("refreshing a kept report failed")
            finally:
                with self._guard:
                    self._refreshing.discard(key)

        threading.Thread(target=run, name="report-refresh", daemon=True).start()

    def refreshing(self) -> bool:
        return bool(self._refreshing)


CACHE = ReportCache()


# --- the page ----------------------------------------------------------------------------------


def _country(code: str) -> str:
    return country_name(code) or code if code else _("No country (not priced)")


def _account_names(ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = reports_session().execute(
        select(Account.id, Account.first_name, Account.last_name, Account.company).where(Account.id.in_(ids))
    )
    return {r.id: (r.company or f"{r.first_name} {r.last_name}").strip() for r in rows}


def _money_tick(value: float) -> str:
    return usd(Decimal(str(round(value, 2))))


def _minutes_tick(value: float) -> str:
    return number(round(value)) if value >= 10 or value == int(value) else number(round(value, 1))


def _charts(rep: reports.Report) -> dict[str, Any]:
    labels = [short_day(r.key) for r in rep.by_day]
    minutes = [float(r.figures.minutes) for r in rep.by_day]
    revenue = [float(r.figures.revenue) for r in rep.by_day]
    minutes_titles = [
        _(
            "%(day)s: %(minutes)s minutes, %(calls)s calls",
            day=localdate(r.key, "UTC"),
            minutes=number(r.figures.minutes),
            calls=number(r.figures.calls),
        )
        for r in rep.by_day
    ]
    revenue_titles = [
        _(
            "%(day)s: revenue %(revenue)s, margin %(margin)s",
            day=localdate(r.key, "UTC"),
            revenue=usd(r.figures.revenue),
            margin=usd(r.figures.margin),
        )
        for r in rep.by_day
    ]
    top = rep.top_destinations
    names = [_country(r.key) for r in top]
    shown = [number(r.figures.minutes) for r in top]
    return {
        "minutes": reports_chart.columns(labels, minutes, minutes_titles, _minutes_tick),
        "revenue": reports_chart.columns(labels, revenue, revenue_titles, _money_tick),
        "top": reports_chart.rows(
            names,
            [float(r.figures.minutes) for r in top],
            shown,
            [
                _("%(country)s: %(minutes)s minutes", country=n, minutes=s)
                for n, s in zip(names, shown, strict=True)
            ],
        ),
    }


def _render_body(rep: reports.Report, args: dict[str, str]) -> Markup:
    return Markup(
        render_template(
            "admin/_reports_body.html",
            rep=rep,
            charts=_charts(rep),
            names=_account_names([r.key for r in rep.by_account]),
            country=_country,
            args=args,
        )
    )


def _args(form: ReportForm) -> dict[str, str]:
    """The report's query arguments, for its CSV links (call after date_range: both dates set)."""
    start, end = form.start.data, form.end.data
    assert start is not None and end is not None
    rng_args = {"start": start.isoformat(), "end": end.isoformat()}
    if form.account.data:
        rng_args["account"] = form.account.data
    if form.carrier.data:
        rng_args["carrier"] = form.carrier.data
    return rng_args


@bp.get("/reports/")
def reports_index():
    form = _form()
    if not form.validate():
        return render_template("admin/reports.html", form=form, problems=form_errors(form), kept=None), 400
    rng = form.date_range("UTC")  # fills a missing Start or End
    account_id, carrier_id = form.account_id(), form.carrier_id()
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def compute() -> reports.Report:  # in the request, or in the refreshing thread
        with reports_factory(app)() as s:  # the replica while it is up to date
            return reports.report(s, rng.start, rng.end, account_id=account_id, carrier_id=carrier_id)

    key = (rng.start, rng.end, account_id, carrier_id)
    kept = CACHE.get(key, compute)
    args = _args(form)
    body = CACHE.rendered(key, kept, locale_name(), lambda: _render_body(kept.report, args))
    return render_template("admin/reports.html", form=form, problems=[], kept=kept, body=body)


TABLES = ("day", "country", "account")


@bp.get("/reports/<table>.csv")
def reports_export(table: str):
    if table not in TABLES:
        abort(404)
    form = _form()
    if not form.validate():
        return render_template("admin/reports.html", form=form, problems=form_errors(form), kept=None), 400
    rng = form.date_range("UTC")
    s = reports_session()
    rep = reports.report(
        s, rng.start, rng.end, account_id=form.account_id(), carrier_id=form.carrier_id(), account_limit=None
    )
    rows: list[reports.Row] = {"day": rep.by_day, "country": rep.by_country, "account": rep.by_account}[table]
    first = {"day": _("Day (UTC)"), "country": _("Country"), "account": _("Account")}[table]
    header = (
        first,
        _("Calls"),
        _("Answered"),
        _("ASR %"),
        _("ACD (s)"),
        _("Minutes"),
        _("Revenue (USD)"),
        _("Cost (USD)"),
        _("Margin (USD)"),
    )

    def key(r: reports.Row) -> str:
        if table == "day":
            return r.key.isoformat()
        return str(r.key)

    lines = (
        (
            key(r),
            r.figures.calls,
            r.figures.answered,
            "" if r.figures.asr is None or table == "country" else r.figures.asr,
            "" if r.figures.acd is None else r.figures.acd,
            r.figures.minutes,
            r.figures.revenue,
            r.figures.cost,
            r.figures.margin,
        )
        for r in rows
    )
    name = f"report-{table}-{rng.start.isoformat()}-{rng.end.isoformat()}.csv"
    return csv_download(header, lines, name, s)
