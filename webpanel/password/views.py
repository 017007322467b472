"""The help page's "Change Password": old, new, retype."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for

from webpanel import access
from webpanel.auth import sessions as panel_sessions
from webpanel.database import db, writing
from webpanel.i18n import _
from webpanel.password import services
from webpanel.password.forms import ChangePasswordForm
from webpanel.validation import FieldErrors, attach_errors

bp = Blueprint("password", __name__, url_prefix="/password", template_folder="templates")
access.restrict(bp, *access.EVERYONE)


@bp.route("/", methods=["GET", "POST"])
def index():
    form = ChangePasswordForm()
    if not form.is_submitted():
        return render_template("password/index.html", form=form, min_length=services.MIN_LENGTH)
    if form.validate():
        try:
            with writing(keep=(FieldErrors,)):  # the failed attempt stays in the audit log
                version = services.change_password(
                    db(),
                    g.user,
                    form.old_password.data,
                    form.new_password.data,
                    form.retype.data,
                    remote_addr=request.remote_addr or "",
                )
                # every other session of the user ends server-side; this one goes on
                panel_sessions.revoke_all(db(), g.user.id, except_token=access.current_session_token())
        except FieldErrors as exc:
            attach_errors(form, exc.errors)
        else:
            # other sessions carry the old version and end on their next request; this one goes on
            session[access.SESSION_VERSION] = version
            flash(_("Your password was changed. Your other sessions have been logged out."), "success")
            return redirect(url_for(".index"))
    return render_template("password/index.html", form=form, min_length=services.MIN_LENGTH), 400
