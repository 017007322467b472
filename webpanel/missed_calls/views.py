"""The help page's "Missed Calls": a date-range report of the calls the member missed."""

from __future__ import annotations

from flask import Blueprint, g, render_template, request, url_for

from webpanel import access, filters
from webpanel.call_history import kept, queries
from webpanel.filters import DATA_TIME, localtime
from webpanel.i18n import _
from webpanel.i18n import lazy_gettext as _l
from webpanel.missed_calls import services
from webpanel.reports import DateRangeForm, csv_download, member_zone_name
from webpanel.reports_db import reports_session

bp = Blueprint("missed_calls", __name__, url_prefix="/missed-calls", template_folder="templates")
access.restrict(bp, *access.MEMBERS)

BAD_LINK = _l("That page link is not valid. Start again from the first page of the report.")
MAX_PAGE_NUMBER = 1_000_000


@bp.get("/")
def index():
    form = DateRangeForm(request.args)
    valid = form.validate()
    page, problems = _page_arg(request.args.get("page"))
    if problems or not valid:
        return render_template(
            "missed_calls/index.html", form=form, result=None, problems=problems, links={}
        ), 400
    rng = form.date_range(member_zone_name())
    scope, version = _scope()
    key = (
        "missed_calls",
        g.user.id,
        scope,
        rng.tz_name,
        rng.start,
        rng.end,
        page,
        filters.locale_name(),
        request.script_root,
    )

    def rendered() -> str:
        result = services.report(reports_session(), scope, rng, page)
        return render_template(
            "missed_calls/_report.html",
            result=result,
            links=_links(result, rng),
            rng=rng,
            export_url=url_for(".export", **rng.args()),
        )

    # the report, kept while no call or charge is added (call_history/kept.py)
    report_html = kept.fragment(reports_session(), key, rendered, version)
    return render_template("missed_calls/index.html", form=form, problems=[], report_html=report_html)


@bp.get("/export.csv")
def export():
    form = DateRangeForm(request.args)
    if not form.validate():
        return render_template("missed_calls/index.html", form=form, result=None, problems=[], links={}), 400
    zone_name = member_zone_name()
    rng = form.date_range(zone_name)
    calls = services.export_rows(reports_session(), _scope()[0], rng)
    header = (
        _("Date (%(zone)s)", zone=zone_name),
        _("Number Called"),
        _("Calling Number"),
        _("Caller ID"),
        _("Disposition"),
    )
    lines = (
        (
            localtime(c.start, zone_name, fmt=DATA_TIME),
            c.called,
            c.calling,
            c.caller_name,
            c.disposition,
        )
        for c in calls
    )
    filename = f"missed-calls-{rng.start.isoformat()}-to-{rng.end.isoformat()}.csv"
    return csv_download(header, lines, filename, reports_session())


def _scope() -> tuple[queries.Scope, tuple | None]:
    """The user's numbers, each from the time it joined the account (as Call History's), and
    the data version read with them (kept.py; None when the user has no number)."""
    rows = kept.numbers_with_version(reports_session(), g.user)
    version = kept.version_of(rows)
    return queries.Scope(tuple((r[0], r[1]) for r in rows)), version


def _page_arg(raw: str | None) -> tuple[int | None, list[str]]:
    """?page=N or ?page=last (None); anything else is a broken link."""
    if raw is None or raw == "":
        return 1, []
    if raw == "last":
        return None, []
    if raw.isdigit() and 1 <= int(raw) <= MAX_PAGE_NUMBER:
        return int(raw), []
    return 1, [BAD_LINK]


def _links(result: services.Report, rng) -> dict[str, str]:
    keep = rng.args()
    links = {}
    if result.page > 1:
        links["first"] = url_for(".index", **keep)
        links["previous"] = url_for(".index", **keep, page=result.page - 1)
    if result.page < result.pages:
        links["next"] = url_for(".index", **keep, page=result.page + 1)
        links["last"] = url_for(".index", **keep, page="last")
    return links
