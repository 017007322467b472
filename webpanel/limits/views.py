"""Spending limits (issue 13): the account's daily spend cap and international daily cap with
what is left of each today, the country allow-list for international calls, and each number's
call credit limit (that number's spend per day). Everyone on the account sees them; the primary
account holder lowers the caps (never above the operator's ceilings) and edits the countries
(within the operator's allowance). The operator sets the ceilings in the admin's account page.
"""

from __future__ import annotations

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import StringField
from wtforms.validators import Length

from controller.rules import limits as rules
from db import limits
from db.errors import ServiceError
from db.models import VirtualNumber
from webpanel import access
from webpanel.database import db, writing
from webpanel.i18n import _, service_message
from webpanel.i18n import lazy_gettext as _l
from webpanel.validation import strip

bp = Blueprint("limits", __name__, url_prefix="/limits", template_folder="templates")
access.restrict(bp, *access.MEMBERS)


def _settings():
    return current_app.extensions["voip_settings"]


class LimitsForm(FlaskForm):
    daily_cap = StringField(_l("Daily spend cap"), [Length(max=20)], filters=[strip])
    intl_daily_cap = StringField(_l("International daily cap"), [Length(max=20)], filters=[strip])
    countries = StringField(
        _l("Countries allowed for international calls"), [Length(max=800)], filters=[strip]
    )


def _render(form: LimitsForm, status: int = 200, view: limits.AccountLimitsView | None = None):
    account_id = g.user.account_id
    if view is None:
        view = limits.account_view(db(), account_id, _settings())
    numbers = (
        db()
        .scalars(
            select(VirtualNumber).where(VirtualNumber.account_id == account_id).order_by(VirtualNumber.number)
        )
        .all()
    )
    return render_template(
        "limits/index.html",
        form=form,
        view=view,
        numbers=numbers,
        may_edit=g.user.role == access.PRIMARY,
    ), status


@bp.get("/")
def index():
    view = limits.account_view(db(), g.user.account_id, _settings())
    form = LimitsForm(
        formdata=None,
        daily_cap=f"{view.effective.daily_cap:.2f}",
        intl_daily_cap=f"{view.effective.intl_daily_cap:.2f}",
        countries=" ".join(view.countries or ()),
    )
    return _render(form, view=view)  # the same view: read once


@bp.post("/")
@access.roles_required(access.PRIMARY)
def update():
    form = LimitsForm()
    if form.validate_on_submit():
        countries, bad = rules.parse_countries(form.countries.data or "")
        try:
            if bad:
                raise ServiceError(_("Not a two-letter country code: %(codes)s.", codes=", ".join(bad)))
            daily = limits.parse_money(form.daily_cap.data or "", _("Daily spend cap"))
            intl = limits.parse_money(form.intl_daily_cap.data or "", _("International daily cap"))
            with writing():
                limits.set_member_limits(
                    db(),
                    g.user.account_id,
                    actor=g.user,
                    daily_cap=daily,
                    intl_daily_cap=intl,
                    countries=countries or None,
                    remote_addr=request.remote_addr or "",
                    settings=_settings(),
                )
        except ServiceError as exc:
            form.form_errors.append(service_message(exc))
        else:
            flash(_("Your spending limits were updated."), "success")
            return redirect(url_for(".index"))
    return _render(form, status=400)
