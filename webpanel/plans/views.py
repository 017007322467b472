"""The help page's "Plan Information": calling plans with their usage, and pay-as-you-go credit."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from db import ledger
from db.errors import ServiceError
from db.models import PlanSubscription
from webpanel import access
from webpanel.database import db, writing
from webpanel.i18n import _, service_message
from webpanel.plans import services
from webpanel.plans.forms import EnabledPhoneForm

ADJUSTMENTS_SHOWN = 50  # the account's latest manual credits, debits and refunds (issue 15)

bp = Blueprint("plans", __name__, url_prefix="/plans", template_folder="templates")
access.restrict(bp, *access.MEMBERS)


@bp.get("/")
def index():
    return _render()


@bp.post("/<int:subscription_id>/enabled-phone")
@access.roles_required(access.PRIMARY)
def enabled_phone(subscription_id: int):
    subscription = access.owned_or_404(PlanSubscription, subscription_id)
    form = EnabledPhoneForm()
    error = None
    if form.validate_on_submit():
        try:
            with writing():
                vn = services.set_enabled_phone(
                    db(), subscription, g.user, form.enabled_phone.data, remote_addr=request.remote_addr or ""
                )
        except ServiceError as exc:
            error = service_message(exc)
        else:
            flash(
                _(
                    "Plan %(plan)s now applies to calls from %(number)s.",
                    plan=subscription.id,
                    number=vn.number,
                ),
                "success",
            )
            return redirect(url_for(".index"))
    else:
        error = " ".join(str(e) for errs in form.errors.values() for e in errs)
    return _render(failed=(subscription.id, error), status=400)


def _render(failed: tuple[int, str] | None = None, status: int = 200):
    rows = services.plans(db(), g.user)
    lots = services.credit_lots(db(), g.user.account_id)
    may_choose = g.user.role == access.PRIMARY
    # the numbers only fill the plans' enabled-phone choosers
    numbers = db().scalars(access.visible_numbers(g.user)).all() if rows and may_choose else []
    return render_template(
        "plans/index.html",
        rows=rows,
        lots=lots,
        credit=services.credit_remaining(lots),
        adjustments=ledger.adjustments(db(), g.user.account_id, ADJUSTMENTS_SHOWN),
        numbers=numbers,
        may_choose=may_choose,
        failed=dict([failed]) if failed else {},
    ), status
