"""The help page's "Rate Lookup": enter a number as you would dial it; see its prefix, IDDD,
country, per-minute rate and the calling plans that cover it."""

from __future__ import annotations

from flask import Blueprint, g, render_template, request

from db.errors import ServiceError
from webpanel import access, choices
from webpanel.database import db
from webpanel.i18n import service_message
from webpanel.rate_lookup import services
from webpanel.rate_lookup.forms import RateLookupForm

bp = Blueprint("rate_lookup", __name__, url_prefix="/rate-lookup", template_folder="templates")
access.restrict(bp, *access.MEMBERS)


@bp.get("/")
def index():
    numbers = list(db().scalars(access.visible_numbers(g.user)))
    form = RateLookupForm(request.args)
    form.caller.choices = choices.options((vn.number, vn.number) for vn in numbers)
    if not form.caller.data or "caller" not in request.args:
        form.caller.data = (
            g.user.login
            if any(vn.number == g.user.login for vn in numbers)
            else (numbers[0].number if numbers else "")
        )
    result = None
    if "number" in request.args:
        if form.validate():
            caller = next(vn for vn in numbers if vn.number == form.caller.data)
            try:
                result = services.lookup(db(), form.number.data, caller)
            except ServiceError as exc:
                form.number.errors = [*form.number.errors, service_message(exc)]
        if result is None:
            return render_template(
                "rate_lookup/index.html", form=form, result=None, many=len(numbers) > 1
            ), 400
    return render_template("rate_lookup/index.html", form=form, result=result, many=len(numbers) > 1)
