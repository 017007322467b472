"""The help page's "White Pages": a searchable directory of members who opted in."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from flask import Blueprint, current_app, render_template, request, url_for
from markupsafe import Markup

from webpanel import access, choices, filters
from webpanel.reports_db import reports_session
from webpanel.white_pages import queries
from webpanel.white_pages.forms import SORT_LABELS, SearchForm

bp = Blueprint("white_pages", __name__, url_prefix="/white-pages", template_folder="templates")
access.restrict(bp, *access.MEMBERS)

CRITERIA = ("last_name", "first_name", "phone", "city", "state", "country")


@bp.get("/")
def index():
    form = SearchForm(request.args)
    searched = bool(request.args)
    if searched and not form.validate():
        return render_template(
            "white_pages/index.html", form=form, result=None, links={}, sort_labels=SORT_LABELS
        ), 400
    criteria = queries.Criteria(
        **{name: form[name].data or "" for name in CRITERIA},
        online_only=bool(form.online.data),
        sort=form.sort.data or queries.DEFAULT_SORT,
    )
    result = queries.search(reports_session(), criteria, page=form.page.data or 1)
    return render_template(
        "white_pages/index.html",
        form=form,
        result=result,
        links=_page_links(result),
        sort_labels=SORT_LABELS,
        country_name=choices.country_name,
        search_form=_search_form(form),
    )


_SEARCH_FORMS: OrderedDict[tuple, Markup] = OrderedDict()
_SEARCH_FORMS_SIZE = 256
_lock = threading.Lock()


def _search_form(form: SearchForm) -> Markup:
    """The search form of a valid request as _search_form.html renders it, kept per language
    and search (it is the same for every member: no CSRF token, no member data; its fields'
    macros were a third of the page's CPU, issue 16). LRU-bounded, per process."""
    key = (filters.locale_name(), request.script_root, tuple(sorted(request.args.items(multi=True))))
    with _lock:
        html = _SEARCH_FORMS.get(key)
        if html is not None:
            _SEARCH_FORMS.move_to_end(key)
            return html
    template = current_app.jinja_env.get_template("white_pages/_search_form.html")
    html = Markup(template.render(form=form))
    with _lock:
        _SEARCH_FORMS[key] = html
        while len(_SEARCH_FORMS) > _SEARCH_FORMS_SIZE:
            _SEARCH_FORMS.popitem(last=False)
    return html


def _page_links(result: queries.Page) -> dict[str, str]:
    """first/previous/next/last, keeping the search (only the form's own fields)."""
    keep: dict[str, Any] = {k: v for k, v in request.args.items() if k in (*CRITERIA, "online", "sort") and v}

    def to(page: int) -> str:
        return url_for(".index", **keep, page=page)

    links = {}
    if result.page > 1:
        links["first"], links["previous"] = to(1), to(result.page - 1)
    if result.page < result.pages:
        links["next"], links["last"] = to(result.page + 1), to(result.pages)
    return links
