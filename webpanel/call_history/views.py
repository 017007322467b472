"""The help page's "Call History": a date-range report of the member's calls, a chart of call
minutes per day, CSV export. The Buddy List's call-history icon links here with ?number=."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, g, render_template, request, url_for
from markupsafe import Markup

from webpanel import access, filters
from webpanel.call_history import calls, chart, kept, queries, render
from webpanel.call_history.forms import CallHistoryForm
from webpanel.filters import DATA_TIME, localtime, mmss
from webpanel.i18n import _
from webpanel.i18n import lazy_gettext as _l
from webpanel.reports import csv_download, decode_cursor, encode_cursor, member_zone_name
from webpanel.reports_db import reports_session

bp = Blueprint("call_history", __name__, url_prefix="/call-history", template_folder="templates")
access.restrict(bp, *access.MEMBERS)

BAD_LINK = _l("That page link is not valid. Start again from the first page of the report.")


@bp.get("/")
def index():
    form = CallHistoryForm(request.args)
    valid = form.validate()
    after, before, last, problems = _paging_args()
    if problems or not valid:
        return render_template(
            "call_history/index.html", form=form, result=None, problems=problems, chart=None, links={}
        ), 400

    rng = form.date_range(member_zone_name())
    scope, filtered_to, version = _scope(form.number.data or "")
    report_html = _report_html(scope, rng, filtered_to, after, before, last, version)
    return render_template(
        "call_history/index.html",
        form=form,
        problems=[],
        report_html=report_html,
        range_form=_range_form(form, rng, filtered_to),
    )


@bp.get("/export.csv")
def export():
    form = CallHistoryForm(request.args)
    if not form.validate():
        return render_template(
            "call_history/index.html", form=form, result=None, problems=[], chart=None, links={}
        ), 400
    zone_name = member_zone_name()
    rng = form.date_range(zone_name)
    scope, _filtered, _version = _scope(form.number.data or "")
    rows = queries.export_rows(reports_session(), scope, rng)
    header = (
        _("Date (%(zone)s)", zone=zone_name),
        _("Calling Number"),
        _("Number Called"),
        _("Country"),
        _("Disposition"),
        _("Type"),
        _("Duration"),
        _("Seconds"),
        _("Cost (USD)"),
    )
    lines = (
        (
            localtime(r.start, zone_name, fmt=DATA_TIME),
            r.calling,
            r.called,
            r.country,
            r.disposition,
            r.type,
            mmss(r.billsec),
            r.billsec,
            "" if r.cost is None else r.cost,
        )
        for r in rows
    )
    filename = f"call-history-{rng.start.isoformat()}-to-{rng.end.isoformat()}.csv"
    return csv_download(header, lines, filename, reports_session())


def _report_html(
    scope: queries.Scope, rng, filtered_to: str, after, before, last: bool, version: tuple | None
) -> Markup:
    """The chart and report sections for this member's scope, range, page and language, kept
    while no call or charge is added (kept.py). The key holds the member's identity and
    numbers, so another member never gets these."""
    key = (
        "call_history",
        g.user.id,
        scope,
        rng.tz_name,
        rng.start,
        rng.end,
        filtered_to,
        after,
        before,
        last,
        filters.locale_name(),
        request.script_root,
    )

    def rendered() -> str:
        result = queries.report(reports_session(), scope, rng, after=after, before=before, last=last)
        return render_template(
            "call_history/_report.html",
            result=result,
            chart=chart.build(rng.days, result.days),
            links=_links(result, rng, filtered_to),
            rng=rng,
            filtered_to=filtered_to,
            types=calls.LEGEND,
            render=render,
            export_url=url_for(".export", **_keep(rng, filtered_to)),
        )

    return kept.fragment(reports_session(), key, rendered, version)


_RANGE_FORMS: dict[tuple, Markup] = {}
_RANGE_FORMS_SIZE = 512


def _range_form(form: CallHistoryForm, rng, filtered_to: str) -> Markup:
    """The date-range form of a valid request, as _range_form.html renders it: kept per
    language and values (a member pages through one report: the same form each time; its
    fields' macros were a tenth of the page's CPU). A refused form is rendered with its errors
    by the template itself."""
    key = (
        filters.locale_name(),
        request.script_root,
        form.start._value(),
        form.end._value(),
        form.number._value(),
        filtered_to,
        tuple(sorted(rng.args().items())),
    )
    html = _RANGE_FORMS.get(key)
    if html is None:
        template = current_app.jinja_env.get_template("call_history/_range_form.html")
        html = Markup(template.render(form=form, rng=rng, filtered_to=filtered_to))
        if len(_RANGE_FORMS) >= _RANGE_FORMS_SIZE:
            _RANGE_FORMS.clear()
        _RANGE_FORMS[key] = html
    return html


def _paging_args():
    """?after=<cursor> (older page), ?before=<cursor> (newer page) or ?page=last; at most one."""
    args = request.args
    after = decode_cursor(args["after"]) if args.get("after") else None
    before = decode_cursor(args["before"]) if args.get("before") else None
    broken = (
        (args.get("after") and after is None)
        or (args.get("before") and before is None)
        or args.get("page", "last") != "last"
        or (after is not None and before is not None)
    )
    return after, before, args.get("page") == "last", [BAD_LINK] if broken else []


def _scope(number: str) -> tuple[queries.Scope, str, tuple | None]:
    """The member's numbers, narrowed to one of them when ?number= names it, or to the calls
    with another party when it names someone else; and the data version (kept.py), read with
    them (None when the member has no number)."""
    rows = kept.numbers_with_version(reports_session(), g.user)
    scope = queries.Scope(tuple((r[0], r[1]) for r in rows))
    version = kept.version_of(rows)
    if not number:
        return scope, "", version
    own = queries.own_number(scope.vnums, number)
    if own is not None:
        return scope.only(own), own, version
    return queries.Scope(scope.numbers, queries.party_forms(number) or ()), number, version


def _keep(rng, number: str) -> dict[str, Any]:
    keep = rng.args()
    if number:
        keep["number"] = number
    return keep


def _links(result: queries.Report, rng, number: str) -> dict[str, str]:
    keep = _keep(rng, number)
    links = {}
    if result.has_newer:
        links["first"] = url_for(".index", **keep)
        links["previous"] = url_for(
            ".index", **keep, before=encode_cursor(result.rows[0].start, result.rows[0].id)
        )
    if result.has_older:
        links["next"] = url_for(
            ".index", **keep, after=encode_cursor(result.rows[-1].start, result.rows[-1].id)
        )
        links["last"] = url_for(".index", **keep, page="last")
    return links
