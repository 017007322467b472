"""The help page's "Recharge Call Credit": redeem a prepaid voucher; see the credit it added.
Payments made on the external payment portal arrive through the top-up API (webpanel.api)."""

from __future__ import annotations

from decimal import Decimal

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for

from db import billing
from db.errors import ServiceError
from webpanel import access
from webpanel.database import db, writing
from webpanel.filters import usd
from webpanel.i18n import _, service_message
from webpanel.recharge import services
from webpanel.recharge.forms import VoucherForm

bp = Blueprint("recharge", __name__, url_prefix="/recharge", template_folder="templates")
access.restrict(bp, *access.MEMBERS)


@bp.get("/")
def index():
    return _render(VoucherForm(formdata=None))


@bp.post("/")
def redeem():
    form = VoucherForm()
    if not form.validate_on_submit():
        return _render(form, 400)
    settings = current_app.extensions["voip_settings"]
    try:
        # a refusal is counted towards the attempt limit
        with writing(keep=(services.VoucherRefused,)):
            lot = services.redeem_voucher(
                db(), settings.pin_hmac_key, g.user, form.code.data, remote_addr=request.remote_addr or ""
            )
    except services.VoucherRefused as exc:
        form.code.errors = [service_message(exc)]
        return _render(form, 400)
    except services.TooManyAttempts as exc:
        form.code.errors = [service_message(exc)]
        return _render(form, 429)
    except ServiceError as exc:
        form.code.errors = [service_message(exc)]
        return _render(form, 400)
    flash(
        _(
            "Your voucher added %(amount)s to your call credit.",
            amount=usd(lot.original.quantize(Decimal("0.01"))),
        ),
        "success",
    )
    return redirect(url_for(".index"))


def _render(form: VoucherForm, status: int = 200):
    balance = billing.available_balance(db(), g.user.account_id, None)
    return render_template(
        "recharge/index.html",
        form=form,
        credit=balance.credit,
        recharges=services.recent_recharges(db(), g.user.account_id),
    ), status
