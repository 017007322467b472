"""The help page's "Account Information": view and update the account's details.

Everyone on the account sees them; only the primary account holder changes them (they are the
account's, not one number's).
"""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import refresh

from db.errors import ServiceError
from webpanel import access
from webpanel.account import services
from webpanel.account.forms import AccountForm
from webpanel.database import db, writing
from webpanel.i18n import _, service_message
from webpanel.validation import FieldErrors, attach_errors

bp = Blueprint("account", __name__, url_prefix="/account", template_folder="templates")
access.restrict(bp, *access.MEMBERS)


@bp.get("/")
def index():
    form = AccountForm(obj=g.user.account)
    return _render(form)


@bp.post("/")
@access.roles_required(access.PRIMARY)
def update():
    account = g.user.account
    form = AccountForm()
    if not form.validate_on_submit():
        # the service's own checks too (postal code, phone numbers): every problem in one round trip
        try:
            services.validate({name: form[name].data for name in services.FIELDS})
        except FieldErrors as exc:
            attach_errors(form, exc.errors, unless_wrong=True)
        except ServiceError:
            pass
    else:
        values = {name: form[name].data for name in services.FIELDS}
        try:
            with writing():
                changed = services.update_account(
                    db(), account, g.user, values, remote_addr=request.remote_addr or ""
                )
        except FieldErrors as exc:
            attach_errors(form, exc.errors)
        except ServiceError as exc:
            form.form_errors.append(service_message(exc))
        else:
            if "language" in changed:
                refresh()  # the confirmation is in the language just chosen
            flash(
                _("Your account information was updated.")
                if changed
                else _("Nothing to change: your account information is as shown."),
                "success",
            )
            return redirect(url_for(".index"))
    return _render(form, status=400)


def _render(form: AccountForm, status: int = 200):
    return render_template(
        "account/index.html", form=form, account=g.user.account, may_edit=g.user.role == access.PRIMARY
    ), status
